//! One per instance: the listener publishes events here, every open SSE
//! stream of the instance subscribes. A bounded broadcast: a stream that
//! falls more than [`super::HUB_CAPACITY`] events behind lags and resyncs
//! instead of buffering without limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::{broadcast, watch};

use super::LiveEvent;

pub struct LiveHub {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    open: AtomicI64,
    closing: watch::Sender<bool>,
}

/// An open stream's subscription; counts as open until dropped.
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<LiveEvent>>,
    /// Turns true when the instance shuts down: streams end.
    pub closing: watch::Receiver<bool>,
    hub: Arc<LiveHub>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LiveHub {
    pub fn new(capacity: usize) -> Arc<Self> {
        let (tx, _) = broadcast::channel(capacity.max(1));
        let (closing, _) = watch::channel(false);
        Arc::new(Self {
            tx,
            open: AtomicI64::new(0),
            closing,
        })
    }

    pub fn subscribe(self: &Arc<Self>) -> Subscription {
        self.open.fetch_add(1, Ordering::Relaxed);
        Subscription {
            events: self.tx.subscribe(),
            closing: self.closing.subscribe(),
            hub: self.clone(),
        }
    }

    pub fn publish(&self, event: LiveEvent) {
        // No subscriber is not an error: nobody is looking.
        let _ = self.tx.send(Arc::new(event));
    }

    /// Tells every stream to refetch: events may have been lost.
    pub fn resync_all(&self) {
        self.publish(LiveEvent::resync_all());
    }

    /// Open SSE streams on this instance (a gauge for metrics).
    pub fn open_streams(&self) -> i64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Ends every stream (shutdown: the server's grace period need not wait
    /// for streams that never end on their own).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_open_streams_and_delivers() {
        let hub = LiveHub::new(4);
        let mut a = hub.subscribe();
        let b = hub.subscribe();
        assert_eq!(hub.open_streams(), 2);
        drop(b);
        assert_eq!(hub.open_streams(), 1);
        hub.resync_all();
        assert_eq!(*a.events.recv().await.unwrap(), LiveEvent::resync_all());
        for _ in 0..6 {
            hub.resync_all();
        }
        assert!(matches!(
            a.events.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
        hub.close();
        assert!(*a.closing.borrow_and_update());
    }
}
