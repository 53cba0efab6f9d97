//! A rule as a binary record of the rule store ([`super::store`]): [`encode`], [`decode`]
//! (with or without its text), [`decode_shape`] (only what a record's candidate check reads),
//! and [`each_record`] over a data file.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::parse::MAX_BODY_ATOMS;
use super::{Atom, EntId, Rule, Side, Term};

const VAR_BIT: u32 = 1 << 31;

fn term_code(t: Term) -> u32 {
    match t {
        Term::Var(v) => VAR_BIT | v as u32,
        Term::Const(c) => c,
    }
}

fn term_of(code: u32) -> Term {
    if code & VAR_BIT != 0 {
        Term::Var((code & 0xff) as u8)
    } else {
        Term::Const(code)
    }
}

/// Appends rule `index`'s record (its length first) to `out`.
pub(super) fn encode(index: u32, r: &Rule, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&r.file.to_le_bytes());
    out.extend_from_slice(&r.line.to_le_bytes());
    let side = match r.zero_side {
        None => 0u8,
        Some(Side::Subject) => 1,
        Some(Side::Object) => 2,
    };
    let counted = r.predicted.is_some() && r.correct.is_some();
    out.push(side | if counted { 4 } else { 0 });
    if counted {
        out.extend_from_slice(&r.predicted.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&r.correct.unwrap_or(0).to_le_bytes());
    }
    out.extend_from_slice(&r.confidence.to_le_bytes());
    out.push(r.body.len() as u8);
    for a in std::iter::once(&r.head).chain(r.body.iter()) {
        out.extend_from_slice(&a.rel.to_le_bytes());
        out.extend_from_slice(&term_code(a.s).to_le_bytes());
        out.extend_from_slice(&term_code(a.o).to_le_bytes());
    }
    out.push(r.vars.len() as u8);
    out.extend_from_slice(&r.vars);
    out.extend_from_slice(&(r.consts.len() as u32).to_le_bytes());
    for c in r.consts.iter() {
        out.extend_from_slice(&c.to_le_bytes());
    }
    out.extend_from_slice(&(r.text.len() as u32).to_le_bytes());
    out.extend_from_slice(r.text.as_bytes());
    let len = (out.len() - start + 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    let sum = checksum(&out[start..]);
    out.extend_from_slice(&sum.to_le_bytes());
}

/// A record's checksum: the low 32 bits of the xxh3 of its bytes before the checksum.
fn checksum(bytes: &[u8]) -> u32 {
    xxhash_rust::xxh3::xxh3_64(bytes) as u32
}

/// The record without its checksum, once the checksum matches: a record damaged on disk (a
/// compiled rule set's, or a store's) is an error, never a rule.
fn checked(record: &[u8]) -> io::Result<&[u8]> {
    let damaged = || io::Error::new(io::ErrorKind::InvalidData, "a filed rule record is damaged");
    let split = record.len().checked_sub(4).ok_or_else(damaged)?;
    let (body, sum) = record.split_at(split);
    let sum = u32::from_le_bytes(sum.try_into().map_err(|_| damaged())?);
    if checksum(body) != sum {
        return Err(damaged());
    }
    Ok(body)
}

/// Reads a record written by [`encode`].
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "truncated rule record"))?;
        self.at += n;
        Ok(s)
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> io::Result<u16> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().unwrap_or([0; 2]),
        ))
    }

    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or([0; 4]),
        ))
    }

    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or([0; 8]),
        ))
    }

    fn atom(&mut self) -> io::Result<Atom> {
        Ok(Atom {
            rel: self.u32()?,
            s: term_of(self.u32()?),
            o: term_of(self.u32()?),
        })
    }
}

/// The index, head and body of a record (no allocation).
pub(super) struct Shape {
    /// The rule's index in the whole rule set.
    pub(super) index: u32,
    pub(super) head: Atom,
    /// The body's atoms, the first `n_body` of them.
    pub(super) body: [Atom; MAX_BODY_ATOMS],
    pub(super) n_body: usize,
}

pub(super) fn decode_shape(record: &[u8]) -> io::Result<Shape> {
    let mut c = Cursor {
        b: checked(record)?,
        at: 4,
    };
    let index = c.u32()?;
    c.take(2 + 4)?;
    let flags = c.u8()?;
    if flags & 4 != 0 {
        c.take(16)?;
    }
    c.take(8)?;
    let n_body = c.u8()? as usize;
    if n_body > MAX_BODY_ATOMS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "rule record body too long",
        ));
    }
    let head = c.atom()?;
    let mut body = [head; MAX_BODY_ATOMS];
    for a in body.iter_mut().take(n_body) {
        *a = c.atom()?;
    }
    Ok(Shape {
        index,
        head,
        body,
        n_body,
    })
}

/// A whole record; `text: false` leaves the rule's text empty (checking does not need it).
pub(super) fn decode(record: &[u8], text: bool) -> io::Result<(u32, Rule)> {
    let mut c = Cursor {
        b: checked(record)?,
        at: 4,
    };
    let index = c.u32()?;
    let file = c.u16()?;
    let line = c.u32()?;
    let flags = c.u8()?;
    let (predicted, correct) = if flags & 4 != 0 {
        (Some(c.u64()?), Some(c.u64()?))
    } else {
        (None, None)
    };
    let confidence = f64::from_bits(c.u64()?);
    let n_body = c.u8()? as usize;
    let head = c.atom()?;
    let body = (0..n_body)
        .map(|_| c.atom())
        .collect::<io::Result<Box<[Atom]>>>()?;
    let n_vars = c.u8()? as usize;
    let vars: Box<[u8]> = c.take(n_vars)?.into();
    let n_consts = c.u32()? as usize;
    let consts = (0..n_consts)
        .map(|_| c.u32())
        .collect::<io::Result<Box<[EntId]>>>()?;
    let n_text = c.u32()? as usize;
    let raw = c.take(n_text)?;
    let text = if text {
        std::str::from_utf8(raw)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "rule record text"))?
            .into()
    } else {
        Box::default()
    };
    let zero_side = match flags & 3 {
        1 => Some(Side::Subject),
        2 => Some(Side::Object),
        _ => None,
    };
    Ok((
        index,
        Rule {
            file,
            line,
            predicted,
            correct,
            confidence,
            text,
            head,
            body,
            zero_side,
            vars,
            consts,
        },
    ))
}

/// Reads the records of a file in order.
pub(super) fn each_record(
    path: &Path,
    mut f: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut buf = Vec::new();
    loop {
        let mut len = [0u8; 4];
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let n = u32::from_le_bytes(len) as usize;
        buf.clear();
        buf.extend_from_slice(&len);
        buf.resize(n.max(4), 0);
        r.read_exact(&mut buf[4..])?;
        f(&buf)?;
    }
}
