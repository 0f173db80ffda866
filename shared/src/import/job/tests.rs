//! The job store contract on the in-memory adapter (the DynamoDB adapter runs it in the integration tests), and
//! the rules' corners.

use super::contract;
use super::*;
use crate::import::ports::memory::MemoryJobStore;

#[tokio::test]
async fn the_memory_job_store_keeps_the_contract() {
    contract::check_all(&MemoryJobStore::default(), "bucket", "unit").await;
}

#[test]
fn a_claim_by_another_nonce_is_busy_while_the_lease_holds_whatever_the_request_id() {
    let job = contract::job("b", "imports/observations/k.csv", "v1", "01");
    let mut stored = job.clone();
    stored.lease = Lease {
        owner: "nonce-1".into(),
        until_ms: 100,
    };
    let retry = Lease {
        owner: "nonce-2".into(),
        until_ms: 200,
    };
    let claim = Claim::Event(Box::new(job));
    assert!(matches!(
        decide(Some(stored.clone()), &claim, &retry, 99),
        Decision::Busy(_)
    ));
    assert!(matches!(
        decide(Some(stored), &claim, &retry, 100),
        Decision::TakeOver { .. }
    ));
}

#[test]
fn tokens_must_match_whole() {
    let job = contract::job("b", "imports/observations/k.csv", "v1", "01");
    let mut stored = job.clone();
    stored.continuation = Some("abcd".into());
    let lease = Lease {
        owner: "n".into(),
        until_ms: 1,
    };
    for token in ["abc", "abcde", "abce", ""] {
        let claim = Claim::Continue {
            import_id: job.summary.import_id.clone(),
            token: token.into(),
        };
        assert!(
            matches!(decide(Some(stored.clone()), &claim, &lease, 0), Decision::Refused(_)),
            "{token}"
        );
    }
}
