//! Continuations are taken on only for a job that vouches for them, and only one invocation holds a job at a time,
//! whatever request id it runs under.

use super::*;

/// A continuation naming `import_id` with `token`.
fn continuation(import_id: &str, token: &str) -> ImportEvent {
    serde_json::from_value(serde_json::json!({"continueImport": {"importId": import_id, "token": token}})).unwrap()
}

#[tokio::test(start_paused = true)]
async fn forged_continuations_are_refused_with_nothing_read_or_written() {
    // A real job stopped at its checkpoint, with its continuation token.
    let (service, first) = stopped_at_a_checkpoint().await;
    let import_id = first.files[0].import_id.clone();
    let [real] = &service.backends().continuations.take()[..] else {
        panic!("one continuation")
    };
    let token = real.continue_import.token.clone();
    let written = service.backends().rows.0.items("observations").len();
    let records = service.backends().jobs.history(&import_id).len();
    let opened = service.backends().objects.opened();

    for (event, why) in [
        (
            continuation("0123456789abcdef0123456789abcdef", &token),
            "no import job",
        ),
        (continuation(&import_id, "00112233445566778899aabbccddeeff"), "token"),
        (continuation(&import_id, ""), "token"),
    ] {
        let answer = service
            .handle(&event, "forged", within(Duration::from_secs(5)))
            .await
            .unwrap();
        assert!(answer.files.is_empty(), "{answer:?}");
        let [skipped] = &answer.skipped[..] else {
            panic!("{answer:?}")
        };
        assert!(
            skipped.reason.starts_with("refused") && skipped.reason.contains(why),
            "{skipped:?}"
        );
    }
    assert_eq!(service.backends().objects.opened(), opened, "nothing read");
    assert_eq!(
        service.backends().rows.0.items("observations").len(),
        written,
        "nothing written"
    );
    assert_eq!(
        service.backends().jobs.history(&import_id).len(),
        records,
        "no job record written"
    );
    assert!(service.backends().continuations.take().is_empty());

    // The real one goes on, from the record: the object and uploader are the job's.
    let answers = run_to_end(&service, continuation(&import_id, &token), Duration::from_secs(5)).await;
    let last = &answers.last().unwrap().files[0];
    assert_eq!(last.status, FileStatus::Completed);
    assert_eq!(last.rows.imported, 1_000);

    // Once the job has ended, even its own last token is refused.
    let again = service
        .handle(
            &continuation(&import_id, &token),
            "late",
            within(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert!(again.skipped[0].reason.starts_with("refused"), "{again:?}");
}

#[tokio::test(start_paused = true)]
async fn a_retry_under_the_same_request_id_does_not_share_the_lease() {
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, KEY, rows(1_000));
    let service = service(objects, Watched::default());
    let upload = upload_of_key();
    // Lambda retries an asynchronous event under the request id of the first attempt.
    let first = service.handle(&upload, "the-request", within(Duration::from_secs(600)));
    let retry = async {
        service.backends().rows.landed.notified().await;
        service
            .handle(&upload, "the-request", within(Duration::from_secs(600)))
            .await
            .unwrap()
    };
    let (first, retry) = tokio::join!(first, retry);
    assert!(retry.files.is_empty(), "{retry:?}");
    assert!(retry.skipped[0].reason.contains("another invocation"), "{retry:?}");
    assert_eq!(first.unwrap().files[0].status, FileStatus::Completed);
}
