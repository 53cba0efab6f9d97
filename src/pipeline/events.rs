//! `events.jsonl`: the run's log, one JSON object a line (`t_ms`, `event`, and the event's
//! fields), written by one [`EventLog`] shared by the reader and the writer.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::shard::Shard;
use super::store::folder;
use crate::report::SeverityCounts;

/// What happened in a run.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    /// The run starts: its plan, its rules, what is left to do.
    Start {
        tasks: usize,
        pending: usize,
        resume: bool,
        retried: usize,
        rejected: usize,
        shard: Option<Shard>,
        workers: usize,
        memory_budget: u64,
        rules: usize,
        rules_in_memory: bool,
        rule_batch: usize,
        rule_anchors: usize,
    },
    /// A task file that was not its task's result, moved aside.
    TaskFileRejected {
        file: &'a str,
        why: &'a str,
        moved_to: &'a str,
    },
    /// A baseline task file that could not be read: its findings count as new.
    BaselineFileSkipped {
        file: &'a str,
        why: &'a str,
    },
    TaskDone(TaskEvent<'a>),
    TaskFailed(TaskEvent<'a>),
    /// No task is admitted until memory is back under the budget.
    MemoryPause {
        rss: u64,
        budget: u64,
        system_available: u64,
        system_reserve: u64,
    },
    MemoryResume {
        rss: u64,
        system_available: u64,
    },
    /// The run ends: done, a signal, or an error that stopped it.
    Stop(StopEvent<'a>),
}

/// A task's result.
#[derive(Debug, Serialize)]
pub struct TaskEvent<'a> {
    pub task: &'a str,
    pub findings: SeverityCounts,
    pub error: Option<&'a str>,
    pub retryable: bool,
}

/// Why and how a run ended.
#[derive(Debug, Default, Serialize)]
pub struct StopEvent<'a> {
    /// `done`, `signal`, or what stopped it (`memory`, `http`, `rules`, `internal`).
    pub reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The most tasks in flight and rule chunks held at any time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rule_batches: Option<usize>,
    /// After a signal: whether the final outputs were written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_outputs: Option<bool>,
}

#[derive(Serialize)]
struct Line<'e, 'a> {
    t_ms: u128,
    #[serde(flatten)]
    event: &'e Event<'a>,
}

/// The one writer of `events.jsonl` (cloned where events happen).
#[derive(Clone)]
pub struct EventLog {
    file: Arc<Mutex<File>>,
}

impl EventLog {
    /// Opens (appending) the log at `path`, never through a link.
    pub fn open(path: &Path) -> std::io::Result<EventLog> {
        Ok(EventLog {
            file: Arc::new(Mutex::new(folder::append_nofollow(path)?)),
        })
    }

    /// Appends one event. One write per line, so that a kill leaves whole lines. Events are a
    /// log: a failed write must not stop the run, results are what matter.
    pub fn log(&self, event: &Event<'_>) {
        let t_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let Ok(mut line) = serde_json::to_vec(&Line { t_ms, event }) else {
            return;
        };
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let _ = f.write_all(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_is_one_line_with_its_kind_and_time() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("events.jsonl");
        let log = EventLog::open(&path).unwrap();
        log.log(&Event::TaskDone(TaskEvent {
            task: "5511",
            findings: SeverityCounts::default(),
            error: None,
            retryable: false,
        }));
        log.clone().log(&Event::Stop(StopEvent {
            reason: "signal",
            signal: Some(15),
            final_outputs: Some(false),
            ..StopEvent::default()
        }));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["event"], "task_done");
        assert_eq!(lines[0]["task"], "5511");
        assert!(lines[0]["t_ms"].as_u64().is_some());
        assert_eq!(lines[1]["event"], "stop");
        assert_eq!(lines[1]["signal"], 15);
        assert!(lines[1].get("message").is_none());
    }
}
