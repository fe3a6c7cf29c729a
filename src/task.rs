//! Background tasks tied to a scope.

use tokio::task::JoinHandle;

/// Aborts its task when dropped: a helper task (a lease or claim renewal, a
/// listener's reader) lives exactly as long as the work it serves.
pub struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(task))
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
