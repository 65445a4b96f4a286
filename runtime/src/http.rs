//! A deliberately small HTTP/1.1 server for the operational endpoints (`/metrics`, `/healthz`, the status page).
//! One request per connection, GET only, no TLS: it serves operators and Prometheus on a private address, and
//! keeps the binaries free of a web framework.
//!
//! Hardened the way tokio's mini-redis does it, because a misbehaving client must not take the health check down:
//! at most [`MAX_CONNECTIONS`] at once (a semaphore taken before `accept`, so excess clients wait in the kernel's
//! backlog instead of costing memory), a deadline of [`READ_TIMEOUT`] on reading a request (an idle connection is
//! dropped and frees its slot), and an accept error (out of file descriptors) backs off from 10 ms to 1 s with one
//! log line per step instead of spinning.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{info, warn};

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a client may take to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

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
    serve_with(addr, handler, stop, READ_TIMEOUT).await
}

/// [`serve`] with another read deadline (the tests use a short one).
async fn serve_with<H, S>(addr: &str, handler: H, stop: S, read_timeout: Duration) -> std::io::Result<SocketAddr>
where
    H: Fn(&str) -> Response + Send + Sync + 'static,
    S: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    info!(address = %local, "serving /metrics, /healthz and /");
    let handler = Arc::new(handler);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        tokio::pin!(stop);
        let mut backoff = Duration::ZERO;
        loop {
            let accepted = tokio::select! {
                _ = &mut stop => return,
                accepted = async {
                    let permit = Arc::clone(&slots).acquire_owned().await.expect("the semaphore is never closed");
                    (permit, listener.accept().await)
                } => accepted,
            };
            let (permit, (mut socket, _)) = match accepted {
                (permit, Ok(a)) => {
                    backoff = Duration::ZERO;
                    (permit, a)
                }
                (_, Err(e)) => {
                    // Out of file descriptors, typically: wait before trying again, and say so once per step.
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(backoff) => continue,
                    }
                }
            };
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                let _permit = permit; // the slot frees when this connection is done
                let mut buf = vec![0u8; 4096];
                let mut len = 0;
                // Read until the end of the request head (we ignore any body), within the deadline.
                let read = tokio::time::timeout(read_timeout, async {
                    while len < buf.len() {
                        match socket.read(&mut buf[len..]).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => len += n,
                        }
                        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                })
                .await;
                if read.is_err() {
                    return; // too slow: drop the connection
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
                let write = async {
                    socket.write_all(head.as_bytes()).await?;
                    socket.write_all(response.body.as_bytes()).await?;
                    socket.shutdown().await
                };
                let _ = tokio::time::timeout(read_timeout, write).await;
            });
        }
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// More idle clients than slots: each is dropped after the read deadline, so a real request still gets its
    /// answer soon after.
    #[tokio::test]
    async fn idle_connections_cannot_starve_the_health_check() {
        let deadline = Duration::from_millis(300);
        let addr =
            serve_with("127.0.0.1:0", |_| Response::text(200, "ok\n"), std::future::pending(), deadline).await.unwrap();
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS + 10 {
            idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        let answer = tokio::time::timeout(deadline * 10, get(addr)).await.expect("answered despite idle clients");
        assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("ok\n"), "{answer}");
    }
}
