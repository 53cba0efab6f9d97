//! [`Severity`], the one type below every layer that speaks of how serious a finding is (the
//! defaults name one; reports, checks and manifests use it).

use serde::{Deserialize, Serialize};

/// How serious a finding is, from its score and the cut points.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Below the warning cut point: listed, never a failure by default.
    Info,
    /// At or above the warning cut point.
    Warning,
    /// At or above the error cut point.
    Error,
}

impl Severity {
    /// The lowercase name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}
