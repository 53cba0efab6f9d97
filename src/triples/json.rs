//! JSON records to triples.
//!
//! pff parses JSON itself: the mapping needs numbers in their lexical form exactly as written
//! (`1e3` stays `1e3`, which general JSON libraries normalise), a duplicated key keeps its last
//! value, and a hostile document must get an error rather than overflow the stack, so nesting
//! is bounded by [`MAX_DEPTH`].

use std::borrow::Cow;

use super::DataError;

/// The deepest nesting of arrays and objects accepted (real records nest a dozen levels).
pub const MAX_DEPTH: usize = 512;

/// A parsed JSON value borrowing from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number in its lexical form.
    Num(&'a str),
    /// A string, borrowed when it has no escape.
    Str(Cow<'a, str>),
    /// An array.
    Arr(Vec<Json<'a>>),
    /// Keys in file order, each once (a duplicated key keeps its last value).
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl Json<'_> {
    /// The kind of value, for messages (`an array`, `a string`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Num(_) => "a number",
            Json::Str(_) => "a string",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }
}

/// A JSON syntax error at a byte offset of the parsed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl SyntaxError {
    /// 1-based line and column (in characters) of the error within `text`.
    pub fn line_column(&self, text: &[u8]) -> (usize, usize) {
        line_column(text, self.offset)
    }

    /// The error as a [`DataError`], with `first_line` the line number of `text`'s first line.
    pub fn into_data_error(self, path: &str, text: &[u8], first_line: usize) -> DataError {
        let (line, column) = self.line_column(text);
        DataError::Json {
            path: path.to_string(),
            line: first_line + line - 1,
            column,
            message: self.message,
        }
    }
}

fn line_column(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, col)
}

/// Parses one JSON document (a UTF-8 BOM at the start is skipped).
pub fn parse(text: &[u8]) -> Result<Json<'_>, SyntaxError> {
    let s = match std::str::from_utf8(text) {
        Ok(s) => s,
        Err(e) => {
            return Err(SyntaxError {
                offset: e.valid_up_to(),
                message: "invalid UTF-8 (JSON must be UTF-8)".into(),
            });
        }
    };
    let start = if s.starts_with('\u{feff}') { 3 } else { 0 };
    let mut p = Parser {
        s,
        b: s.as_bytes(),
        i: start,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.b.len() {
        return p.fail("unexpected characters after the JSON value");
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn fail<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            offset: self.i,
            message: message.into(),
        })
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, SyntaxError> {
        match self.b.get(self.i) {
            None => self.fail("unexpected end of input, expected a value"),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => {
                let word: String = self.s[self.i..].chars().take(12).collect();
                if word.starts_with("NaN")
                    || word.starts_with("Infinity")
                    || word.starts_with("-Infinity")
                {
                    self.fail(format!(
                        "`{word}` is not JSON (NaN and Infinity are not allowed)"
                    ))
                } else {
                    self.fail(format!(
                        "expected a value, found `{}`",
                        word.chars().next().unwrap_or(' ')
                    ))
                }
            }
        }
    }

    fn literal(&mut self, word: &str, v: Json<'a>) -> Result<Json<'a>, SyntaxError> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            self.fail(format!("expected `{word}`"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Json<'a>, SyntaxError> {
        let start = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
            if self.s[self.i..].starts_with("Infinity") {
                return self.fail("`-Infinity` is not JSON");
            }
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.fail("expected a digit"),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.fail("expected a digit after the decimal point");
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.fail("expected a digit in the exponent");
            }
        }
        Ok(Json::Num(&self.s[start..self.i]))
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok());
        match h.and_then(|h| u32::from_str_radix(h, 16).ok()) {
            Some(v) => {
                self.i += 4;
                Ok(v)
            }
            None => self.fail("expected 4 hex digits after `\\u`"),
        }
    }

    fn string(&mut self) -> Result<Cow<'a, str>, SyntaxError> {
        self.i += 1; // opening quote
        let start = self.i;
        // Fast path: no escapes.
        loop {
            match self.b.get(self.i) {
                None => return self.fail("unterminated string"),
                Some(b'"') => {
                    let s = &self.s[start..self.i];
                    self.i += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(&c) if c < 0x20 => {
                    return self.fail("control character in a string (escape it)");
                }
                Some(_) => self.i += 1,
            }
        }
        let mut out = String::from(&self.s[start..self.i]);
        loop {
            match self.b.get(self.i) {
                None => return self.fail("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let Some(&e) = self.b.get(self.i) else {
                        return self.fail("unterminated escape");
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => {
                            self.i -= 1;
                            return self.fail("invalid escape");
                        }
                    }
                }
                Some(&c) if c < 0x20 => {
                    return self.fail("control character in a string (escape it)");
                }
                Some(_) => {
                    let rest = &self.s[self.i..];
                    let n = rest.find(['"', '\\']).unwrap_or(rest.len());
                    let chunk = &rest[..n];
                    if let Some(p) = chunk.bytes().position(|c| c < 0x20) {
                        self.i += p;
                        return self.fail("control character in a string (escape it)");
                    }
                    out.push_str(chunk);
                    self.i += n;
                }
            }
        }
    }

    /// The character of a `\uXXXX` escape (its `\u` just read), a surrogate pair taken
    /// whole; a lone surrogate is an error at the escape.
    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let at = self.i - 2;
        let hi = self.hex4()?;
        let c = if (0xD800..0xDC00).contains(&hi) {
            if !self.s[self.i..].starts_with("\\u") {
                self.i = at;
                return self.fail("lone surrogate in a `\\u` escape");
            }
            self.i += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                self.i = at;
                return self.fail("lone surrogate in a `\\u` escape");
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(c).map_or_else(
            || {
                self.i = at;
                self.fail("lone surrogate in a `\\u` escape")
            },
            Ok,
        )
    }

    fn enter(&self, depth: usize) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            return self.fail(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, SyntaxError> {
        self.enter(depth)?;
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return self.fail("expected `,` or `]` in an array"),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, SyntaxError> {
        self.enter(depth)?;
        self.i += 1;
        let mut pairs: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
        let mut index: Option<rustc_hash::FxHashMap<Cow<'a, str>, usize>> = None;
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Json::Obj(pairs));
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return self.fail("expected a key in double quotes");
            }
            let key = self.string()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return self.fail("expected `:` after a key");
            }
            self.i += 1;
            self.ws();
            let value = self.value(depth)?;
            // A duplicated key keeps its last value.
            let existing = match &mut index {
                Some(ix) => ix.get(&key).copied(),
                None => pairs.iter().position(|(k, _)| *k == key),
            };
            match existing {
                Some(at) => pairs[at].1 = value,
                None => {
                    if let Some(ix) = &mut index {
                        ix.insert(key.clone(), pairs.len());
                    }
                    pairs.push((key, value));
                    if index.is_none() && pairs.len() == 16 {
                        index = Some(
                            pairs
                                .iter()
                                .enumerate()
                                .map(|(i, (k, _))| (k.clone(), i))
                                .collect(),
                        );
                    }
                }
            }
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Obj(pairs));
                }
                _ => return self.fail("expected `,` or `}` in an object"),
            }
        }
    }
}

/// The records of a `.json` document: the elements of a top-level array, else the document.
pub fn records<'d, 'a>(doc: &'d Json<'a>) -> Vec<&'d Json<'a>> {
    match doc {
        Json::Arr(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// The records of a JSON Lines source: `(record index, 1-based line, the line's bytes)` for each
/// non-blank line (the record index counts records, not lines).
pub struct JsonLines<R> {
    reader: R,
    line: usize,
    index: usize,
    /// An error ended the reading.
    ended: bool,
}

impl<R: std::io::BufRead> JsonLines<R> {
    /// Records of `reader`, one per non-blank line.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            line: 0,
            index: 0,
            ended: false,
        }
    }
}

impl<R: std::io::BufRead> Iterator for JsonLines<R> {
    type Item = std::io::Result<(usize, usize, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut buf = Vec::new();
            if self.ended {
                return None;
            }
            match crate::lines::read_line_bounded(
                &mut self.reader,
                &mut buf,
                crate::lines::MAX_RECORD_LINE,
            ) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    self.ended = true;
                    let line = self.line + 1;
                    return Some(Err(if crate::lines::is_too_long(&e) {
                        std::io::Error::new(e.kind(), format!("line {line}: {e}"))
                    } else {
                        e
                    }));
                }
            }
            self.line += 1;
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.index += 1;
            return Some(Ok((self.index - 1, self.line, buf)));
        }
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
