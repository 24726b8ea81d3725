//! Run control shared by every workload: cancellation and progress reporting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag that asks a running workload to stop at its next chunk boundary.
///
/// Clones share the flag, so one can live in a Ctrl-C handler while another
/// is passed to the workload.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that has not been cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Asks every holder of this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`CancelToken::cancel`] has been called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How a caller watches and steers a long run.
#[derive(Default)]
pub struct RunControl<'a> {
    /// Checked between chunks; a cancelled run returns a partial result.
    pub cancel: Option<CancelToken>,
    /// Called after each chunk with (work done, total work).
    pub progress: Option<&'a (dyn Fn(u64, u64) + Sync)>,
}

impl RunControl<'_> {
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(CancelToken::is_cancelled)
    }

    pub(crate) fn report(&self, done: u64, total: u64) {
        if let Some(progress) = self.progress {
            progress(done, total);
        }
    }
}
