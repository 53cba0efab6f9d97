//! What the stages of a run share to stop together: the stop flag, the signal, tasks in
//! flight, and the first error that ends the run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

use super::RunError;

/// Shared by the reader, the workers and the writer of a run.
#[derive(Debug, Default)]
pub struct Control {
    /// Stop admitting tasks and cancel reads (a signal, or an error that ends the run).
    pub stop: AtomicBool,
    /// The first signal received (0: none).
    pub signal: AtomicI32,
    /// Set by every signal; cleared when the final outputs begin, so that only a signal
    /// during them stops them (a run stopped mid-way still writes its partial summary).
    pub interrupt: AtomicBool,
    /// Tasks admitted and not yet written.
    pub in_flight: AtomicUsize,
    fatal: Mutex<Option<RunError>>,
}

impl Control {
    /// Ends the run with `e` (the first error wins) and stops admission.
    pub fn fail(&self, e: RunError) {
        self.fatal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(e);
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The error that ended the run, if one did.
    pub fn take_failure(&self) -> Option<RunError> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// A task left the pipeline (written, dropped or cancelled).
    pub fn task_left(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Fails the run if the code it guards panics (a bug): dropped while unwinding.
pub struct PanicGuard<'a> {
    pub control: &'a Control,
    pub what: &'static str,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.control.fail(RunError::Internal(format!(
                "{} stopped unexpectedly",
                self.what
            )));
        }
    }
}

/// The message of a caught panic.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}
