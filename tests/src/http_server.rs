//! The HTTP/1 server the fixtures share (the Runtime API, the fault proxy, the local gateway): on loopback, one task
//! per connection, stopped when dropped.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

pub struct Server {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serves `handle` on `127.0.0.1:port` (0: any free port). An `Err` drops the connection without an answer.
    pub async fn start<F, Fut>(port: u16, handle: F) -> Self
    where
        F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = std::io::Result<Response<Full<Bytes>>>> + Send + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind on loopback");
        let url = format!("http://{}", listener.local_addr().expect("bound address"));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                let handle = handle.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| handle(request, peer));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, task }
    }
}
