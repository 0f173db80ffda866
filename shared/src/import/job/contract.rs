//! The job store contract: what every [`JobStore`] adapter must do, as one suite both the in-memory adapter (unit
//! tests) and the DynamoDB adapter (integration tests, against the local API) pass. Times are given, not waited for.

use super::{Claim, Hold, Job, Lease, Progress};
use crate::import::event::ObjectRef;
use crate::import::ports::{Claimed, Entered, JobStore, UploadStore};
use crate::import::report::FileStatus;
use crate::import::upload::{self, Arrival, ObjectFacts, Refusal, Upload, UploadState};
use time::OffsetDateTime;

/// A moment far from the epoch, so that leases can run out by passing a later `now`.
const T0: u64 = 1_800_000_000_000;
const LEASE_MS: u64 = 30_000;

fn lease(owner: &str, until_ms: u64) -> Lease {
    Lease {
        owner: owner.into(),
        until_ms,
    }
}

/// A job for version `version` of `key` (in `bucket`), ordered by `sequencer`.
pub fn job(bucket: &str, key: &str, version: &str, sequencer: &str) -> Job {
    let object = ObjectRef {
        bucket: bucket.into(),
        key: key.into(),
        version_id: Some(version.into()),
        etag: Some(format!("etag-{version}")),
        sequencer: Some(sequencer.into()),
        uploader: Some("AWS:UPLOADER".into()),
    };
    let id = crate::import::ids::job_id(&object).expect("a versioned object");
    Job::start(id, &object, OffsetDateTime::now_utc()).expect("random bytes")
}

async fn claim_event<J: JobStore>(store: &J, job: &Job, owner: &str, now_ms: u64) -> Claimed {
    let claim = Claim::Event(Box::new(job.clone()));
    store
        .claim(&claim, &lease(owner, now_ms + LEASE_MS), now_ms)
        .await
        .expect("claim")
}

fn ours(claimed: Claimed) -> Job {
    match claimed {
        Claimed::Ours(job) => *job,
        other => panic!("expected the lease, got {other:?}"),
    }
}

/// Runs every check; `unique` keeps its keys apart from other runs against the same table.
pub async fn check_all<J: JobStore + UploadStore>(store: &J, bucket: &str, unique: &str) {
    claim_renew_and_take_over(store, bucket, unique).await;
    continuations_need_the_jobs_token(store, bucket, unique).await;
    one_writer_per_key_and_older_imports_fenced(store, bucket, unique).await;
    uploads_are_announced_once_attached_or_refused_and_listed_newest_first(store, unique).await;
    renewals_show_progress_until_the_next_save(store, bucket, unique).await;
}

/// An upload of site `site` announced now, of a file of `size` bytes with SHA-256 `sha256`.
pub fn announced(unique: &str, site: &str, size: u64, sha256: &str) -> Upload {
    let id = upload::new_upload_id();
    let study = format!("STUDY-{unique}");
    Upload {
        key: upload::upload_key("observations", &study, site, &id),
        site_key: upload::site_key(&study, site),
        upload_id: id,
        record_type: Upload::RECORD_TYPE.into(),
        dataset: "observations".into(),
        study,
        site: site.into(),
        file_name: "visit.csv".into(),
        size_bytes: size,
        sha256: sha256.into(),
        requested_by: "coordinator".into(),
        requester_issuer: "https://idp.example".into(),
        requested_at: "2026-12-05T10:00:00.000Z".into(),
        url_expires_at: "2026-12-05T10:15:00.000Z".into(),
        upload_state: UploadState::AwaitingUpload,
        job_id: None,
        refusal: None,
        arrived_at: None,
    }
}

/// Announce: once per id, read back as written; no job id reads as an upload. Arrive: the announced file attaches
/// its job, another is refused and recorded, a stray version after an attachment changes nothing, the same id at
/// another key is not the upload. List: a site's uploads only, newest first, page by page.
pub async fn uploads_are_announced_once_attached_or_refused_and_listed_newest_first<J: JobStore + UploadStore>(
    store: &J,
    unique: &str,
) {
    const SHA: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let facts = |size, sha256: &str| ObjectFacts {
        size,
        sha256: sha256.into(),
    };
    let first = announced(unique, "S1", 10, SHA);
    assert!(store.announce(&first).await.unwrap());
    assert!(!store.announce(&first).await.unwrap(), "an id is announced once");
    assert_eq!(store.upload(&first.upload_id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.upload("0123456789abcdef0123456789abcdef").await.unwrap(), None);

    let at = "2026-12-05T10:01:00.000Z";
    let elsewhere = upload::upload_key("observations", &first.study, "S2", &first.upload_id);
    let arrival = store
        .arrive(&first.upload_id, &elsewhere, "job-x", &facts(10, SHA), at)
        .await
        .unwrap();
    assert_eq!(arrival, Arrival::NotAnnounced);
    let refused = store
        .arrive(&first.upload_id, &first.key, "job-1", &facts(11, SHA), at)
        .await
        .unwrap();
    assert_eq!(refused, Arrival::Refused(Refusal::SizeMismatch));
    let stored = store.upload(&first.upload_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.upload_state, stored.refusal, stored.job_id),
        (UploadState::Refused, Some(Refusal::SizeMismatch), None)
    );
    let attached = store
        .arrive(&first.upload_id, &first.key, "job-2", &facts(10, SHA), at)
        .await
        .unwrap();
    assert_eq!(
        attached,
        Arrival::Attached {
            requested_by: "coordinator".into()
        }
    );
    let stored = store.upload(&first.upload_id).await.unwrap().unwrap();
    assert_eq!(stored.upload_state, UploadState::Attached);
    assert_eq!((stored.job_id.as_deref(), stored.refusal), (Some("job-2"), None));
    assert_eq!(stored.arrived_at.as_deref(), Some(at));
    let stray = store
        .arrive(&first.upload_id, &first.key, "job-3", &facts(10, "other"), at)
        .await
        .unwrap();
    assert_eq!(stray, Arrival::Refused(Refusal::ChecksumMismatch));
    let stored = store.upload(&first.upload_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.upload_state, stored.job_id.as_deref()),
        (UploadState::Attached, Some("job-2"))
    );

    let second = announced(unique, "S1", 20, SHA);
    let third = announced(unique, "S1", 30, SHA);
    let other_site = announced(unique, "S2", 40, SHA);
    for upload in [&second, &third, &other_site] {
        assert!(store.announce(upload).await.unwrap());
    }
    let ids = |uploads: Vec<Upload>| uploads.into_iter().map(|u| u.upload_id).collect::<Vec<_>>();
    let (page, _) = store.uploads_of_site(&first.site_key, None, 2).await.unwrap();
    assert_eq!(ids(page), [third.upload_id.clone(), second.upload_id.clone()]);
    let (rest, more) = store
        .uploads_of_site(&first.site_key, Some(&second.upload_id), 2)
        .await
        .unwrap();
    assert_eq!(ids(rest), [first.upload_id]);
    assert!(!more);
    let (all, _) = store.uploads_of_site(&other_site.site_key, None, 10).await.unwrap();
    assert_eq!(ids(all), [other_site.upload_id]);
}

/// A renewal writes the progress with the lease; the job view shows it until the next save replaces the record.
pub async fn renewals_show_progress_until_the_next_save<J: JobStore + UploadStore>(
    store: &J,
    bucket: &str,
    unique: &str,
) {
    let key = format!("imports/observations/{unique}/progress.csv");
    let fresh = job(bucket, &key, "v1", "0100");
    let id = fresh.summary.import_id.clone();
    let mine = ours(claim_event(store, &fresh, "nonce-p", T0).await);
    assert_eq!(store.job_view(&id).await.unwrap().unwrap().live, None);
    let progress = Progress {
        rows_done: 1_234,
        bytes_done: 56_789,
    };
    let held = store
        .renew(&id, "nonce-p", T0 + 2 * LEASE_MS, T0 + 10, Some(progress))
        .await
        .unwrap();
    assert_eq!(held, Hold::Held);
    let view = store.job_view(&id).await.unwrap().unwrap();
    assert_eq!(view.live.map(|live| live.progress), Some(progress));
    assert_eq!(view.summary, mine.summary);
    // Refused renewals write nothing.
    let other = Progress {
        rows_done: 1,
        bytes_done: 1,
    };
    assert_eq!(
        store
            .renew(&id, "nonce-q", T0 + 2 * LEASE_MS, T0 + 11, Some(other))
            .await
            .unwrap(),
        Hold::Lost
    );
    assert_eq!(
        store.job_view(&id).await.unwrap().unwrap().live.map(|l| l.progress),
        Some(progress)
    );
    assert!(store.save(&mine).await.unwrap());
    assert_eq!(store.job_view(&id).await.unwrap().unwrap().live, None);
    assert_eq!(store.job_view("no-such-job").await.unwrap(), None);
}

/// Claim: created once; busy for another owner while the lease holds, even one with the same request id; ours
/// again for the same nonce (a lost answer); renewed only by its holder; taken over once run out, and the old
/// holder fenced off (its saves refused, its hold lost).
pub async fn claim_renew_and_take_over<J: JobStore>(store: &J, bucket: &str, unique: &str) {
    let key = format!("imports/observations/{unique}/claim.csv");
    let fresh = job(bucket, &key, "v1", "0100");
    let id = fresh.summary.import_id.clone();
    let first = ours(claim_event(store, &fresh, "nonce-a", T0).await);
    assert_eq!(first.lease.owner, "nonce-a");
    assert!(matches!(
        claim_event(store, &fresh, "nonce-b", T0 + 1).await,
        Claimed::Busy(_)
    ));
    assert_eq!(
        ours(claim_event(store, &fresh, "nonce-a", T0 + 2).await).lease.owner,
        "nonce-a"
    );

    assert_eq!(
        store
            .renew(&id, "nonce-a", T0 + 2 * LEASE_MS, T0 + 10, None)
            .await
            .unwrap(),
        Hold::Held
    );
    assert_eq!(
        store
            .renew(&id, "nonce-b", T0 + 2 * LEASE_MS, T0 + 10, None)
            .await
            .unwrap(),
        Hold::Lost
    );
    assert_eq!(
        store.hold(&id, "nonce-a", T0 + LEASE_MS + 10).await.unwrap(),
        Hold::Held,
        "renewed"
    );
    let after = T0 + 2 * LEASE_MS + 1;
    assert_eq!(store.hold(&id, "nonce-a", after).await.unwrap(), Hold::Lost, "run out");
    assert_eq!(
        store
            .renew(&id, "nonce-a", after + LEASE_MS, after, None)
            .await
            .unwrap(),
        Hold::Lost
    );

    let taken = ours(claim_event(store, &fresh, "nonce-b", after).await);
    // A save by the holder keeps the lease as renewed, not as it was when claimed.
    let renewed_to = after + 5 * LEASE_MS;
    assert_eq!(
        store.renew(&id, "nonce-b", renewed_to, after + 1, None).await.unwrap(),
        Hold::Held
    );
    assert!(store.save(&taken).await.unwrap());
    assert_eq!(
        store.hold(&id, "nonce-b", after + 2 * LEASE_MS).await.unwrap(),
        Hold::Held,
        "renewals kept"
    );
    assert_eq!(taken.lease.owner, "nonce-b");
    assert_eq!(store.hold(&id, "nonce-a", after).await.unwrap(), Hold::Lost);
    assert!(!store.save(&first).await.unwrap(), "the old holder's save is refused");
    assert_eq!(store.hold(&id, "nonce-b", after).await.unwrap(), Hold::Held);

    let mut done = taken;
    done.finish(FileStatus::Completed, None, OffsetDateTime::now_utc());
    assert!(store.save(&done).await.unwrap());
    assert!(matches!(
        claim_event(store, &fresh, "nonce-c", after + 10 * LEASE_MS).await,
        Claimed::Finished(_)
    ));
}

/// Continuations: refused for an unknown job, a token not the job's, and a job that has ended; the job's own
/// token takes the job on from its record.
pub async fn continuations_need_the_jobs_token<J: JobStore>(store: &J, bucket: &str, unique: &str) {
    let key = format!("imports/observations/{unique}/continue.csv");
    let fresh = job(bucket, &key, "v1", "0100");
    let id = fresh.summary.import_id.clone();
    let go_on = |token: &str| Claim::Continue {
        import_id: id.clone(),
        token: token.into(),
    };
    let unknown = Claim::Continue {
        import_id: format!("{id}-unknown"),
        token: "t".into(),
    };
    let refused = |claimed: Claimed| assert!(matches!(claimed, Claimed::Refused(_)), "{claimed:?}");
    refused(store.claim(&unknown, &lease("n1", T0 + LEASE_MS), T0).await.unwrap());

    let mut held = ours(claim_event(store, &fresh, "n1", T0).await);
    refused(
        store
            .claim(&go_on("no token yet"), &lease("n2", T0 + LEASE_MS), T0)
            .await
            .unwrap(),
    );
    let token = held.checkpoint().unwrap();
    assert!(store.save(&held).await.unwrap());
    refused(
        store
            .claim(&go_on("a forged token"), &lease("n2", T0 + LEASE_MS), T0 + 1)
            .await
            .unwrap(),
    );
    let next = ours(
        store
            .claim(&go_on(&token), &lease("n2", T0 + 1 + LEASE_MS), T0 + 1)
            .await
            .unwrap(),
    );
    assert_eq!(next.summary.key, key, "the object comes from the record");
    assert_eq!(next.uploader.as_deref(), Some("AWS:UPLOADER"));
    assert_eq!(next.ids, held.ids, "so does the id basis");

    let mut done = next;
    done.finish(FileStatus::Completed, None, OffsetDateTime::now_utc());
    assert!(store.save(&done).await.unwrap());
    refused(
        store
            .claim(&go_on(&token), &lease("n3", T0 + 100 * LEASE_MS), T0 + 99 * LEASE_MS)
            .await
            .unwrap(),
    );
}

/// Per key: the first version becomes the writer; a newer one fences it and waits while its lease holds; a save by
/// the fenced import keeps the fence; once it has ended the newer one writes, with the key's id basis; an older
/// version arriving late is superseded.
pub async fn one_writer_per_key_and_older_imports_fenced<J: JobStore>(store: &J, bucket: &str, unique: &str) {
    let key = format!("imports/questionnaires/{unique}/key.csv");
    let v1 = ours(claim_event(store, &job(bucket, &key, "v1", "0200"), "old", T0).await);
    let Entered::Writing(basis) = store.enter(&v1, T0).await.unwrap() else {
        panic!("the first version writes")
    };
    assert_eq!(basis, v1.ids, "the key takes the first job's basis");
    assert_eq!(
        store.enter(&v1, T0 + 1).await.unwrap(),
        Entered::Writing(basis),
        "entering again"
    );

    let v2 = ours(claim_event(store, &job(bucket, &key, "v2", "0300"), "new", T0 + 5).await);
    assert_eq!(store.enter(&v2, T0 + 5).await.unwrap(), Entered::Waiting);
    let v1_id = &v1.summary.import_id;
    assert_eq!(store.hold(v1_id, "old", T0 + 6).await.unwrap(), Hold::Fenced);
    assert_eq!(
        store
            .renew(v1_id, "old", T0 + LEASE_MS + 6, T0 + 6, None)
            .await
            .unwrap(),
        Hold::Fenced
    );
    assert!(
        store.save(&v1).await.unwrap(),
        "the fenced import may still record how it ended"
    );
    assert_eq!(
        store.hold(v1_id, "old", T0 + 7).await.unwrap(),
        Hold::Fenced,
        "and the fence stays"
    );
    assert_eq!(
        store.enter(&v2, T0 + 8).await.unwrap(),
        Entered::Waiting,
        "its lease still holds"
    );

    let late = ours(claim_event(store, &job(bucket, &key, "v0", "0100"), "late", T0 + 9).await);
    assert_eq!(store.enter(&late, T0 + 9).await.unwrap(), Entered::Superseded);

    let mut ended = v1.clone();
    ended.supersede(OffsetDateTime::now_utc());
    assert!(store.save(&ended).await.unwrap());
    let Entered::Writing(same) = store.enter(&v2, T0 + 10).await.unwrap() else {
        panic!("the newer version writes once the older has ended")
    };
    assert_eq!(same, basis, "every version of a key has the same id basis");

    // A writer that dies fenced is waited for only until its lease runs out.
    let v3 = ours(claim_event(store, &job(bucket, &key, "v3", "0400"), "newest", T0 + 11).await);
    assert_eq!(store.enter(&v3, T0 + 11).await.unwrap(), Entered::Waiting);
    assert_eq!(
        store.hold(&v2.summary.import_id, "new", T0 + 12).await.unwrap(),
        Hold::Fenced
    );
    let Entered::Writing(_) = store.enter(&v3, T0 + 5 + LEASE_MS + 1).await.unwrap() else {
        panic!("a dead writer's lease ran out")
    };
}
