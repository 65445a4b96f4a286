//! One retry pace for whatever waits on a server that failed (a round, a recovery, a produce): the first retry after
//! 1 s, each next one twice as late up to 5 s, back to 1 s after a success; and a wait that shutdown cuts short.
//!
//! Why a 5 s cap and not more: an attempt is cheap (one request), and after a broker restart each attempt may heal
//! only one of the cached connections the restart broke (rskafka replaces a broken connection on the next request),
//! so a recovery can take several attempts in a row. With a 30 s cap the chaos run saw /healthz stay 503 for over
//! 90 s after the broker was back; with 5 s it is back within seconds.

use std::time::Duration;

use tokio::sync::watch;

/// Exponential backoff between attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Default for Backoff {
    /// 1 s, doubling up to 5 s.
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Waits `first`, then twice as long each time, at most `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self { first, max, next: first }
    }

    /// After a success: the next failure waits `first` again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }

    /// The delay before the next attempt; the one after it is twice as long (at most `max`).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// Sleeps [`Backoff::next_delay`]; `false` when `stop` is (or turns) true first: give up, shutting down.
    pub async fn wait(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let delay = self.next_delay();
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stop.wait_for(|v| *v) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_starts_over_after_a_success() {
        let mut b = Backoff::default();
        let secs: Vec<u64> = (0..7).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 5, 5, 5, 5]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_shutdown_cuts_the_wait_short() {
        let (tx, mut rx) = watch::channel(false);
        let mut b = Backoff::new(Duration::from_secs(3600), Duration::from_secs(3600));
        let waiting = tokio::spawn(async move { b.wait(&mut rx).await });
        tx.send(true).unwrap();
        assert!(!tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap());
    }
}
