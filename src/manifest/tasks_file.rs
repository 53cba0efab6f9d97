//! `tasks_file:` — a manifest's task list in a file of its own, as operators keep their
//! nightly lists: one key a line (`.txt` or any other name), CSV with a header naming the key
//! column (`msisdn`, `key` or `id`) and optionally a `source` column, or JSON Lines objects
//! with `msisdn` (or `key`/`id`) and optionally `source` and `payload`. The file is read line
//! by line (each line bounded); blank lines and, in text files, `#` comments are skipped.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::lines::read_line_bounded;

/// Longest line of a tasks file.
const MAX_LINE: usize = 1 << 20;

/// One task as the file gives it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FileTask {
    /// 1-based line in the file.
    pub line: usize,
    pub key: String,
    pub source: Option<String>,
    pub payload: Option<serde_json::Value>,
}

/// The kinds of tasks file, by extension.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Csv,
    JsonLines,
}

/// How the key of each task is found in the tasks file at `path`, for `--dry-run`: the CSV
/// header's key column, JSON Lines' preference, or a key a line.
pub fn key_rule(path: &Path) -> String {
    match kind_of(path) {
        Kind::Csv => {
            let mut lines = TaskLines::new(
                path,
                match File::open(path) {
                    Ok(f) => f,
                    Err(e) => return format!("unreadable ({e})"),
                },
            );
            // Reading the first task settles the header's columns.
            let _ = lines.next_line();
            match &lines.columns {
                Some(c) => format!("CSV, key column {} of the header", c.key + 1),
                None => "CSV without a usable header".to_string(),
            }
        }
        Kind::JsonLines => "JSON Lines, key msisdn, else key, else id".to_string(),
        Kind::Text => "one key a line".to_string(),
    }
}

fn kind_of(path: &Path) -> Kind {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => Kind::Csv,
        Some("jsonl" | "ndjson") => Kind::JsonLines,
        _ => Kind::Text,
    }
}

/// The columns of a CSV header: the key's and the source's.
struct Columns {
    key: usize,
    source: Option<usize>,
}

/// The key's name, by preference, in a CSV header and in a JSON Lines object alike: `msisdn`
/// if present, else `key`, else `id`.
pub const KEY_NAMES: [&str; 3] = ["msisdn", "key", "id"];

/// What a line of a tasks file holds: a task, or why it is not one (its line, the message).
pub(super) type Line = Result<FileTask, (usize, String)>;

/// A tasks file read line by line: each call to [`TaskLines::next_line`] gives the next task
/// or bad line; blank lines, comments and the CSV header are skipped. Nothing but the current
/// line is held.
pub(super) struct TaskLines {
    kind: Kind,
    reader: BufReader<File>,
    buf: Vec<u8>,
    line: usize,
    columns: Option<Columns>,
    /// A CSV file without a usable header: nothing more can be read.
    dead: bool,
}

impl TaskLines {
    /// Opens `file` (`path` names its kind).
    pub(super) fn new(path: &Path, file: File) -> Self {
        TaskLines {
            kind: kind_of(path),
            reader: BufReader::with_capacity(1 << 16, file),
            buf: Vec::new(),
            line: 0,
            columns: None,
            dead: false,
        }
    }

    /// The next task or bad line; `None` at the end of the file.
    pub(super) fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            if self.dead {
                return Ok(None);
            }
            self.buf.clear();
            let n = read_line_bounded(&mut self.reader, &mut self.buf, MAX_LINE)?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let line = self.line;
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                return Ok(Some(Err((line, "not UTF-8".into()))));
            };
            // A byte order mark (spreadsheet exports write one) is not part of the first key.
            let text = if line == 1 {
                text.strip_prefix('\u{feff}').unwrap_or(text)
            } else {
                text
            };
            let text = text.trim_end_matches(['\n', '\r']).trim();
            if text.is_empty() || (self.kind == Kind::Text && text.starts_with('#')) {
                continue;
            }
            let task = match self.kind {
                Kind::Text => Ok(FileTask {
                    line,
                    key: text.to_string(),
                    source: None,
                    payload: None,
                }),
                Kind::Csv => match &self.columns {
                    None => {
                        match header(text) {
                            Ok(c) => self.columns = Some(c),
                            Err(e) => {
                                // Without a header no line can be read.
                                self.dead = true;
                                return Ok(Some(Err((line, e.to_string()))));
                            }
                        }
                        continue;
                    }
                    Some(c) => csv_task(text, c, line),
                },
                Kind::JsonLines => json_task(text, line),
            };
            return Ok(Some(match task {
                Ok(t) if t.key.is_empty() => Err((line, "empty task key".into())),
                Ok(t) => Ok(t),
                Err(e) => Err((line, e.to_string())),
            }));
        }
    }
}

/// Reads `path`, handing each task to `each` and each bad line's message to `bad` (as
/// `line: message`). An unreadable file is an error.
pub(super) fn read(
    path: &Path,
    mut each: impl FnMut(FileTask),
    mut bad: impl FnMut(usize, String),
) -> std::io::Result<()> {
    let mut lines = TaskLines::new(path, File::open(path)?);
    while let Some(l) = lines.next_line()? {
        match l {
            Ok(t) => each(t),
            Err((line, message)) => bad(line, message),
        }
    }
    Ok(())
}

/// Why a line of a tasks file is not a task.
#[derive(Debug, thiserror::Error)]
pub(super) enum LineError {
    #[error(
        "the CSV header `{0}` names no key column; name it msisdn, key or id (and optionally add \
         a source column)"
    )]
    NoKeyColumn(String),
    #[error("quoted CSV fields are not supported: keys and sources hold no commas")]
    Quoted,
    #[error("no key: the line has {0} fields")]
    NoKey(usize),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("each line must be a JSON object with a msisdn (or key/id)")]
    NotAnObject,
    #[error("no msisdn (or key/id) in the object")]
    NoKeyField,
    #[error("the key must be a string or a number")]
    KeyType,
    #[error("`source` must be a string")]
    SourceType,
}

fn header(text: &str) -> Result<Columns, LineError> {
    let names: Vec<String> = text
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    // By preference, as in a JSON Lines object: not by the header's order.
    let key = KEY_NAMES
        .iter()
        .find_map(|k| names.iter().position(|n| n == k))
        .ok_or_else(|| LineError::NoKeyColumn(text.to_string()))?;
    let source = names.iter().position(|n| n == "source");
    Ok(Columns { key, source })
}

fn csv_task(text: &str, c: &Columns, line: usize) -> Result<FileTask, LineError> {
    if text.contains('"') {
        return Err(LineError::Quoted);
    }
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let key = fields.get(c.key).ok_or(LineError::NoKey(fields.len()))?;
    let source = c
        .source
        .and_then(|i| fields.get(i))
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string());
    Ok(FileTask {
        line,
        key: key.to_string(),
        source,
        payload: None,
    })
}

fn json_task(text: &str, line: usize) -> Result<FileTask, LineError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| LineError::Json(e.to_string()))?;
    let obj = v.as_object().ok_or(LineError::NotAnObject)?;
    let key = KEY_NAMES
        .iter()
        .find_map(|k| obj.get(*k))
        .ok_or(LineError::NoKeyField)?;
    let key = match key {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(LineError::KeyType),
    };
    let source = match obj.get("source") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(LineError::SourceType),
    };
    Ok(FileTask {
        line,
        key,
        source,
        payload: obj.get("payload").cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(name: &str, text: &str) -> (Vec<FileTask>, Vec<(usize, String)>) {
        let d = tempfile::TempDir::new().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        read(&p, |t| ok.push(t), |l, m| bad.push((l, m))).unwrap();
        (ok, bad)
    }

    fn t(line: usize, key: &str, source: Option<&str>) -> FileTask {
        FileTask {
            line,
            key: key.into(),
            source: source.map(Into::into),
            payload: None,
        }
    }

    #[test]
    fn one_key_a_line_with_comments_and_blank_lines() {
        let (ok, bad) = read_all(
            "tasks.txt",
            "\u{feff}# tonight\n5511900000001\n\n  5511900000002 \r\n",
        );
        assert_eq!(
            ok,
            vec![t(2, "5511900000001", None), t(4, "5511900000002", None)]
        );
        assert!(bad.is_empty());
    }

    #[test]
    fn csv_with_a_header_naming_the_columns() {
        let (ok, bad) = read_all(
            "tasks.csv",
            "source,MSISDN\nrecs/a.json,a\n,b\n\"x\",c\nonly\n",
        );
        assert_eq!(ok, vec![t(2, "a", Some("recs/a.json")), t(3, "b", None)]);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert_eq!(bad[0].0, 4);
        assert!(bad[0].1.contains("quoted"));
        assert_eq!(bad[1].0, 5);
        let (ok, _) = read_all("bom.csv", "\u{feff}msisdn\n1\n");
        assert_eq!(ok, vec![t(2, "1", None)]);
        let (ok, bad) = read_all("tasks.csv", "phone\n1\n");
        assert!(ok.is_empty());
        assert!(bad[0].1.contains("names no key column"), "{bad:?}");
    }

    #[test]
    fn json_lines_with_keys_sources_and_payloads() {
        let (ok, bad) = read_all(
            "tasks.jsonl",
            "{\"msisdn\":\"a\",\"source\":\"recs/a.json\",\"payload\":{\"n\":1}}\n\
             {\"key\":5511}\n[1]\n{\"id\":true}\n{bad\n",
        );
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].source.as_deref(), Some("recs/a.json"));
        assert_eq!(ok[0].payload, Some(serde_json::json!({"n": 1})));
        assert_eq!(ok[1].key, "5511");
        let lines: Vec<usize> = bad.iter().map(|b| b.0).collect();
        assert_eq!(lines, vec![3, 4, 5]);
    }
}
