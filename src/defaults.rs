//! Every default of pff, decided here once: the command line (`clap` attributes), manifests
//! and the library take them from this module.

/// Score from which a finding is an error. Derived by `pff calibrate` from clean reference
/// records (`tmf/train.jsonl`, 2,000 records, and `tmf/records.jsonl`, 200, with `tmf/rules-900`:
/// both give 0.89): the median clean record has at most 1 error-level finding.
pub const ERROR_CONFIDENCE: f64 = 0.89;
/// Score from which a finding is a warning (below: info). Derived as above (with culprits
/// across nodes: 0.867 on the 200 fresh records, 0.866 on the 2,000 the rules were learned
/// from, which fit them better; the fresh records' cut is taken): the median clean record has
/// at most 3 error- and warning-level findings together. Was 0.5, which made 55 warnings of
/// the median clean record.
pub const WARNING_CONFIDENCE: f64 = 0.867;
/// Rules with a lower mined confidence are not checked.
pub const MIN_CONFIDENCE: f64 = 0.0;
/// Findings kept per record, the highest scores.
pub const MAX_VIOLATIONS: usize = 1000;
/// The lowest severity whose findings are written with their evidence (`--keep`, manifest
/// `keep:`); below it, counts only (and the strongest few, see [`STRONGEST_LISTED`]).
pub const KEEP: crate::severity::Severity = crate::severity::Severity::Warning;
/// A record's strongest findings listed whatever their severity (those below `--keep` without
/// evidence), so that its first findings are always there to read.
pub const STRONGEST_LISTED: usize = 10;
/// Findings listed per record in the human and Markdown reports.
pub const TOP: usize = 10;
/// The JSON key that names a node.
pub const ID_KEY: &str = "id";
/// The key that names an entry of a name/value list under the nested mappings (TM Forum
/// Open API: `name`).
pub const NAME_KEY: &str = "name";
/// The step sequence of a task when neither the task nor the manifest names one.
pub const SEQUENCE: &str = "validate";
/// Rules listed in a rule health summary (largest drift first).
pub const HEALTH_TOP: usize = 20;

/// `pff run`: bindings one rule may try on one record before it is cut short.
pub const RUN_MAX_RULE_WORK: u64 = 1_000_000_000;
/// `pff run`: seconds one task may take.
pub const RUN_TIME_BUDGET_SECS: f64 = 600.0;
/// `pff run`: rules held in memory at once (about 520 bytes a rule with its index); a larger
/// rule set is filed on disk.
pub const RUN_RULE_BATCH: usize = 1024;
/// `pff validate`: rules held in memory before they are filed on disk (about 140 MB): it
/// checks one file, usually against the rule set as a whole, and the in-memory index is what
/// makes the headline case take a fifth of a second.
pub const VALIDATE_RULE_BATCH: usize = 262_144;

/// `http(s)` sources: whole-request timeout in seconds.
pub const FETCH_TIMEOUT_SECS: u64 = 30;
/// Largest source accepted, fetched or read from a file.
pub const FETCH_MAX_BYTES: u64 = 64 << 20;
/// Further attempts after a transient fetch failure.
pub const FETCH_RETRIES: u32 = 2;

/// The largest JSON document `validate`, `triples`, `learn` and `calibrate` read whole (a
/// `.json` file or `--input-format json`); JSON Lines and triples files are streamed and have
/// no such limit. Checked before reading (a file's size) and while reading (a device or pipe).
pub const MAX_JSON_DOCUMENT: u64 = 256 << 20;

/// The most derived triples one record may give under `--mapping nested|tmf`
/// (`docs/records.md`). Derived triples grow as a record's size times its nesting depth; a
/// record over this bound fails alone (its task goes on), after at most this much work and
/// about 100 MB of memory. TM Forum records give a few hundred.
pub const MAX_DERIVED_TRIPLES: usize = 1_000_000;

/// The largest file pff reads whole for its own settings: a manifest, a `ca_bundle`, a
/// `payload: !file`, `pff generate`'s input.
pub const MAX_SETTINGS_FILE: u64 = 64 << 20;

/// Rules files larger than this (together) are compiled into the cache of compiled rule sets
/// (`rules::compiled`): smaller ones parse in a few milliseconds anyway.
pub const COMPILE_ABOVE_BYTES: u64 = 1 << 20;
