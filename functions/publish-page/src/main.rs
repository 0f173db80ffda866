//! Lambda entry point of the coordinator page's custom resource: wiring only, the behaviour lives in `shared::page`.
//! The page (every file of `web/`) is part of this binary, so a new page is a new function version, which makes
//! CloudFormation send an Update and publish it.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use shared::aws;
use shared::page::respond::HttpsResponder;
use shared::page::s3::S3PageStore;
use shared::page::{resource, PageFile};
use shared::telemetry;
use tokio::sync::OnceCell;

/// mimalloc, as the other functions: one allocator behaviour across the project.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The page as it was in `web/` when this function was built (build.rs).
static FILES: &[PageFile<'static>] = include!(concat!(env!("OUT_DIR"), "/page_files.rs"));

/// One thread: a handful of small puts.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init("publish-page");
    // The SDK's set-up waits for the first event: init stays short.
    let store = OnceCell::new();
    let (store, responder) = (&store, &HttpsResponder::new());
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let answer_by = resource::answer_by(Some(event.context.deadline()));
        let store = store
            .get_or_init(|| async { S3PageStore::new(aws::s3(&aws::sdk_config().await)) })
            .await;
        let outcome = resource::handle(event.payload, FILES, store, responder, answer_by).await?;
        Ok::<_, Error>(serde_json::to_value(outcome)?)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::FILES;
    use std::path::Path;

    /// What build.rs embedded is exactly what web/ holds now, byte for byte.
    #[test]
    fn the_function_embeds_every_file_of_web() {
        let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
        let mut on_disk = Vec::new();
        let mut stack = vec![web.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let hidden = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'));
                if hidden {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let relative = path.strip_prefix(&web).unwrap().to_string_lossy().replace('\\', "/");
                    on_disk.push((relative, std::fs::read(&path).unwrap()));
                }
            }
        }
        on_disk.sort();
        let embedded: Vec<_> = FILES.iter().map(|f| (f.path.to_owned(), f.bytes.to_vec())).collect();
        assert_eq!(embedded, on_disk);
    }
}
