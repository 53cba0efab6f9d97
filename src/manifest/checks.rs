//! The manifest's sections as a run reads them: [`Resources`], [`Checks`] (with which keys the
//! manifest itself [`Given`]) and [`FetchSettings`], made from the parsed keys over the
//! defaults.

use std::path::{Path, PathBuf};

use super::{Raw, resolve};
use crate::defaults;
use crate::report::{FailOn, Severity, SeverityCuts};
use crate::triples::Mapping;

/// How much of the machine a run may use (`None`: the command line or the plan decides).
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// Worker threads (`max_workers:`).
    pub max_workers: Option<usize>,
    /// Percent of the machine to use (1..=100).
    pub resource_usage: Option<f64>,
    /// Rules held in memory at once: a larger rule set is filed on disk and read in chunks of
    /// at most this many per record.
    pub rule_batch: Option<usize>,
}

/// What is checked and what is kept (defaults from [`crate::defaults`]).
#[derive(Debug, Clone)]
pub struct Checks {
    /// Rules below this confidence are not read.
    pub min_confidence: f64,
    /// The lowest severity that fails the run.
    pub fail_on: FailOn,
    /// Records with a finding at or above `fail_on` that a run tolerates: more fail it.
    pub fail_on_count: u64,
    /// Share of records with such a finding that a run tolerates.
    pub fail_on_ratio: f64,
    /// Findings at or above this severity are written with their evidence.
    pub keep: Severity,
    /// Severity cut points on a finding's score.
    pub severity: SeverityCuts,
    /// How records become triples (`id_key`, `mapping`, `name_key`).
    pub mapping: Mapping,
    /// Findings kept per record.
    pub max_violations: usize,
    /// Bindings one rule may try on one record before it is cut short (reported).
    pub max_rule_work: Option<u64>,
    /// Seconds one task may take; rules not started by then are skipped (reported).
    pub task_time_budget_secs: Option<f64>,
    /// Which of the encoding and severity keys the manifest itself set (a rule set's recorded
    /// values fill the others).
    pub given: Given,
}

/// The manifest keys a rule set's record may fill in, and whether the manifest set each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Given {
    /// `mapping:`
    pub mapping: bool,
    /// `name_key:`
    pub name_key: bool,
    /// `id_key:`
    pub id_key: bool,
    /// `id_triples:`
    pub id_triples: bool,
    /// `shapes:`
    pub shapes: bool,
    /// `one_graph:`
    pub one_graph: bool,
    /// `error_confidence:`
    pub error_confidence: bool,
    /// `warning_confidence:`
    pub warning_confidence: bool,
}

/// The lowest `rate_limit`: one fetch an hour (a lower rate is a typo, and its gap would not
/// fit a duration).
pub const MIN_RATE_LIMIT: f64 = 1.0 / 3600.0;

/// How `http(s)` sources are fetched (and the size limit of every source).
#[derive(Debug, Clone, Default)]
pub struct FetchSettings {
    /// Seconds a fetch may take (`fetch_timeout_secs:`).
    pub timeout_secs: Option<f64>,
    /// The largest source accepted, in bytes (`fetch_max_bytes:`).
    pub max_bytes: Option<u64>,
    /// Retries of a fetch that may pass (`fetch_retries:`).
    pub retries: Option<u32>,
    /// Hosts an `http(s)` source may redirect to besides its own.
    pub redirect_hosts: Vec<String>,
    /// Headers sent with every fetch, as written (`${VAR}` not yet expanded: the manifest and
    /// its copy never hold a secret).
    pub headers: Vec<(String, String)>,
    /// Fetches started per second, at most.
    pub rate_limit: Option<f64>,
    /// A private certificate authority's PEM file, resolved against the manifest's folder.
    pub ca_bundle: Option<PathBuf>,
}

/// The manifest's check keys over the defaults, and which of them it set.
pub(super) fn checks_of(raw: &mut Raw) -> Checks {
    let given = Given {
        mapping: raw.mapping.is_some(),
        name_key: raw.name_key.is_some(),
        id_key: raw.id_key.is_some(),
        id_triples: raw.id_triples.is_some(),
        shapes: raw.shapes.is_some(),
        one_graph: raw.one_graph.is_some(),
        error_confidence: raw.error_confidence.is_some(),
        warning_confidence: raw.warning_confidence.is_some(),
    };
    Checks {
        min_confidence: raw
            .min_confidence
            .as_ref()
            .map_or(defaults::MIN_CONFIDENCE, |c| c.value),
        fail_on: raw.fail_on.unwrap_or_default(),
        fail_on_count: raw.fail_on_count.unwrap_or(0),
        fail_on_ratio: raw.fail_on_ratio.as_ref().map_or(0.0, |r| r.value),
        keep: raw.keep.unwrap_or(defaults::KEEP),
        severity: SeverityCuts {
            error: raw
                .error_confidence
                .as_ref()
                .map_or(defaults::ERROR_CONFIDENCE, |c| c.value),
            warning: raw
                .warning_confidence
                .as_ref()
                .map_or(defaults::WARNING_CONFIDENCE, |c| c.value),
        },
        given,
        mapping: Mapping {
            id_key: raw.id_key.take().unwrap_or_else(|| defaults::ID_KEY.into()),
            kind: raw.mapping.unwrap_or_default(),
            name_key: raw
                .name_key
                .take()
                .unwrap_or_else(|| defaults::NAME_KEY.into()),
            id_triples: raw.id_triples.unwrap_or(false),
            shapes: raw.shapes.unwrap_or(false),
            one_graph: raw.one_graph.unwrap_or(false),
        },
        max_violations: raw.max_violations.unwrap_or(defaults::MAX_VIOLATIONS),
        max_rule_work: raw.max_rule_work,
        task_time_budget_secs: raw.task_time_budget_secs.as_ref().map(|t| t.value),
    }
}

/// The manifest's fetch keys (`${VAR}` in headers not yet expanded), the CA bundle resolved
/// against the manifest's folder `base`.
pub(super) fn fetch_of(raw: &mut Raw, base: &Path) -> FetchSettings {
    FetchSettings {
        timeout_secs: raw.fetch_timeout_secs.as_ref().map(|t| t.value),
        max_bytes: raw.fetch_max_bytes,
        retries: raw.fetch_retries.as_ref().map(|r| r.value),
        redirect_hosts: std::mem::take(&mut raw.fetch_redirect_hosts),
        headers: std::mem::take(&mut raw.headers).into_iter().collect(),
        rate_limit: raw.rate_limit.as_ref().map(|r| r.value),
        ca_bundle: raw.ca_bundle.as_ref().map(|c| resolve(base, &c.value)),
    }
}
