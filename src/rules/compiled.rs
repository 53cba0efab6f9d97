//! Compiled rule sets: the rules parsed once and filed on disk by anchor (the rule store's
//! files, kept), with their names, counts and the store's layout in `compiled.json`. Opening
//! one reads no rule text: a record reads the rules it can use from the store, as a run over
//! a rule set larger than memory does.
//!
//! A compiled set is keyed by its [`digest`]: the rule files' contents (in order), the
//! [`Filter`] that kept them and this format's version. It is never trusted without checking:
//! [`open`] compares the digest it records with the one asked for, its index with the index's
//! digest and its data file with the length it recorded (a truncated or changed file is
//! refused); each rule record carries a checksum, checked whenever it is read. `pff rules
//! compile` writes one into a folder; `validate` and `calibrate` keep them in a cache
//! ([`cache_dir`], [`open_cached`]) that several processes may fill at once: each compiles
//! into a temporary folder of its own and renames it into place; the first rename wins.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::source::RuleSource;
use super::store::{Layout, RuleStore, StoreBuilder};
use super::{Priors, Rule, RuleSet, RulesError, Symbols};
use crate::intern::Interner;

/// What `compiled.json` says it is.
const FORMAT: &str = "pff-compiled";
/// The layout version this build writes and reads.
const VERSION: u32 = 2;
/// The header of a compiled set.
pub const HEADER_FILE: &str = "compiled.json";

/// Which rules of the files a compiled set keeps (and numbers): part of its identity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// Rules below this confidence are left out.
    pub min_confidence: f64,
    /// Rules with fewer correct predictions are left out.
    pub min_correct: u64,
    /// Rules with a longer body are left out.
    pub max_body_len: Option<usize>,
}

impl Filter {
    /// Every rule.
    pub fn all() -> Self {
        Filter {
            min_confidence: 0.0,
            min_correct: 0,
            max_body_len: None,
        }
    }

    /// Whether `r` is kept.
    pub fn keeps(&self, r: &Rule) -> bool {
        r.confidence >= self.min_confidence
            && r.correct.is_none_or(|c| c >= self.min_correct)
            && self.max_body_len.is_none_or(|n| r.body.len() <= n)
    }
}

/// `compiled.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    /// [`digest`] of the rules it was compiled from.
    digest: String,
    /// The rule files as they were named when compiled (for people; rule ids name the files
    /// as they are given when it is opened).
    sources: Vec<String>,
    without_counts: usize,
    /// The rule set's names, by id.
    relations: Vec<String>,
    entities: Vec<String>,
    /// How many kept rules use each relation.
    per_relation: Vec<u32>,
    /// The body-less rules' confidences ([`Priors::entries`]), each as its bits
    /// (`f64::to_bits`: JSON's decimal text need not read back to the same float).
    priors: Vec<(u32, u32, bool, u64)>,
    layout: Layout,
    /// The store's `data` file's length (each record in it carries its own checksum, checked
    /// when it is read) and its `index` file's digest.
    data_len: u64,
    index_digest: String,
}

/// Why a compiled set cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CompiledError {
    /// A file of it could not be read or written.
    #[error("compiled rules {path}: {source}")]
    Io {
        /// The folder or file.
        path: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// It is not whole, not of this format, or of other rules.
    #[error("compiled rules {path} cannot be used: {why}")]
    Invalid {
        /// The folder.
        path: String,
        /// What does not match.
        why: String,
    },
    /// The rules could not be read to compile them.
    #[error(transparent)]
    Rules(#[from] RulesError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CompiledError + '_ {
    move |source| CompiledError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Streams `path` into `h` (a regular file only: a device or a pipe could be endless).
fn hash_file(h: &mut xxhash_rust::xxh3::Xxh3, path: &Path) -> io::Result<()> {
    if !fs::metadata(path)?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    crate::files::stream(path, |chunk| h.update(chunk))
}

/// The digest a compiled set is keyed by: this format's version, the filter, and the rule
/// files' contents in order (xxh3-128, about 10 GB/s: a 20 MB rule set costs 2 ms).
pub fn digest<P: AsRef<Path>>(paths: &[P], filter: &Filter) -> io::Result<String> {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(format!("{FORMAT} {VERSION} {filter:?}").as_bytes());
    for p in paths {
        h.update(b"\0file\0");
        hash_file(&mut h, p.as_ref())?;
    }
    Ok(format!("{:032x}", h.digest128()))
}

/// The digest of one file.
fn file_digest(path: &Path) -> io::Result<String> {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    hash_file(&mut h, path)?;
    Ok(format!("{:032x}", h.digest128()))
}

/// Compiles the rules of `paths` kept by `filter` into the new folder `dir` (which must not
/// exist). `digest` is theirs ([`digest`]). On failure `dir` may hold part of the files: the
/// caller made it and removes it.
pub fn compile<P: AsRef<Path>>(
    paths: &[P],
    filter: Filter,
    dir: &Path,
    digest: &str,
) -> Result<(), CompiledError> {
    let keep = Box::new(move |r: &Rule| filter.keeps(r));
    let source = RuleSource::open_filtered(paths, keep, usize::MAX, dir)?;
    let set = source.header();
    let mut b = StoreBuilder::new_kept(&dir.join("store")).map_err(io_err(dir))?;
    for r in &set.rules {
        b.push(r).map_err(io_err(dir))?;
    }
    let symbols = &set.symbols;
    let store = b
        .finish(symbols.relations.len(), symbols.entities.len())
        .map_err(io_err(dir))?;
    let names = |i: &Interner| (0..i.len()).map(|k| i.name(k as u32).to_string()).collect();
    let store_dir = dir.join("store");
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        digest: digest.into(),
        sources: set.sources.clone(),
        without_counts: set.without_counts,
        relations: names(&symbols.relations),
        entities: names(&symbols.entities),
        per_relation: source.per_relation().to_vec(),
        priors: source
            .priors()
            .entries()
            .into_iter()
            .map(|(rel, c, object, conf)| (rel, c, object, conf.to_bits()))
            .collect(),
        layout: store.layout(),
        data_len: fs::metadata(store_dir.join("data"))
            .map_err(io_err(&store_dir))?
            .len(),
        index_digest: file_digest(&store_dir.join("index")).map_err(io_err(&store_dir))?,
    };
    let bytes = serde_json::to_vec(&header).map_err(|e| io_err(dir)(e.into()))?;
    fs::write(dir.join(HEADER_FILE), bytes).map_err(io_err(dir))
}

/// Opens the compiled set in `dir` for the rule files `paths`, after checking that it was
/// compiled from rules of digest `digest` and that its store files are whole. `batch` is how
/// many of a record's rules are read at a time.
pub fn open<P: AsRef<Path>>(
    dir: &Path,
    paths: &[P],
    digest: &str,
    batch: usize,
) -> Result<RuleSource, CompiledError> {
    let invalid = |why: String| CompiledError::Invalid {
        path: dir.display().to_string(),
        why,
    };
    let text = crate::files::read_bounded(&dir.join(HEADER_FILE), 1 << 30).map_err(io_err(dir))?;
    let h: Header =
        serde_json::from_slice(&text).map_err(|e| invalid(format!("{HEADER_FILE}: {e}")))?;
    if h.format != FORMAT || h.version != VERSION {
        return Err(invalid(format!(
            "it is {} version {}; this pff reads {FORMAT} version {VERSION}",
            h.format, h.version
        )));
    }
    if h.digest != digest {
        return Err(invalid(format!(
            "it was compiled from other rules (digest {}, these {digest})",
            h.digest
        )));
    }
    let store_dir = dir.join("store");
    let index_path = store_dir.join("index");
    let index = crate::files::read_bounded(&index_path, u64::from(h.layout.count) * 12 + 1)
        .map_err(io_err(&index_path))?;
    let got = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&index));
    if got != h.index_digest {
        return Err(invalid(format!(
            "its index is not the one compiled (digest {got}, recorded {})",
            h.index_digest
        )));
    }
    let data_len = fs::metadata(store_dir.join("data"))
        .map_err(io_err(&store_dir))?
        .len();
    if data_len != h.data_len {
        return Err(invalid(format!(
            "its data file holds {data_len} bytes, not the {} compiled",
            h.data_len
        )));
    }
    let mut symbols = Symbols::default();
    for r in &h.relations {
        symbols.relations.intern(r);
    }
    for e in &h.entities {
        symbols.entities.intern(e);
    }
    if symbols.relations.len() != h.relations.len() || symbols.entities.len() != h.entities.len() {
        return Err(invalid("a name is listed twice".into()));
    }
    let store = RuleStore::open_kept(&store_dir, h.layout, index).map_err(io_err(&store_dir))?;
    // Rule ids name the files as they are given now (the same rules may have been compiled
    // under other names): what reading the text would give.
    let sources: Vec<String> = paths
        .iter()
        .map(|p| p.as_ref().display().to_string())
        .collect();
    if sources.len() != h.sources.len() {
        return Err(invalid(format!(
            "it was compiled from {} rules files, not {}",
            h.sources.len(),
            sources.len()
        )));
    }
    let set = RuleSet {
        source: sources.join(", "),
        sources,
        symbols: std::sync::Arc::new(symbols),
        rules: Vec::new(),
        without_counts: h.without_counts,
        compiled_in: Some(dir.to_path_buf()),
    };
    Ok(RuleSource::compiled(
        paths,
        set,
        store,
        h.per_relation,
        Priors::from_entries(
            &h.priors
                .iter()
                .map(|&(rel, c, object, bits)| (rel, c, object, f64::from_bits(bits)))
                .collect::<Vec<_>>(),
        ),
        batch,
    ))
}

/// Where compiled rule sets are cached: `$PFF_CACHE_DIR`, else `$XDG_CACHE_HOME/pff`, else
/// `$HOME/.cache/pff` (`None` without any of them).
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("PFF_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("pff")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("pff")))
}

/// The rules of `paths` kept by `filter`, from the compiled set cached under `cache` for their
/// digest; compiled into it first when there is none and `compile` says so (else `None`). An
/// entry that is not whole (or of another format) is moved aside (`<digest>.bad-<pid>`) and
/// compiled again; two processes compiling the same rules at once each compile into a folder
/// of their own, and the first to rename it into place wins (the other uses it).
pub fn open_cached<P: AsRef<Path>>(
    paths: &[P],
    filter: Filter,
    batch: usize,
    cache: &Path,
    compile_missing: bool,
) -> Result<Option<RuleSource>, CompiledError> {
    let digest = digest(paths, &filter).map_err(|source| RulesError::Io {
        path: paths
            .iter()
            .map(|p| p.as_ref().display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        source,
    })?;
    let root = cache.join("rules");
    let entry = root.join(&digest);
    if entry.is_dir() {
        match open(&entry, paths, &digest, batch) {
            Ok(source) => return Ok(Some(source)),
            Err(CompiledError::Rules(e)) => return Err(e.into()),
            Err(_) => {
                let aside = root.join(format!("{digest}.bad-{}", std::process::id()));
                fs::rename(&entry, &aside).map_err(io_err(&entry))?;
            }
        }
    }
    if !compile_missing {
        return Ok(None);
    }
    fs::create_dir_all(&root).map_err(io_err(&root))?;
    let tmp = crate::scratch::new_dir(&root, ".pff-tmp-").map_err(io_err(&root))?;
    if let Err(e) = compile(paths, filter, &tmp, &digest) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if fs::rename(&tmp, &entry).is_err() {
        // Another process put the same rules in place first: ours goes, theirs is used.
        let _ = fs::remove_dir_all(&tmp);
    }
    open(&entry, paths, &digest, batch).map(Some)
}
