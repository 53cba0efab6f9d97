//! The I/O side of a run (tokio): signals, admission under the memory guard, and reads of at
//! most `io_concurrency` sources at once into the workers' queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::RunError;
use super::control::{Control, InFlight, Notice, PanicGuard, Shutdown};
use super::events::{Event, EventLog};
use super::fetch::{self, FetchLimits, Fetcher, SourceError};
use crate::hardware::{Plan, current_rss, system_available};
use crate::manifest::{Source, Task};

/// A read task's result: its bytes, or why it failed.
pub type ReadResult = Result<Vec<u8>, SourceError>;

/// A task read and ready for a worker: its manifest position, the task, its bytes.
pub type ReadTask = (usize, Task, ReadResult, InFlight);

/// Why the memory guard stopped a run: over budget, or the machine short of memory, with
/// nothing in flight (waiting could never help).
#[derive(Debug, thiserror::Error)]
pub enum MemoryStop {
    #[error(
        "pff uses {} MB, above its memory budget of {} MB, with no task in flight; raise \
         --memory-limit (or the manifest's resource_usage)",
        .rss >> 20,
        .budget >> 20
    )]
    OverBudget { rss: u64, budget: u64 },
    #[error(
        "the machine has only {} MB available (pff keeps {} MB free) and pff has no task in \
         flight to finish; stop other jobs and resume with --resume",
        .available >> 20,
        .reserve >> 20
    )]
    MachineShort { available: u64, reserve: u64 },
}

/// Admits each pending task under the memory guard and reads it, at most `io_concurrency` at
/// once, into `queue`. A stop (signal, fatal error) ends admission and cancels reads in
/// flight: their tasks stay pending for `--resume`.
pub async fn read_all(
    pending: impl Iterator<Item = Result<(usize, Task), crate::manifest::TasksError>>,
    plan: &Plan,
    limits: FetchLimits,
    log: EventLog,
    queue: tokio::sync::mpsc::Sender<ReadTask>,
    control: Arc<Control>,
) {
    let fetcher = match Fetcher::new(limits) {
        Ok(f) => Arc::new(f),
        Err(e) => return control.fail(RunError::Http(e)),
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(plan.io_concurrency));
    for next in pending {
        if control.stopped() {
            break;
        }
        let (i, task) = match next {
            Ok(t) => t,
            Err(e) => {
                control.fail(RunError::Tasks(e));
                break;
            }
        };
        if let Err(e) = admit(plan, &control, &log).await {
            control.fail(RunError::Memory(e));
            break;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let counted = InFlight::admit(&control);
        let (tx, fetcher, control) = (queue.clone(), fetcher.clone(), control.clone());
        // The send happens inside the spawned read, so a full queue holds the permit and
        // stops further reads: backpressure up to admission.
        tokio::spawn(async move {
            let _guard = PanicGuard {
                control: &control,
                what: "a read",
            };
            // Cancelled by a stop (`None`): not a result, the task stays pending (and its
            // guard counts it out).
            if let Some(bytes) = read_source(&task.source, &fetcher, &control.stop).await {
                let _ = tx.send((i, task, bytes, counted)).await;
            }
            drop(permit);
        });
    }
}

/// Reads a task's source: a file (under the same size limit as a fetch) or a URL. `None` when
/// a stop cancelled the read.
async fn read_source(source: &Source, http: &Fetcher, stop: &AtomicBool) -> Option<ReadResult> {
    let read = async {
        match source {
            Source::File(p) => fetch::read_file(p, http.limits().max_bytes).await,
            Source::Url(u) => http.fetch(u, stop).await,
        }
    };
    tokio::select! {
        r = read => Some(r),
        () = stopped(stop) => None,
    }
}

/// Resolves once `stop` is set.
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until this process is under its memory budget and the machine above its reserve.
/// Fails fast when either is breached with nothing in flight: waiting could never help.
async fn admit(plan: &Plan, control: &Control, log: &EventLog) -> Result<(), MemoryStop> {
    let mut paused = false;
    loop {
        let rss = current_rss();
        let system = system_available(&plan.machine);
        let own = rss > plan.memory_budget;
        let machine = system < plan.system_reserve;
        if !own && !machine {
            if paused {
                log.log(&Event::MemoryResume {
                    rss,
                    system_available: system,
                });
            }
            return Ok(());
        }
        if control.in_flight.load(Ordering::SeqCst) == 0 {
            return Err(if own {
                MemoryStop::OverBudget {
                    rss,
                    budget: plan.memory_budget,
                }
            } else {
                MemoryStop::MachineShort {
                    available: system,
                    reserve: plan.system_reserve,
                }
            });
        }
        if !paused {
            paused = true;
            log.log(&Event::MemoryPause {
                rss,
                budget: plan.memory_budget,
                system_available: system,
                system_reserve: plan.system_reserve,
            });
        }
        if control.stopped() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The run's stop request: stop admitting, cancel reads in flight, finish the tasks being
/// checked (or stop writing the final outputs).
async fn watch_shutdown(control: Arc<Control>, shutdown: Shutdown) {
    let sig = shutdown.requested().await;
    control.signal.store(sig, Ordering::SeqCst);
    control.stop.store(true, Ordering::SeqCst);
    control.interrupt.store(true, Ordering::SeqCst);
    control.observer.notice(Notice::Stopping);
}

/// The runtime of the I/O side: one worker thread, and its file thread started up front
/// (tokio panics when it cannot start the first one, e.g. under a tight `ulimit -v`: here
/// that is an error). The stop request is watched from here to the end of the run.
pub fn start_runtime(
    plan: &Plan,
    control: &Arc<Control>,
    shutdown: &Shutdown,
) -> Result<tokio::runtime::Runtime, RunError> {
    let resources = |source| RunError::Resources {
        what: "the I/O runtime",
        source,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(plan.io_concurrency.clamp(1, 64))
        // The thread started below stays for the run: file reads never depend on starting one.
        .thread_keep_alive(Duration::from_secs(24 * 3600))
        .enable_all()
        .build()
        .map_err(resources)?;
    let started = crate::panics::quietly(|| {
        runtime.block_on(async { tokio::task::spawn_blocking(|| ()).await.is_ok() })
    });
    if !matches!(started, Ok(true)) {
        return Err(resources(std::io::Error::other(
            "the system refused to start a thread (memory or process limits)",
        )));
    }
    runtime.spawn(watch_shutdown(control.clone(), shutdown.clone()));
    Ok(runtime)
}
