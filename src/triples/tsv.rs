//! `subject<TAB>relation<TAB>object` files: AnyBURL's training format.

use std::io::{BufRead, Write};

use super::{DataError, TripleSink};

/// Reads a triples file into `sink`. Names are taken verbatim (they are already in the
/// escaped form); blank lines are skipped; CRLF line ends are accepted.
pub fn read(
    path: &str,
    mut reader: impl BufRead,
    sink: &mut impl TripleSink,
) -> Result<(), DataError> {
    let mut buf = Vec::with_capacity(256);
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = crate::lines::read_line_bounded(&mut reader, &mut buf, crate::lines::MAX_RULE_LINE)
            .map_err(|e| {
                if crate::lines::is_too_long(&e) {
                    DataError::Line {
                        path: path.to_string(),
                        line: line_no + 1,
                        message: e.to_string(),
                    }
                } else {
                    DataError::io(path, e)
                }
            })?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let mut bytes = buf.as_slice();
        if let Some(b) = bytes.strip_suffix(b"\n") {
            bytes = b;
        }
        if let Some(b) = bytes.strip_suffix(b"\r") {
            bytes = b;
        }
        if line_no == 1
            && let Some(b) = bytes.strip_prefix("\u{feff}".as_bytes())
        {
            bytes = b;
        }
        let line = std::str::from_utf8(bytes).map_err(|e| DataError::Line {
            path: path.to_string(),
            line: line_no,
            message: format!("invalid UTF-8 at column {}", e.valid_up_to() + 1),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(s), Some(r), Some(o), None) => sink.triple(s, r, o),
            _ => {
                return Err(DataError::Line {
                    path: path.to_string(),
                    line: line_no,
                    message: format!(
                        "expected 3 TAB-separated fields (subject, relation, object), found {}",
                        line.split('\t').count()
                    ),
                });
            }
        }
    }
}

/// Writes triples as AnyBURL training lines. Names must already be escaped.
pub fn write<'a>(
    out: &mut impl Write,
    triples: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> std::io::Result<usize> {
    let mut n = 0;
    for (s, r, o) in triples {
        writeln!(out, "{s}\t{r}\t{o}")?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_with_crlf_and_blank_lines() {
        let mut out: Vec<(String, String, String)> = Vec::new();
        read("t.tsv", &b"a\tr\tb\r\n\n c d \tr\t e\n"[..], &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].0, " c d ");
    }

    #[test]
    fn wrong_field_count_names_file_and_line() {
        let mut out: Vec<(String, String, String)> = Vec::new();
        let e = read("t.tsv", &b"a\tr\tb\na\tb\n"[..], &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.tsv:2: expected 3 TAB-separated fields (subject, relation, object), found 2"
        );
        let e = read("t.tsv", &b"a\tr\t\xff\n"[..], &mut out).unwrap_err();
        assert!(e.to_string().starts_with("t.tsv:1: invalid UTF-8"));
    }

    #[test]
    fn writes_lines() {
        let mut buf = Vec::new();
        write(&mut buf, [("a", "r", "b")]).unwrap();
        assert_eq!(buf, b"a\tr\tb\n");
    }
}
