//! Shutdown: SIGINT or SIGTERM (what `docker stop` sends to PID 1 in a FROM-scratch image) flips a watch flag;
//! the transformer finishes its round (fetch nothing new, produce, commit) and the emitter its batch, then they return.

use tokio::sync::watch;

/// Completes on SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail on Unix");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A flag that turns true once `trigger` completes.
pub fn flag(trigger: impl std::future::Future<Output = ()> + Send + 'static) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        trigger.await;
        let _ = tx.send(true);
    });
    rx
}
