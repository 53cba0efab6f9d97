//! Reading AnyBURL rules files: one rule a line, streamed, every bad line reported.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use super::parse::parse_rule_text;
use super::{Names, Rule, RuleSet, Symbols};

/// How many bad lines an error message lists before it summarises the rest.
const MAX_LISTED_ERRORS: usize = 20;

/// One line of a rules file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) where the problem starts.
    pub column: usize,
    /// What is wrong, and the fix when there is one.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Why a rules file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules file {path}")]
    /// A rules file could not be read.
    Io {
        /// The rules file.
        path: String,
        #[source]
        /// The operating system's error.
        source: io::Error,
    },
    #[error("cannot write to the output folder {dir} (rules are filed there while they are used)")]
    /// The rules could not be filed on disk.
    Store {
        /// The folder they are filed in.
        dir: String,
        #[source]
        /// The operating system's error.
        source: io::Error,
    },
    /// A compiled rule set could not be read back.
    #[error(
        "the compiled rules in {dir} cannot be read ({source}); delete that folder (pff \
         compiles the rules again) or pass --no-cache"
    )]
    Compiled {
        /// The compiled rule set's folder.
        dir: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
    #[error(
        "rules file {path} changed while pff was using it ({detail}); results would mix two \
         rule sets: run again (with --resume to keep the finished tasks only if the rules are \
         back as they were)"
    )]
    /// A rules file changed while it was in use.
    Changed {
        /// The rules file.
        path: String,
        /// What differs.
        detail: String,
    },
    #[error("rules file {path} is a directory; pass the rules file AnyBURL wrote inside it")]
    /// A folder was given as a rules file.
    IsDirectory {
        /// The path given.
        path: String,
    },
    #[error(
        "rules file {path} holds no rules (it is empty or has only comments); \
         pass the file AnyBURL wrote (its PATH_OUTPUT)"
    )]
    /// A rules file holds no rule.
    Empty {
        /// The rules file.
        path: String,
    },
    #[error("{}", bad_lines_message(.path, .errors, *.total))]
    /// Lines that are not rules (all of them are reported, the first few in full).
    BadLines {
        /// The rules file.
        path: String,
        /// The first bad lines (at most a few dozen are kept).
        errors: Vec<LineError>,
        /// How many lines were bad in all.
        total: usize,
    },
}

fn bad_lines_message(path: &str, errors: &[LineError], total: usize) -> String {
    use fmt::Write;
    let mut s = format!(
        "rules file {path} has {total} bad line{}; fix or remove {} (each rule is \
         `predicted<TAB>correct<TAB>confidence<TAB>head <= body` or the rule text alone):",
        if total == 1 { "" } else { "s" },
        if total == 1 { "it" } else { "them" },
    );
    for e in errors.iter().take(MAX_LISTED_ERRORS) {
        let _ = write!(s, "\n  {path}:{}:{}: {}", e.line, e.column, e.message);
    }
    if total > MAX_LISTED_ERRORS {
        let _ = write!(s, "\n  ... and {} more", total - MAX_LISTED_ERRORS);
    }
    s
}

/// A rule line split: predicted, correct, confidence, the rule's text, where the text starts.
type Counted<'l> = (Option<u64>, Option<u64>, f64, &'l str, usize);

/// A rule line's counts (`predicted TAB correct TAB confidence TAB rule`, as AnyBURL writes
/// them; none for a plain rule, taken as certain), its rule text and the byte where the text
/// starts. Counts separated by spaces are refused with the fix.
fn split_counts<'l>(
    line: &'l str,
    fail: &impl Fn(usize, String) -> LineError,
) -> Result<Counted<'l>, LineError> {
    Ok(if line.contains('\t') {
        let mut fields = line.splitn(4, '\t');
        let (Some(p), Some(c), Some(conf), Some(text)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(fail(
                0,
                format!(
                    "expected 4 TAB-separated fields (predicted, correct, confidence, rule), found {}",
                    line.split('\t').count()
                ),
            ));
        };
        let count = |f: &str, at: usize, what: &str| {
            f.trim().parse::<u64>().map_err(|_| {
                fail(
                    at,
                    format!("{what} count `{f}` is not a non-negative integer"),
                )
            })
        };
        let predicted = count(p, 0, "predicted")?;
        let correct = count(c, p.len() + 1, "correct")?;
        let conf_at = p.len() + c.len() + 2;
        let confidence = conf
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| (0.0..=1.0).contains(x))
            .ok_or_else(|| {
                fail(
                    conf_at,
                    format!("confidence `{conf}` is not a number in [0, 1]"),
                )
            })?;
        (
            Some(predicted),
            Some(correct),
            confidence,
            text,
            conf_at + conf.len() + 1,
        )
    } else {
        // `55 53 0.96 name(X,a) <= ...`: counts separated by spaces (a reformatted file).
        let mut words = line.split_whitespace();
        let numbers = (words.next(), words.next(), words.next());
        if let (Some(p), Some(c), Some(conf)) = numbers
            && p.parse::<u64>().is_ok()
            && c.parse::<u64>().is_ok()
            && conf.parse::<f64>().is_ok()
        {
            return Err(fail(
                p.len(),
                "the counts are separated by spaces: AnyBURL writes predicted, correct, \
                 confidence and the rule separated by TABs (was the file reformatted?)"
                    .into(),
            ));
        }
        (None, None, 1.0, line, 0)
    })
}

/// Parses one line (without its line end). `Ok(None)` for blank lines and `#` comments.
pub fn parse_rule_line(
    line: &str,
    line_no: usize,
    symbols: &mut impl Names,
) -> Result<Option<Rule>, LineError> {
    let col = |byte: usize| line[..byte.min(line.len())].chars().count() + 1;
    let fail = |byte: usize, message: String| LineError {
        line: line_no,
        column: col(byte),
        message,
    };
    if line.trim().is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (predicted, correct, confidence, text, text_at) = split_counts(line, &fail)?;
    let (head, body) = parse_rule_text(text).map_err(|e| fail(text_at + e.offset, e.message))?;
    let parts =
        Rule::from_parsed(head, &body, symbols).map_err(|m| fail(text_at, m.to_string()))?;
    Ok(Some(Rule {
        file: 0,
        line: u32::try_from(line_no).map_err(|_| fail(0, "more than 4 billion lines".into()))?,
        predicted,
        correct,
        confidence,
        text: text.into(),
        head: parts.head,
        body: parts.body,
        zero_side: parts.zero_side,
        vars: parts.vars,
        consts: parts.consts,
    }))
}

/// Streams the rules of a reader, one at a time, interning into its own [`Symbols`].
/// Bad lines come out as `Err` and reading goes on; an I/O error ends the stream and is kept
/// in [`RuleLines::io_error`].
pub struct RuleLines<R, N = Symbols> {
    reader: R,
    buf: Vec<u8>,
    line_no: usize,
    /// The names interned (or looked up) so far.
    pub symbols: N,
    /// The read error that ended the stream, if one did.
    pub io_error: Option<io::Error>,
    /// An overlong line ended the reading.
    ended: bool,
}

impl<R: BufRead> RuleLines<R> {
    /// Rules of `reader`, interned into new symbols.
    pub fn new(reader: R) -> Self {
        Self::with_symbols(reader, Symbols::default())
    }
}

impl<R: BufRead, N: Names> RuleLines<R, N> {
    /// Interns into `symbols` (to read several files into one rule set), or looks names up in
    /// a [`super::Frozen`] table (to read a rule set again in batches).
    pub fn with_symbols(reader: R, symbols: N) -> Self {
        Self {
            reader,
            buf: Vec::with_capacity(256),
            line_no: 0,
            symbols,
            io_error: None,
            ended: false,
        }
    }
}

impl<R: BufRead, N: Names> Iterator for RuleLines<R, N> {
    type Item = Result<Rule, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            if self.ended {
                return None;
            }
            match crate::lines::read_line_bounded(
                &mut self.reader,
                &mut self.buf,
                crate::lines::MAX_RULE_LINE,
            ) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if crate::lines::is_too_long(&e) => {
                    // Nothing after it can be trusted to be lines: stop here.
                    self.ended = true;
                    self.line_no += 1;
                    return Some(Err(LineError {
                        line: self.line_no,
                        column: 1,
                        message: format!(
                            "{e}; a rules file holds one rule per line, as AnyBURL writes them"
                        ),
                    }));
                }
                Err(e) => {
                    self.io_error = Some(e);
                    return None;
                }
            }
            self.line_no += 1;
            let mut bytes = self.buf.as_slice();
            if let Some(b) = bytes.strip_suffix(b"\n") {
                bytes = b;
            }
            if let Some(b) = bytes.strip_suffix(b"\r") {
                bytes = b;
            }
            if self.line_no == 1
                && let Some(b) = bytes.strip_prefix("\u{feff}".as_bytes())
            {
                bytes = b;
            }
            let line = match std::str::from_utf8(bytes) {
                Ok(l) => l,
                Err(e) => {
                    return Some(Err(LineError {
                        line: self.line_no,
                        column: e.valid_up_to() + 1,
                        message: "invalid UTF-8 (rules files are UTF-8 text)".into(),
                    }));
                }
            };
            match parse_rule_line(line, self.line_no, &mut self.symbols) {
                Ok(None) => continue,
                Ok(Some(rule)) => return Some(Ok(rule)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Reads a whole rules source; all bad lines are collected into one error.
pub(crate) fn read_rules(source: &str, reader: impl BufRead) -> Result<RuleSet, RulesError> {
    let mut set = RuleSet::default();
    append_rules(&mut set, source, reader)?;
    Ok(set)
}

/// Reads one more rules source into `set`, sharing its symbols.
fn append_rules(set: &mut RuleSet, source: &str, reader: impl BufRead) -> Result<(), RulesError> {
    let mut rules = Vec::new();
    scan_rules(set, source, reader, |r| rules.push(r))?;
    set.rules.extend(rules);
    Ok(())
}

/// Reads one more rules source, interning its names into `set.symbols` and adding it to
/// `set.sources`, and hands each rule to `on_rule` (which decides what to keep). Every bad
/// line is collected into one error; a source without rules is an error.
pub(crate) fn scan_rules(
    set: &mut RuleSet,
    source: &str,
    reader: impl BufRead,
    mut on_rule: impl FnMut(Rule),
) -> Result<(), RulesError> {
    let file = u16::try_from(set.sources.len()).map_err(|_| RulesError::Io {
        path: source.to_string(),
        source: io::Error::other("more than 65,535 rules files"),
    })?;
    let symbols = std::sync::Arc::unwrap_or_clone(std::mem::take(&mut set.symbols));
    let mut lines = RuleLines::with_symbols(reader, symbols);
    let mut errors = Vec::new();
    let mut total = 0;
    let mut read = 0usize;
    for item in lines.by_ref() {
        match item {
            Ok(mut rule) => {
                rule.file = file;
                read += 1;
                if rule.predicted.is_none() {
                    set.without_counts += 1;
                }
                if total == 0 {
                    on_rule(rule);
                }
            }
            Err(e) => {
                total += 1;
                if errors.len() < MAX_LISTED_ERRORS {
                    errors.push(e);
                }
            }
        }
    }
    set.symbols = std::sync::Arc::new(lines.symbols);
    if let Some(source_err) = lines.io_error {
        return Err(RulesError::Io {
            path: source.to_string(),
            source: source_err,
        });
    }
    if total > 0 {
        return Err(RulesError::BadLines {
            path: source.to_string(),
            errors,
            total,
        });
    }
    if read == 0 {
        return Err(RulesError::Empty {
            path: source.to_string(),
        });
    }
    set.sources.push(source.to_string());
    set.source = set.sources.join(", ");
    Ok(())
}

/// Loads a rules file. Rule ids use `path` as given.
pub fn load_rules(path: &Path) -> Result<RuleSet, RulesError> {
    load_rules_many(&[path])
}

/// Loads several rules files into one rule set; rule ids name each rule's own file.
pub fn load_rules_many<P: AsRef<Path>>(paths: &[P]) -> Result<RuleSet, RulesError> {
    let mut set = RuleSet::default();
    for path in paths {
        let (shown, reader) = open_rules_file(path.as_ref())?;
        append_rules(&mut set, &shown, reader)?;
    }
    Ok(set)
}

/// Opens a rules file for reading: its name as shown in messages and a buffered reader.
pub(crate) fn open_rules_file(path: &Path) -> Result<(String, BufReader<File>), RulesError> {
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(RulesError::IsDirectory { path: shown });
    }
    let file = File::open(path).map_err(|source| RulesError::Io {
        path: shown.clone(),
        source,
    })?;
    Ok((shown, BufReader::with_capacity(1 << 20, file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &[u8]) -> Result<RuleSet, RulesError> {
        read_rules("r.txt", text)
    }

    #[test]
    fn anyburl_lines_and_bare_lines() {
        let rs = load(
            b"1412\t41\t0.02903682719546742\tstatus(X,A1) <= id(A,X), id(A,F1)\n\
              # a comment\n\
              \n\
              h(X,Y) <= b(X,Y)\r\n\
              10\t5\t9.765625E-4\th(X,c) <= ",
        )
        .unwrap();
        assert_eq!(rs.rules.len(), 3);
        assert_eq!(rs.rules[0].line, 1);
        assert_eq!(rs.rules[0].predicted, Some(1412));
        assert_eq!(rs.rules[1].line, 4);
        assert_eq!(&*rs.rules[1].text, "h(X,Y) <= b(X,Y)");
        assert_eq!(rs.rules[2].line, 5);
        assert!((rs.rules[2].confidence - 9.765625e-4).abs() < 1e-12);
        assert_eq!(rs.rule_id(&rs.rules[2]), "r.txt:5");
    }

    #[test]
    fn several_files_share_symbols_and_keep_their_ids() {
        let dir = tempfile::TempDir::new().unwrap();
        let a = dir.path().join("a.rules");
        let b = dir.path().join("b.rules");
        std::fs::write(&a, "h(X,c) <= b(X,A)\n").unwrap();
        std::fs::write(&b, "# b\ng(X,c) <= b(X,A)\n").unwrap();
        let rs = load_rules_many(&[&a, &b]).unwrap();
        assert_eq!(rs.rules.len(), 2);
        assert_eq!(rs.rule_id(&rs.rules[1]), format!("{}:2", b.display()));
        assert_eq!(rs.symbols.entities.len(), 1, "`c` interned once");
        assert_eq!(rs.sources.len(), 2);
    }

    #[test]
    fn bom_is_ignored() {
        let rs = load("\u{feff}h(X,c) <= \n".as_bytes()).unwrap();
        assert_eq!(rs.rules.len(), 1);
    }

    #[test]
    fn all_bad_lines_reported_with_line_and_column() {
        let err = load(
            b"x\t1\t0.5\th(X,Y) <= b(X,Y)\n\
              1\t1\t1.5\th(X,Y) <= b(X,Y)\n\
              1\t1\t0.5\th(X,Y) <= b(X,A)\n\
              1\t1\t0.5\th(X,Y) <= b(X,Y\n\
              1\t1\th(X,Y) <= b(X,Y)\n\
              h(X,Y) <= \n\
              h(X,Y) <= b(X,Y)\n\
              \xff\xfe\n",
        )
        .unwrap_err();
        let RulesError::BadLines { errors, total, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*total, 7);
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 5, 6, 8]);
        assert_eq!(errors[0].column, 1);
        assert!(errors[1].message.contains("[0, 1]"));
        assert_eq!(errors[1].column, 5);
        assert!(
            errors[2].message.contains("head variable Y"),
            "{:?}",
            errors[2]
        );
        assert!(errors[4].message.contains("4 TAB-separated"));
        assert!(errors[5].message.contains("empty body"));
        assert!(errors[6].message.contains("UTF-8"));
        let msg = err.to_string();
        assert!(msg.contains("r.txt:2:5: confidence `1.5`"), "{msg}");
    }

    #[test]
    fn nan_and_negative_counts_rejected() {
        assert!(load(b"1\t1\tNaN\th(X,Y) <= b(X,Y)\n").is_err());
        assert!(load(b"-1\t1\t0.5\th(X,Y) <= b(X,Y)\n").is_err());
    }

    #[test]
    fn empty_and_comment_only_files_are_errors() {
        assert!(matches!(load(b""), Err(RulesError::Empty { .. })));
        assert!(matches!(load(b"# only\n\n"), Err(RulesError::Empty { .. })));
    }

    #[test]
    fn error_list_is_capped_but_counted() {
        let text = "bad line\n".repeat(100);
        let err = load(text.as_bytes()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("100 bad lines"));
        assert!(msg.contains("... and 80 more"));
    }
}
