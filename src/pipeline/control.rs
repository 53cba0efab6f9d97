//! What the stages of a run share to stop together: the stop flag, the signal, tasks in
//! flight, and the first error that ends the run.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

use super::RunError;

/// Shared by the reader, the workers and the writer of a run.
pub struct Control {
    /// Who hears what the run has to say as it happens (the command line prints it).
    pub observer: Arc<dyn Observer>,
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

/// What a run says to the person running it while it runs: the library never writes to a
/// terminal or exits the process itself; the command line decides how to say it.
#[derive(Debug)]
pub enum Notice<'a> {
    /// A first SIGINT/SIGTERM: tasks in flight are being finished.
    Stopping,
    /// A task file that is not its task's result was moved aside; the task runs again.
    TaskFileRejected {
        file: &'a str,
        why: &'a str,
        moved_to: &'a str,
    },
    /// A baseline task file could not be read; its findings count as new.
    BaselineFileSkipped { file: &'a str, why: &'a str },
}

/// Hears a run's notices (the command line prints them).
pub trait Observer: Send + Sync {
    /// One notice, as it happens.
    fn notice(&self, notice: Notice<'_>);
}

/// How a run is asked to stop from outside, passed in by whoever owns the process's signals
/// (the command line forwards SIGINT and SIGTERM here, and decides itself what a second one
/// does). The first request stops admission, cancels reads in flight and lets the tasks
/// being checked finish (or stops the final outputs); later requests change nothing.
#[derive(Clone)]
pub struct Shutdown(Arc<tokio::sync::watch::Sender<i32>>);

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown(Arc::new(tokio::sync::watch::Sender::new(0)))
    }
}

impl Shutdown {
    /// Asks the run to stop, for signal `sig` (2 or 15: the exit code says which); true when
    /// this is the first request.
    pub fn request(&self, sig: i32) -> bool {
        let mut first = false;
        self.0.send_if_modified(|s| {
            first = *s == 0;
            if first {
                *s = sig;
            }
            first
        });
        first
    }

    /// The signal of the first request, once there is one.
    pub(super) async fn requested(&self) -> i32 {
        let mut rx = self.0.subscribe();
        let first = rx.wait_for(|s| *s != 0).await.map(|s| *s);
        match first {
            Ok(s) => s,
            // The sender lives in `self`: never closed while this waits.
            Err(_) => std::future::pending().await,
        }
    }
}

impl Control {
    /// A control for a run heard by `observer`.
    pub fn new(observer: Arc<dyn Observer>) -> Self {
        Control {
            observer,
            stop: Default::default(),
            signal: Default::default(),
            interrupt: Default::default(),
            in_flight: Default::default(),
            fatal: Default::default(),
        }
    }

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
}

/// A task in flight: counted in [`Control::in_flight`] from its admission until this guard is
/// dropped, wherever the task ends (written, failed, cancelled, dropped with a closed queue):
/// no path can forget to count it out, which would blind the memory guard.
pub struct InFlight(Arc<Control>);

impl InFlight {
    pub fn admit(control: &Arc<Control>) -> Self {
        control.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(control.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
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
