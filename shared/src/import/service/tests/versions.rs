//! Versions of one key: a newer upload stops the import of an older one within one batch and writes only after it
//! has stopped; a corrected questionnaire file replaces the rows of the version before.

use super::*;
use std::collections::HashMap;
use std::sync::Mutex;

/// [`Slow`], logging each batch as it lands (the `value` of its first item) and telling it.
#[derive(Default)]
struct Logged {
    slow: Slow,
    landed: tokio::sync::Notify,
    log: Mutex<Vec<String>>,
}

impl BatchSink for Logged {
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<Item>, SinkError> {
        let value = items[0]["value"].as_s().cloned().unwrap_or_default();
        let left = self.slow.write_batch(table, items).await;
        self.log.lock().unwrap().push(value);
        self.landed.notify_waiters();
        left
    }
}

/// `n` rows of [`rows`] with every value `value`.
fn valued(n: usize, value: &str) -> String {
    rows(n).replace(",120,", &format!(",{value},"))
}

#[tokio::test(start_paused = true)]
async fn a_newer_version_stops_the_older_import_within_one_batch_and_writes_only_after_it() {
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, KEY, valued(1_000, "111"));
    let service = service(objects, Logged::default());
    let v1 = versioned(&[(KEY, "ObjectCreated:Put", "v1", "0100")]);
    let v2 = versioned(&[(KEY, "ObjectCreated:Put", "v2", "0200")]);

    let older = service.handle(&v1, "older", within(Duration::from_secs(600)));
    let newer = async {
        // Version 2 is uploaded (and its event arrives) while version 1 is being written.
        service.backends().rows.landed.notified().await;
        let landed_before = service.backends().rows.log.lock().unwrap().len();
        service.backends().objects.insert(BUCKET, KEY, valued(1_000, "222"));
        (
            landed_before,
            service.handle(&v2, "newer", within(Duration::from_secs(600))).await,
        )
    };
    let (older, (landed_before, newer)) = tokio::join!(older, newer);
    let (older, newer) = (older.unwrap(), newer.unwrap());

    let old = &older.files[0];
    assert_eq!(old.status, FileStatus::Superseded, "{old:?}");
    assert!(old.rows.imported > 0 && old.rows.imported < 1_000, "{:?}", old.rows);
    assert_eq!(
        old.rows.total,
        old.rows.imported + old.rows.not_reached,
        "{:?}",
        old.rows
    );
    let new = &newer.files[0];
    assert_eq!(new.status, FileStatus::Completed, "{new:?}");
    assert_eq!(new.rows.imported, 1_000);

    // Every batch of version 1 landed before the first one of version 2.
    let log = service.backends().rows.log.lock().unwrap().clone();
    let first_new = log.iter().position(|v| v == "222").expect("version 2 wrote");
    assert!(log[first_new..].iter().all(|v| v == "222"), "{log:?}");
    // Version 2 fenced version 1 as soon as it arrived (no time passes in between): after that, only the batches
    // already sent, one per write task, may land.
    let concurrency = ImportConfig::for_tests().concurrency;
    assert!(
        first_new - landed_before <= concurrency,
        "version 1 went on for {} batches after version 2 arrived",
        first_new - landed_before
    );
    // The table holds exactly version 2's rows.
    let items = service.backends().rows.slow.0.items("observations");
    let mut latest: HashMap<String, String> = HashMap::new();
    for item in items {
        latest.insert(
            item["subjectId"].as_s().unwrap().clone(),
            item["value"].as_s().unwrap().clone(),
        );
    }
    assert_eq!(latest.len(), 1_000);
    assert!(latest.values().all(|v| v == "222"));
    // The older job ended superseded and was told so by the newer one.
    let job = service.backends().jobs.job(&old.import_id).unwrap();
    assert_eq!(job.summary.status, FileStatus::Superseded);
    assert_eq!(job.fenced_by.as_deref(), Some(new.import_id.as_str()));
}

const INTAKE_KEY: &str = "imports/questionnaires/intake/paper batch 1.csv";

#[tokio::test]
async fn a_corrected_questionnaire_file_replaces_each_lines_questionnaire() {
    let objects = MemoryBucket::default();
    objects.insert(
        BUCKET,
        INTAKE_KEY,
        "patientName,age,hasAllergy\nJane Example,42,false\nJohn Sample,67,true\n",
    );
    let service = service(objects, MemoryTables::default());
    let v1 = versioned(&[(INTAKE_KEY, "ObjectCreated:Put", "v1", "0100")]);
    let done = run_to_end(&service, v1, Duration::from_secs(60)).await;
    assert_eq!(done[0].files[0].rows.imported, 2);
    let table = ImportConfig::for_tests().submissions_table;
    let ids = |items: &[Item]| -> Vec<String> { items.iter().map(|i| i["id"].as_s().unwrap().clone()).collect() };
    let first = ids(&service.backends().rows.items(&table));

    // The corrected upload: John's age fixed.
    service.backends().objects.insert(
        BUCKET,
        INTAKE_KEY,
        "patientName,age,hasAllergy\nJane Example,42,false\nJohn Sample,76,true\n",
    );
    let v2 = versioned(&[(INTAKE_KEY, "ObjectCreated:Put", "v2", "0200")]);
    let done = run_to_end(&service, v2, Duration::from_secs(60)).await;
    assert_eq!(done[0].files[0].status, FileStatus::Completed);
    let items = service.backends().rows.items(&table);
    let second = ids(&items[first.len()..]);
    assert_eq!(
        second, first,
        "the same id for the same line: a put replaces the earlier questionnaire"
    );
}
