//! The machine, its profile (low / mid / high spec), the run plan sized from it, and the
//! memory guard.

use std::fmt;

use serde::Serialize;
use sysinfo::{MemoryRefreshKind, System};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// What the machine offers this process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Machine {
    /// CPUs this process may use (`available_parallelism`, which honours cgroup quotas and
    /// affinity masks).
    pub cpus: usize,
    /// Memory this process may use: the smaller of physical memory and the cgroup limit.
    pub memory: u64,
    /// Memory available now.
    pub available: u64,
    pub cgroup_limit: Option<u64>,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut sys = System::new();
        sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let cgroup_limit = cgroup_memory_limit();
        let total = sys.total_memory();
        // An address-space limit (`ulimit -v`) bounds what this process can ever map.
        let memory = [cgroup_limit, address_space_limit()]
            .into_iter()
            .flatten()
            .fold(total, u64::min);
        let mut available = sys.available_memory().min(memory);
        if let (Some(limit), Some(used)) = (cgroup_limit, cgroup_memory_used()) {
            available = available.min(limit.saturating_sub(used));
        }
        Machine {
            cpus,
            memory,
            available,
            cgroup_limit,
        }
    }
}

/// The address-space limit of this process (`ulimit -v`, `RLIMIT_AS`), when set.
pub fn address_space_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into the struct it is given; nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0;
    (ok && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// The open-file limit of this process (`ulimit -n`, `RLIMIT_NOFILE`), when set.
pub fn open_files_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into the struct it is given; nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    (ok && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// Descriptors a run needs besides its workers (standard streams, the lock, the event log,
/// tokio's signal pipe and epoll, the tasks file, the rules and their store).
pub const BASE_OPEN_FILES: u64 = 32;

/// Refuses a run whose open-file limit cannot hold `workers` workers (each holds a task file
/// and a source) plus [`BASE_OPEN_FILES`].
pub fn check_open_files(workers: usize) -> Result<(), ResourceError> {
    let need = BASE_OPEN_FILES + 4 * workers as u64;
    match open_files_limit() {
        Some(limit) if limit < need => Err(ResourceError::OpenFiles {
            limit,
            need,
            workers,
        }),
        _ => Ok(()),
    }
}

/// The least address space pff starts with: its threads' stacks and the allocator's arenas
/// need it before any work (below it, thread start-up and allocations fail).
pub const MIN_ADDRESS_SPACE: u64 = 32 * MIB;

/// Why the machine cannot run pff as asked.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error(
        "the address-space limit (ulimit -v) is {} KiB; pff needs at least {} MiB to start its \
         threads: raise it, and use --memory-limit to bound pff's memory instead",
        .limit >> 10,
        MIN_ADDRESS_SPACE >> 20
    )]
    AddressSpace { limit: u64 },
    #[error(
        "the open-file limit (ulimit -n) is {limit}; pff run needs at least {need} descriptors \
         (signal handling, the runtime, {workers} workers' task files and the reader's sources): \
         raise it with `ulimit -n {need}` or lower --max-workers"
    )]
    OpenFiles {
        limit: u64,
        need: u64,
        workers: usize,
    },
    #[error(
        "the machine is already using {used_percent:.0}% of its {} MB of memory ({} MB \
         available, {} MB must stay free); pff would push it into swap. Free memory (stop other \
         jobs) and run again",
        .memory / MIB,
        .available / MIB,
        .floor / MIB
    )]
    Swap {
        used_percent: f64,
        memory: u64,
        available: u64,
        floor: u64,
    },
}

/// Refuses to start under an address-space limit too small to run at all.
pub fn check_address_space() -> Result<(), ResourceError> {
    match address_space_limit() {
        Some(limit) if limit < MIN_ADDRESS_SPACE => Err(ResourceError::AddressSpace { limit }),
        _ => Ok(()),
    }
}

/// cgroup v2 `memory.max` (or v1 `memory.limit_in_bytes`) of this process, when set.
fn cgroup_memory_limit() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .and_then(|s| s.trim().parse::<u64>().ok())
        // v1 reports "no limit" as a huge number.
        .filter(|&l| l < (1 << 60))
}

fn cgroup_memory_used() -> Option<u64> {
    std::fs::read_to_string("/sys/fs/cgroup/memory.current")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Memory the system can still give now: `MemAvailable`, and within a cgroup limit what is
/// left under it. Cheap: one small /proc read (falls back to sysinfo).
pub fn system_available(m: &Machine) -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let mut available = meminfo.unwrap_or_else(|| {
        let mut sys = System::new();
        sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        sys.available_memory()
    });
    if let (Some(limit), Some(used)) = (m.cgroup_limit, cgroup_memory_used()) {
        available = available.min(limit.saturating_sub(used));
    }
    available
}

/// How much source one task may hold per byte while it is checked, by the source's format
/// (measured on the worst shapes found: a JSON document of many small objects takes 31 times
/// its size while it is parsed whole; JSON Lines are mapped a record at a time, 1.5 times;
/// a triples file becomes one graph, and so does any file checked as one graph:
/// `--one-graph`). The README documents these as the per-task bound.
pub fn task_memory_factor(format: crate::triples::Format, one_graph: bool) -> u64 {
    use crate::triples::Format;
    let streamed = match format {
        Format::Json => 32,
        Format::Tsv => 8,
        Format::Jsonl | Format::Csv(_) => 2,
    };
    if one_graph {
        streamed.max(task_memory_factor(Format::Tsv, false))
    } else {
        streamed
    }
}

/// The memory this process can still take now, and what bounds it: the address-space limit
/// (`ulimit -v`, counted against the mapped size), the cgroup limit, or the memory the
/// system has available; the smallest.
pub fn memory_room(m: &Machine) -> (u64, &'static str) {
    let mut room = (system_available(m), "the memory the system has available");
    if let Some(limit) = address_space_limit() {
        let mapped = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |pages| pages * 4096);
        let left = limit.saturating_sub(mapped);
        if left < room.0 {
            room = (left, "the address-space limit (ulimit -v)");
        }
    }
    room
}

/// Resident set size of this process in bytes.
pub fn current_rss() -> u64 {
    // /proc/self/statm: size resident ... in pages. Cheap enough to read per task.
    if let Ok(s) = std::fs::read_to_string("/proc/self/statm")
        && let Some(pages) = s
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u64>().ok())
    {
        return pages * 4096;
    }
    let mut sys = System::new();
    let pid = sysinfo::Pid::from_u32(std::process::id());
    sys.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
    sys.process(pid).map_or(0, |p| p.memory())
}

/// Machine classes, each with a safe worker cap and memory share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Low,
    Mid,
    High,
}

impl Profile {
    pub fn of(m: &Machine) -> Profile {
        if m.cpus <= 2 || m.memory < 4 * GIB {
            Profile::Low
        } else if m.cpus <= 8 || m.memory < 32 * GIB {
            Profile::Mid
        } else {
            Profile::High
        }
    }

    /// The most workers that is safe: all CPUs on a small box (pff is the job), one CPU left
    /// for the system on larger ones.
    pub fn worker_cap(self, m: &Machine) -> usize {
        match self {
            Profile::Low => m.cpus.max(1),
            Profile::Mid | Profile::High => (m.cpus - 1).max(1),
        }
    }

    /// The share of the machine's memory a run may use.
    pub fn memory_share(self) -> f64 {
        match self {
            Profile::Low => 0.6,
            Profile::Mid => 0.7,
            Profile::High => 0.8,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Low => "low spec",
            Profile::Mid => "mid spec",
            Profile::High => "high spec",
        })
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Requests {
    /// `--max-workers`: an explicit override, wins over everything.
    pub cli_workers: Option<usize>,
    /// The manifest's `max_workers`: clamped to the profile's cap.
    pub manifest_workers: Option<usize>,
    /// The manifest's `resource_usage`, percent.
    pub resource_usage: Option<f64>,
    /// `--memory-limit` in bytes.
    pub memory_limit: Option<u64>,
}

/// How a run is sized.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub machine: Machine,
    pub profile: Profile,
    pub worker_cap: usize,
    pub workers: usize,
    /// Task inputs read or fetched at once.
    pub io_concurrency: usize,
    /// Tasks read but not yet checked, at most.
    pub input_queue: usize,
    /// Results checked but not yet written, at most.
    pub result_queue: usize,
    /// Bytes of RSS above which no new task is admitted.
    pub memory_budget: u64,
    /// Memory the system must keep available: below it no new task is admitted (whoever
    /// uses the memory), so the machine never swaps because of pff.
    pub system_reserve: u64,
    /// Why the plan differs from what was asked.
    pub warnings: Vec<String>,
}

/// Worker threads per CPU that `--max-workers` may ask for at most (`pff run`, `validate`,
/// `calibrate`): beyond it threads only contend (10,000 threads on 2 CPUs took 90 s for one
/// record).
pub const MAX_THREADS_PER_CPU: usize = 4;

/// The most worker threads on `cpus` CPUs.
pub fn thread_ceiling(cpus: usize) -> usize {
    cpus.max(1) * MAX_THREADS_PER_CPU
}

impl Plan {
    pub fn new(machine: Machine, req: Requests) -> Plan {
        let profile = Profile::of(&machine);
        let cap = profile.worker_cap(&machine);
        let mut warnings = Vec::new();
        let share = req
            .resource_usage
            .map_or(profile.memory_share(), |p| (p / 100.0).clamp(0.01, 1.0));
        let workers = match (req.cli_workers, req.manifest_workers) {
            (Some(n), _) => {
                let ceiling = thread_ceiling(machine.cpus);
                if n > ceiling {
                    warnings.push(format!(
                        "--max-workers {n} is more than {MAX_THREADS_PER_CPU} per CPU ({} CPUs): \
                         using {ceiling} (more threads only contend for the CPUs)",
                        machine.cpus
                    ));
                    ceiling
                } else {
                    if n > cap {
                        warnings.push(format!(
                            "--max-workers {n} exceeds the {profile} cap of {cap} workers for {} \
                             CPUs; running {n} as asked",
                            machine.cpus
                        ));
                    }
                    n
                }
            }
            (None, Some(n)) if n > cap => {
                warnings.push(format!(
                    "the manifest asks for {n} workers but this {profile} machine has {} CPUs: \
                     using {cap} (more would only contend; --max-workers overrides)",
                    machine.cpus
                ));
                cap
            }
            (None, Some(n)) => n,
            (None, None) => match req.resource_usage {
                Some(p) => ((cap as f64 * p / 100.0).ceil() as usize).clamp(1, cap),
                None => cap,
            },
        };
        let memory_budget = req
            .memory_limit
            .unwrap_or((machine.memory as f64 * share) as u64);
        Plan {
            machine,
            profile,
            worker_cap: cap,
            workers,
            io_concurrency: (workers * 2).clamp(2, 32),
            input_queue: workers * 2,
            result_queue: workers * 2,
            memory_budget,
            system_reserve: (machine.memory / 20).max(128 * MIB),
            warnings,
        }
    }

    /// The most tasks admitted and not yet written at any time: reads in progress, the input
    /// queue, one per worker, the result queue and the one being written.
    pub fn max_in_flight(&self) -> usize {
        self.io_concurrency + self.input_queue + self.workers + self.result_queue + 1
    }

    /// Refuses to start when the machine cannot give the run its budget's headroom.
    pub fn preflight(&self) -> Result<(), ResourceError> {
        check_open_files(self.workers)?;
        let m = &self.machine;
        let floor = self.system_reserve.max(64 * MIB);
        if m.available < floor {
            return Err(ResourceError::Swap {
                used_percent: 100.0 - m.available as f64 * 100.0 / m.memory.max(1) as f64,
                memory: m.memory,
                available: m.available,
                floor,
            });
        }
        Ok(())
    }

    /// A person-readable description (for `--dry-run`).
    pub fn describe(&self) -> String {
        let m = &self.machine;
        let mut s = format!(
            "machine: {} CPUs, {} MB memory{}, {} MB available\n\
             profile: {} (worker cap {}, memory share {:.0}%)\n\
             plan: {} workers, {} inputs read at once, queues of {} inputs and {} results \
             (at most {} tasks in flight), memory budget {} MB, system reserve {} MB",
            m.cpus,
            m.memory / MIB,
            m.cgroup_limit
                .map_or(String::new(), |l| format!(" (cgroup limit {} MB)", l / MIB)),
            m.available / MIB,
            self.profile,
            self.worker_cap,
            self.profile.memory_share() * 100.0,
            self.workers,
            self.io_concurrency,
            self.input_queue,
            self.result_queue,
            self.max_in_flight(),
            self.memory_budget / MIB,
            self.system_reserve / MIB
        );
        for w in &self.warnings {
            s.push_str(&format!("\nwarning: {w}"));
        }
        s
    }
}

/// Parses `512M`, `2G`, `1.5GiB`, `100000` (bytes).
/// A size that is not one.
#[derive(Debug, thiserror::Error)]
#[error("`{input}` {problem}")]
pub struct SizeError {
    pub input: String,
    pub problem: &'static str,
}

pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let bad = |problem| SizeError {
        input: s.to_string(),
        problem,
    };
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| bad("is not a size (e.g. 512M, 2G)"))?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        _ => return Err(bad("has an unknown unit (use K, M or G)")),
    };
    if n.is_nan() || n < 0.0 {
        return Err(bad("is not a size (e.g. 512M, 2G)"));
    }
    let bytes = n * mult as f64;
    // 1 PiB: more than any machine pff plans for; larger is a typo.
    if bytes > (1u64 << 50) as f64 {
        return Err(bad("is larger than 1 PiB"));
    }
    Ok(bytes as u64)
}

/// Keeps a long run's RSS flat under glibc. Its malloc raises the mmap threshold each time a
/// large block is freed, after which large per-task buffers (reports, JSON) come from the
/// arenas and fragment them: RSS crept to 0.9 GB over 10,000 tasks in one measurement. A fixed
/// threshold sends blocks of 128 KiB and more straight back to the kernel when freed.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called once at start, before threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        // Under an address-space limit, each thread's malloc arena would reserve 64 MB of it
        // (counted by `ulimit -v` though never touched): share two.
        if address_space_limit().is_some() {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_checked_as_one_graph_is_admitted_as_a_graph() {
        use crate::triples::Format;
        assert_eq!(task_memory_factor(Format::Jsonl, false), 2);
        assert_eq!(task_memory_factor(Format::Jsonl, true), 8);
        assert_eq!(task_memory_factor(Format::Csv(b','), true), 8);
        // A JSON document parsed whole already needs more than its graph.
        assert_eq!(task_memory_factor(Format::Json, true), 32);
        assert_eq!(task_memory_factor(Format::Tsv, false), 8);
    }

    fn machine(cpus: usize, gib: u64) -> Machine {
        Machine {
            cpus,
            memory: gib * GIB,
            available: gib * GIB / 2,
            cgroup_limit: None,
        }
    }

    #[test]
    fn profiles() {
        assert_eq!(Profile::of(&machine(2, 24)), Profile::Low);
        assert_eq!(Profile::of(&machine(12, 2)), Profile::Low);
        assert_eq!(Profile::of(&machine(12, 16)), Profile::Mid);
        assert_eq!(Profile::of(&machine(32, 128)), Profile::High);
    }

    #[test]
    fn manifest_workers_are_clamped_cli_wins() {
        // The predecessor's 16 workers on a 12-thread laptop.
        let p = Plan::new(
            machine(12, 16),
            Requests {
                manifest_workers: Some(16),
                ..Default::default()
            },
        );
        assert_eq!(p.workers, 11);
        assert!(p.warnings[0].contains("asks for 16 workers"));
        let p = Plan::new(
            machine(12, 16),
            Requests {
                manifest_workers: Some(16),
                cli_workers: Some(16),
                ..Default::default()
            },
        );
        assert_eq!(p.workers, 16);
        assert!(p.warnings[0].contains("exceeds"));
        let p = Plan::new(
            machine(2, 24),
            Requests {
                cli_workers: Some(1),
                ..Default::default()
            },
        );
        assert_eq!(p.workers, 1);
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn resource_usage_scales_workers_and_memory() {
        let p = Plan::new(
            machine(12, 16),
            Requests {
                resource_usage: Some(50.0),
                ..Default::default()
            },
        );
        assert_eq!(p.workers, 6);
        assert_eq!(p.memory_budget, 8 * GIB);
    }

    #[test]
    fn preflight_refuses_a_machine_already_out_of_memory() {
        let mut m = machine(2, 24);
        let p = Plan::new(m, Requests::default());
        assert!(p.preflight().is_ok());
        m.available = 200 * MIB;
        let p = Plan::new(m, Requests::default());
        let e = p.preflight().unwrap_err().to_string();
        assert!(e.contains("99% of its") && e.contains("swap"), "{e}");
        assert!(system_available(&m) > 0);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 * MIB);
        assert_eq!(parse_size("2G").unwrap(), 2 * GIB);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3X").is_err());
    }

    #[test]
    fn detects_this_machine() {
        let m = Machine::detect();
        assert!(m.cpus >= 1);
        assert!(m.memory > 0);
        assert!(current_rss() > 0);
    }
}
