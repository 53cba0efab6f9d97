//! Rules on disk, filed by anchor, so that a run over a million rules holds only the rules one
//! record can use.
//!
//! Each rule is filed under one requirement a graph must meet for the rule to fire (its
//! *anchor*, as in the in-memory [`crate::engine::RuleIndex`]): a `(relation, constant)` pair
//! when its body has a constant, else its rarest body relation, and its head relation when the
//! body is empty. The store keeps every rule as a binary record in a data file, the records of
//! one anchor side by side, a directory from anchor to byte range (one entry per anchor: it
//! grows with the vocabulary of the rules, not with their number) and an index file from rule
//! index to record. For a record, the engine ([`crate::engine::store_candidates`]) reads the
//! ranges of the anchors the graph holds ([`RuleStore::scan`]) and keeps the rules whose body
//! relations and constants it holds: exactly the rules the in-memory index lets through.
//!
//! The files live in a fresh folder that is removed when the store is dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use super::codec::{Shape, decode, decode_shape, each_record, encode};
use super::{Atom, EntId, RelId, Rule, Term};

/// What a rule is filed under: a relation the graph must hold, or a relation with a constant
/// as its subject or object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// The graph must hold this relation.
    Rel(RelId),
    /// The graph must hold this relation with this constant as subject.
    Subject(RelId, EntId),
    /// The graph must hold this relation with this constant as object.
    Object(RelId, EntId),
}

/// A rule's record: where it is in the data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    /// The rule's index in the whole rule set.
    pub rule: u32,
    offset: u64,
    len: u32,
}

/// A store being written: rules in index order.
pub struct StoreBuilder {
    dir: PathBuf,
    unsorted: BufWriter<File>,
    buf: Vec<u8>,
    /// How many rules use each body relation (for the rarest-relation anchor).
    uses: FxHashMap<RelId, u32>,
    count: u32,
    /// A compiled rule set's store: kept when dropped.
    kept: bool,
}

impl StoreBuilder {
    /// Starts a store in a new folder inside `parent` (and removes the stores that killed
    /// runs left there).
    pub fn new(parent: &Path) -> io::Result<Self> {
        fs::create_dir_all(parent)?;
        Self::in_dir(crate::scratch::new_dir(parent, ".pff-rules-")?, false)
    }

    /// A builder writing into `dir` itself (made here, must not exist), whose store is kept
    /// when dropped: a compiled rule set's ([`super::compiled`]).
    pub fn new_kept(dir: &Path) -> io::Result<Self> {
        fs::create_dir(dir)?;
        Self::in_dir(dir.to_path_buf(), true)
    }

    /// A builder in the new folder `dir`.
    fn in_dir(dir: PathBuf, kept: bool) -> io::Result<Self> {
        Ok(Self {
            unsorted: BufWriter::with_capacity(1 << 20, File::create(dir.join("unsorted"))?),
            dir,
            buf: Vec::with_capacity(512),
            uses: FxHashMap::default(),
            count: 0,
            kept,
        })
    }

    /// Adds the next rule (its index is the number added before it).
    pub fn push(&mut self, rule: &Rule) -> io::Result<()> {
        for a in rule.body.iter() {
            *self.uses.entry(a.rel).or_default() += 1;
        }
        self.buf.clear();
        encode(self.count, rule, &mut self.buf);
        self.unsorted.write_all(&self.buf)?;
        self.count += 1;
        Ok(())
    }

    fn anchor(&self, s: &Shape) -> Anchor {
        anchor(s.head.rel, &s.body[..s.n_body], |rel| {
            self.uses.get(&rel).copied().unwrap_or(0)
        })
    }

    /// Files the rules by anchor: `relations` and `constants` are the sizes of the symbol
    /// table (relations and entities) the rules were parsed with.
    pub fn finish(mut self, relations: usize, constants: usize) -> io::Result<RuleStore> {
        self.unsorted.flush()?;
        let unsorted = self.dir.join("unsorted");
        // Sizes per anchor, then each record at its anchor's next free byte.
        let mut sizes: FxHashMap<Anchor, u64> = FxHashMap::default();
        each_record(&unsorted, |rec| {
            let a = self.anchor(&decode_shape(rec)?);
            *sizes.entry(a).or_default() += rec.len() as u64;
            Ok(())
        })?;
        let mut anchors: Vec<(Anchor, u64)> = sizes.into_iter().collect();
        anchors.sort_unstable_by_key(|&(a, _)| anchor_order(a));
        let mut directory: FxHashMap<Anchor, (u64, u64)> = FxHashMap::default();
        let mut next: FxHashMap<Anchor, u64> = FxHashMap::default();
        let mut at = 0u64;
        let mut const_rels = vec![false; relations];
        for (a, size) in anchors {
            directory.insert(a, (at, size));
            next.insert(a, at);
            at += size;
            if let Anchor::Subject(r, _) | Anchor::Object(r, _) = a
                && let Some(slot) = const_rels.get_mut(r as usize)
            {
                *slot = true;
            }
        }
        let data = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.dir.join("data"))?;
        data.set_len(at)?;
        let mut index = BufWriter::with_capacity(1 << 20, File::create(self.dir.join("index"))?);
        let mut staged = Staged::default();
        each_record(&unsorted, |rec| {
            let a = self.anchor(&decode_shape(rec)?);
            let pos = next
                .get_mut(&a)
                .ok_or_else(|| io::Error::other("anchor lost"))?;
            staged.put(&data, *pos, rec)?;
            index.write_all(&pos.to_le_bytes())?;
            index.write_all(&(rec.len() as u32).to_le_bytes())?;
            *pos += rec.len() as u64;
            Ok(())
        })?;
        staged.flush(&data)?;
        index.flush()?;
        drop(index);
        fs::remove_file(&unsorted)?;
        let kept = self.kept;
        Ok(RuleStore {
            index: File::open(self.dir.join("index"))?,
            kept,
            index_held: Vec::new(),
            dir: std::mem::take(&mut self.dir),
            data,
            directory,
            const_rels,
            n_constants: constants as EntId,
            count: self.count,
        })
    }
}

impl Drop for StoreBuilder {
    fn drop(&mut self) {
        // A kept store's folder is its compiler's to remove (it made it).
        if !self.dir.as_os_str().is_empty() && !self.kept {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Records on their way to their places in the data file: gathered up to `STAGE_BYTES`, then
/// written in file order with neighbours joined (the records of one anchor arrive in order, so
/// most land next to the one before), a write per run instead of one per record.
#[derive(Default)]
struct Staged {
    bytes: Vec<u8>,
    /// (position in the data file, start in `bytes`, length)
    at: Vec<(u64, usize, usize)>,
}

const STAGE_BYTES: usize = 1 << 20;

impl Staged {
    fn put(&mut self, data: &File, pos: u64, rec: &[u8]) -> io::Result<()> {
        self.at.push((pos, self.bytes.len(), rec.len()));
        self.bytes.extend_from_slice(rec);
        if self.bytes.len() >= STAGE_BYTES {
            self.flush(data)?;
        }
        Ok(())
    }

    fn flush(&mut self, data: &File) -> io::Result<()> {
        self.at.sort_unstable_by_key(|&(pos, _, _)| pos);
        let mut run: Vec<u8> = Vec::new();
        let mut run_at = 0u64;
        for &(pos, start, len) in &self.at {
            if !run.is_empty() && run_at + run.len() as u64 != pos {
                data.write_all_at(&run, run_at)?;
                run.clear();
            }
            if run.is_empty() {
                run_at = pos;
            }
            run.extend_from_slice(&self.bytes[start..start + len]);
        }
        if !run.is_empty() {
            data.write_all_at(&run, run_at)?;
        }
        self.bytes.clear();
        self.at.clear();
        Ok(())
    }
}

/// What a rule is filed under, the same in memory ([`crate::engine::RuleIndex`]) and on disk:
/// its head relation when the body is empty; the first body atom with a constant, as
/// (relation, constant); else its body relation with the fewest `uses` (the first of equals).
pub fn anchor(head_rel: RelId, body: &[Atom], uses: impl Fn(RelId) -> u32) -> Anchor {
    for a in body {
        match (a.s, a.o) {
            (Term::Const(c), _) => return Anchor::Subject(a.rel, c),
            (_, Term::Const(c)) => return Anchor::Object(a.rel, c),
            _ => {}
        }
    }
    body.iter()
        .map(|a| a.rel)
        .min_by_key(|&rel| uses(rel))
        .map_or(Anchor::Rel(head_rel), Anchor::Rel)
}

fn anchor_order(a: Anchor) -> (u8, RelId, EntId) {
    match a {
        Anchor::Rel(r) => (0, r, 0),
        Anchor::Subject(r, c) => (1, r, c),
        Anchor::Object(r, c) => (2, r, c),
    }
}

/// Rules on disk, filed by anchor (see the module documentation).
#[derive(Debug)]
pub struct RuleStore {
    dir: PathBuf,
    /// A compiled rule set's store: its files stay when it is dropped.
    kept: bool,
    /// The index file's bytes, when held (a compiled set's: read once to check its digest);
    /// else every lookup is a positional read.
    index_held: Vec<u8>,
    data: File,
    /// Rule index -> (offset u64, length u32) of its record.
    index: File,
    directory: FxHashMap<Anchor, (u64, u64)>,
    /// Relations that anchor some rule by a constant.
    const_rels: Vec<bool>,
    /// Entity ids below this are rule constants.
    n_constants: EntId,
    count: u32,
}

/// An index file entry: the record's offset and length.
fn index_entry(entry: &[u8]) -> (u64, u32) {
    let offset = u64::from_le_bytes(entry[..8].try_into().unwrap_or([0; 8]));
    let len = u32::from_le_bytes(entry[8..12].try_into().unwrap_or([0; 4]));
    (offset, len)
}

/// Bytes read from the data file at once when scanning an anchor's rules.
const SCAN_BYTES: u64 = 1 << 20;

impl RuleStore {
    /// Files a rule set held in memory (a store in a new folder inside `parent`).
    pub fn build(parent: &Path, rules: &super::RuleSet) -> io::Result<RuleStore> {
        let mut b = StoreBuilder::new(parent)?;
        for r in &rules.rules {
            b.push(r)?;
        }
        b.finish(rules.symbols.relations.len(), rules.symbols.entities.len())
    }

    /// True when some rule is filed under `rel` with a constant.
    pub fn anchors_constants_of(&self, rel: RelId) -> bool {
        self.const_rels.get(rel as usize).copied().unwrap_or(false)
    }

    /// Entity ids below this are rule constants.
    pub fn n_constants(&self) -> EntId {
        self.n_constants
    }

    /// The rules filed under `anchors` whose body `keep` accepts, ascending by index.
    pub fn scan(
        &self,
        anchors: impl IntoIterator<Item = Anchor>,
        mut keep: impl FnMut(&[Atom]) -> bool,
    ) -> io::Result<Vec<Slot>> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for (start, len) in anchors
            .into_iter()
            .filter_map(|a| self.directory.get(&a).copied())
        {
            // In slices of about SCAN_BYTES, cut at record boundaries.
            let mut at = start;
            let end = start + len;
            while at < end {
                buf.resize((end - at).min(SCAN_BYTES) as usize, 0);
                self.data.read_exact_at(&mut buf, at)?;
                let mut off = 0usize;
                while off + 4 <= buf.len() {
                    let n =
                        u32::from_le_bytes(buf[off..off + 4].try_into().unwrap_or([0; 4])) as usize;
                    if n < 4 {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "rule record"));
                    }
                    if off + n > buf.len() {
                        if off == 0 {
                            // A record larger than the slice: read it whole.
                            buf.resize(n, 0);
                            self.data.read_exact_at(&mut buf, at)?;
                            continue;
                        }
                        break;
                    }
                    let s = decode_shape(&buf[off..off + n])?;
                    if keep(&s.body[..s.n_body]) {
                        out.push(Slot {
                            rule: s.index,
                            offset: at + off as u64,
                            len: n as u32,
                        });
                    }
                    off += n;
                }
                at += off as u64;
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Reads the rules of `slots` for checking, in slot order, without their text (see
    /// [`Self::fetch`]). Records that lie close together in the file are read in one go.
    pub fn read(&self, slots: &[Slot]) -> io::Result<Vec<Rule>> {
        const GAP: u64 = 4096;
        let mut order: Vec<usize> = (0..slots.len()).collect();
        order.sort_unstable_by_key(|&i| slots[i].offset);
        let mut out: Vec<Option<Rule>> = vec![None; slots.len()];
        let mut buf = Vec::new();
        let mut k = 0;
        while k < order.len() {
            let start = slots[order[k]].offset;
            let mut end = start + slots[order[k]].len as u64;
            let mut j = k + 1;
            while let Some(&next) = order.get(j) {
                let (off, len) = (slots[next].offset, slots[next].len as u64);
                if off > end + GAP || off + len - start > SCAN_BYTES {
                    break;
                }
                end = end.max(off + len);
                j += 1;
            }
            buf.resize((end - start) as usize, 0);
            self.data.read_exact_at(&mut buf, start)?;
            for &i in &order[k..j] {
                let at = (slots[i].offset - start) as usize;
                let rec = buf
                    .get(at..at + slots[i].len as usize)
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "rule slot"))?;
                out[i] = Some(decode(rec, false)?.1);
            }
            k = j;
        }
        out.into_iter()
            .map(|r| r.ok_or_else(|| io::Error::other("rule slot not read")))
            .collect()
    }

    /// Reads rule `index`.
    pub fn fetch(&self, index: u32) -> io::Result<Rule> {
        if index >= self.count {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("rule {index} is not in the store"),
            ));
        }
        let at = index as usize * 12;
        let (offset, len) = match self.index_held.get(at..at + 12) {
            Some(entry) => index_entry(entry),
            None => {
                let mut entry = [0u8; 12];
                self.index.read_exact_at(&mut entry, at as u64)?;
                index_entry(&entry)
            }
        };
        let mut buf = vec![0u8; len as usize];
        self.data.read_exact_at(&mut buf, offset)?;
        Ok(decode(&buf, true)?.1)
    }

    /// Calls `f` with every rule, by index, in order.
    pub fn each(&self, mut f: impl FnMut(usize, &Rule)) -> io::Result<()> {
        // Positional reads only: the store is shared by threads and read more than once.
        const ENTRIES: usize = 4096;
        let mut entries = vec![0u8; 12 * ENTRIES];
        let mut buf = Vec::new();
        let count = self.count as usize;
        for first in (0..count).step_by(ENTRIES) {
            let n = (count - first).min(ENTRIES);
            let block = &mut entries[..12 * n];
            self.index.read_exact_at(block, first as u64 * 12)?;
            for (k, entry) in block.chunks_exact(12).enumerate() {
                let (offset, len) = index_entry(entry);
                buf.resize(len as usize, 0);
                self.data.read_exact_at(&mut buf, offset)?;
                f(first + k, &decode(&buf, true)?.1);
            }
        }
        Ok(())
    }

    /// Anchors in the directory (its memory grows with them, not with the rules).
    pub fn anchors(&self) -> usize {
        self.directory.len()
    }
}

impl Drop for RuleStore {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// What a store knows besides its files: the directory from anchor to byte range, which
/// relations anchor rules by a constant, where rule constants end, how many rules. A compiled
/// rule set records it and opens its store with it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    /// `(kind, relation, constant, offset, length)`: kind 0 a relation, 1 a constant subject,
    /// 2 a constant object; in data-file order.
    pub directory: Vec<(u8, RelId, EntId, u64, u64)>,
    /// Relations that anchor some rule by a constant.
    pub const_rels: Vec<bool>,
    /// Entity ids below this are rule constants.
    pub n_constants: EntId,
    /// Rules in the store.
    pub count: u32,
}

impl RuleStore {
    /// How many rules the store holds.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the store holds no rule.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The store's layout, to open its files again ([`RuleStore::open_kept`]).
    pub fn layout(&self) -> Layout {
        let mut directory: Vec<(u8, RelId, EntId, u64, u64)> = self
            .directory
            .iter()
            .map(|(&a, &(at, len))| {
                let (kind, rel, c) = anchor_order(a);
                (kind, rel, c, at, len)
            })
            .collect();
        directory.sort_unstable_by_key(|d| d.3);
        Layout {
            directory,
            const_rels: self.const_rels.clone(),
            n_constants: self.n_constants,
            count: self.count,
        }
    }

    /// Opens the kept store in `dir` with its recorded `layout` and its index file's bytes
    /// (`index_held`, held for lookups); its files stay when it is dropped. The index must hold
    /// one entry per rule.
    pub fn open_kept(dir: &Path, layout: Layout, index_held: Vec<u8>) -> io::Result<RuleStore> {
        let data = File::open(dir.join("data"))?;
        let index = File::open(dir.join("index"))?;
        if index_held.len() as u64 != u64::from(layout.count) * 12 {
            return Err(io::Error::other(
                "the index does not hold one entry per rule",
            ));
        }
        let mut directory = FxHashMap::default();
        for (kind, rel, c, at, len) in layout.directory {
            let a = match kind {
                0 => Anchor::Rel(rel),
                1 => Anchor::Subject(rel, c),
                2 => Anchor::Object(rel, c),
                k => return Err(io::Error::other(format!("unknown anchor kind {k}"))),
            };
            directory.insert(a, (at, len));
        }
        Ok(RuleStore {
            dir: dir.to_path_buf(),
            kept: true,
            index_held,
            data,
            index,
            directory,
            const_rels: layout.const_rels,
            n_constants: layout.n_constants,
            count: layout.count,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::RuleSet;

    pub(crate) const RULES: &str = "1\t1\t0.5\th(X,c) <= b(X,A)\n\
                         h(X,Y) <= b(X,Y), d(Y,e)\n\
                         2\t1\t0.5\tg(X,d) <= \n\
                         3\t1\t0.25\tk(X,Y) <= b(X,A), m(A,Y)\n\
                         4\t2\t0.5\tk(X,me_myself_i) <= m(X,e)\n";

    pub(crate) fn store(rs: &RuleSet) -> (tempfile::TempDir, RuleStore) {
        let tmp = tempfile::TempDir::new().unwrap();
        let s = RuleStore::build(tmp.path(), rs).unwrap();
        (tmp, s)
    }

    #[test]
    fn records_round_trip() {
        let rs = RuleSet::from_text("r", RULES).unwrap();
        let (_tmp, s) = store(&rs);
        for (i, r) in rs.rules.iter().enumerate() {
            let back = s.fetch(i as u32).unwrap();
            assert_eq!(format!("{back:?}"), format!("{r:?}"));
        }
        assert!(s.fetch(rs.rules.len() as u32).is_err());
        for _ in 0..2 {
            let mut seen = Vec::new();
            s.each(|i, r| seen.push((i, format!("{r:?}")))).unwrap();
            let expected: Vec<_> = rs
                .rules
                .iter()
                .map(|r| format!("{r:?}"))
                .enumerate()
                .collect();
            assert_eq!(seen, expected);
        }
    }

    /// Enough rules for the staged writes to flush many times: every record still lands where
    /// the index says.
    #[test]
    fn many_rules_round_trip() {
        let text: String = (0..30_000)
            .map(|i| {
                format!(
                    "1\t1\t0.5\th{}(X,c{}) <= b{}(X,A), d(A,e{})\n",
                    i % 7,
                    i % 13,
                    i % 5,
                    i % 11
                )
            })
            .collect();
        let rs = RuleSet::from_text("r", &text).unwrap();
        let (_tmp, s) = store(&rs);
        assert!(s.anchors() > 1);
        for (i, r) in rs.rules.iter().enumerate().step_by(7) {
            let back = s.fetch(i as u32).unwrap();
            assert_eq!(
                (back.line, &back.text, back.head),
                (r.line, &r.text, r.head)
            );
        }
    }

    #[test]
    fn the_folder_is_removed_with_the_store() {
        let rs = RuleSet::from_text("r", RULES).unwrap();
        let (tmp, s) = store(&rs);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
        drop(s);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
