//! Lambda entry point of the audit trail: DynamoDB Streams of the clinical tables in, one write-once object per
//! batch out. Wiring only, the behaviour lives in `shared::audit`.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use shared::audit::s3::S3AuditTrail;
use shared::audit::stream::{record_stream, Recorded};
use shared::audit::AuditError;
use shared::aws;
use shared::config::Env;
use shared::telemetry;
use tokio::sync::OnceCell;
use tracing::Instrument;

/// The same allocator as the other functions: one build profile for all.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread: a batch is one write.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init("audit-trail");
    let bucket = Env::process().required("AUDIT_BUCKET")?;
    // The SDK's set-up waits for the first batch: init stays short.
    let trail = OnceCell::new();
    let (trail, bucket) = (&trail, &bucket);
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        let invocation = telemetry::invocation(&event.context);
        async move {
            let trail = trail
                .get_or_init(|| async { S3AuditTrail::new(aws::s3(&aws::sdk_config().await), bucket) })
                .await;
            let recorded = record_stream(trail, &event.payload).await?;
            tracing::info!(
                received = recorded.received,
                recorded = recorded.recorded,
                "batch recorded"
            );
            Ok::<Recorded, AuditError>(recorded)
        }
        .instrument(invocation)
        .await
    }))
    .await
}
