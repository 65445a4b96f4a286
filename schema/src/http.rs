//! A deliberately small HTTP/1.1 server for the operational endpoints (`/metrics`, `/healthz`, the status page).
//! One request per connection, GET only, no TLS: it serves operators and Prometheus on a private address, and
//! keeps the binaries free of a web framework.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{info, warn};

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content-Type header.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl Response {
    /// 200 with a body.
    pub fn ok(content_type: &'static str, body: String) -> Self {
        Self { status: 200, content_type, body }
    }
    /// A plain-text response with any status.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self { status, content_type: "text/plain; charset=utf-8", body: body.into() }
    }
}

/// Prometheus text exposition format, version 0.0.4.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds `addr` and serves `handler(path)` until `stop` completes. Returns the bound address (useful with port 0)
/// once listening; the server runs on a spawned task.
pub async fn serve<H, S>(addr: &str, handler: H, stop: S) -> std::io::Result<SocketAddr>
where
    H: Fn(&str) -> Response + Send + Sync + 'static,
    S: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    info!(address = %local, "serving /metrics, /healthz and /");
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            let (mut socket, _) = tokio::select! {
                _ = &mut stop => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => { warn!(error = %e, "accept failed"); continue; }
                },
            };
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut len = 0;
                // Read until the end of the request head (we ignore any body).
                while len < buf.len() {
                    match socket.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => len += n,
                    }
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf[..len]);
                let mut parts = head.split_whitespace();
                let response = match (parts.next(), parts.next()) {
                    (Some("GET"), Some(target)) => handler(target.split('?').next().unwrap_or("/")),
                    _ => Response::text(405, "GET only\n"),
                };
                let reason = match response.status {
                    200 => "OK",
                    404 => "Not Found",
                    405 => "Method Not Allowed",
                    503 => "Service Unavailable",
                    _ => "",
                };
                let head = format!(
                    "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                    response.status,
                    response.content_type,
                    response.body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(response.body.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Ok(local)
}
