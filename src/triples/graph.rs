//! An indexed set of triples over ids layered on a rule set's symbols.

use rustc_hash::FxHashSet;

use crate::intern::{Id, Interner, Layered};
use crate::rules::Symbols;

use super::TripleSink;

/// The pairs of one relation, sorted both ways: `(s, o)` for lookups by subject and `(o, s)`
/// for lookups by object. Both are deduplicated.
#[derive(Debug, Default)]
pub struct RelIndex {
    by_s: Vec<(Id, Id)>,
    by_o: Vec<(Id, Id)>,
    distinct_s: usize,
    distinct_o: usize,
}

impl RelIndex {
    /// Pairs of the relation.
    pub fn len(&self) -> usize {
        self.by_s.len()
    }

    /// Whether the relation has no pair.
    pub fn is_empty(&self) -> bool {
        self.by_s.is_empty()
    }

    /// All `(s, o)` pairs, sorted.
    pub fn pairs(&self) -> &[(Id, Id)] {
        &self.by_s
    }

    /// The `(s, o)` pairs with subject `s`.
    #[inline]
    pub fn with_subject(&self, s: Id) -> &[(Id, Id)] {
        equal_range(&self.by_s, s)
    }

    /// The `(o, s)` pairs with object `o`.
    #[inline]
    pub fn with_object(&self, o: Id) -> &[(Id, Id)] {
        equal_range(&self.by_o, o)
    }

    #[inline]
    /// Whether `(s, o)` is a pair of the relation.
    pub fn contains(&self, s: Id, o: Id) -> bool {
        self.by_s.binary_search(&(s, o)).is_ok()
    }

    /// Distinct subjects of the relation.
    pub fn distinct_subjects(&self) -> usize {
        self.distinct_s
    }

    /// Distinct objects of the relation.
    pub fn distinct_objects(&self) -> usize {
        self.distinct_o
    }

    /// Distinct subjects, ascending.
    pub fn subjects(&self) -> impl Iterator<Item = Id> + '_ {
        dedup_firsts(&self.by_s)
    }

    /// Distinct objects, ascending.
    pub fn objects(&self) -> impl Iterator<Item = Id> + '_ {
        dedup_firsts(&self.by_o)
    }
}

fn dedup_firsts(pairs: &[(Id, Id)]) -> impl Iterator<Item = Id> + '_ {
    pairs
        .iter()
        .enumerate()
        .filter(move |&(i, p)| i == 0 || pairs[i - 1].0 != p.0)
        .map(|(_, p)| p.0)
}

#[inline]
fn equal_range(pairs: &[(Id, Id)], key: Id) -> &[(Id, Id)] {
    let lo = pairs.partition_point(|p| p.0 < key);
    let hi = lo + pairs[lo..].partition_point(|p| p.0 == key);
    &pairs[lo..hi]
}

fn count_distinct_firsts(pairs: &[(Id, Id)]) -> usize {
    dedup_firsts(pairs).count()
}

/// Collects triples by name and interns them over a base symbol table.
pub struct GraphBuilder<'b> {
    relations: Layered<'b>,
    entities: Layered<'b>,
    /// `(r, s, o)` in arrival order, duplicates included.
    triples: Vec<(Id, Id, Id)>,
    /// Derived triples' origins: `(s, r, o or none for a slot, node)`.
    origins: Vec<(Id, Id, Option<Id>, Id)>,
}

impl<'b> GraphBuilder<'b> {
    /// A builder whose names extend `symbols` (the rules' names keep their ids).
    pub fn new(symbols: &'b Symbols) -> Self {
        Self {
            relations: Layered::new(&symbols.relations),
            entities: Layered::new(&symbols.entities),
            triples: Vec::new(),
            origins: Vec::new(),
        }
    }

    /// The graph: pairs sorted and deduplicated per relation.
    pub fn finish(self) -> Graph<'b> {
        let mut rels: Vec<RelIndex> = Vec::new();
        rels.resize_with(self.relations.id_bound(), RelIndex::default);
        for &(r, s, o) in &self.triples {
            rels[r as usize].by_s.push((s, o));
        }
        let mut n_triples = 0;
        for idx in &mut rels {
            idx.by_s.sort_unstable();
            idx.by_s.dedup();
            idx.by_o = idx.by_s.iter().map(|&(s, o)| (o, s)).collect();
            idx.by_o.sort_unstable();
            idx.distinct_s = count_distinct_firsts(&idx.by_s);
            idx.distinct_o = count_distinct_firsts(&idx.by_o);
            n_triples += idx.by_s.len();
        }
        let mut origins = Origins::default();
        for &(s, r, o, node) in &self.origins {
            match o {
                Some(o) => origins.values.entry((s, r, o)).or_insert(node),
                None => origins.slots.entry((s, r)).or_insert(node),
            };
        }
        Graph {
            relations: self.relations,
            entities: self.entities,
            rels,
            n_triples,
            origins,
        }
    }

    /// Where the builder is now: what [`Self::truncate`] goes back to and
    /// [`Self::subjects_since`] starts from.
    pub fn mark(&self) -> (usize, usize) {
        (self.triples.len(), self.origins.len())
    }

    /// Drops the triples and origins added since `mark` (a record that failed half-way; the
    /// names it interned stay, unused).
    pub fn truncate(&mut self, mark: (usize, usize)) {
        self.triples.truncate(mark.0);
        self.origins.truncate(mark.1);
    }

    /// The distinct triples added since `mark`.
    pub fn count_since(&self, mark: (usize, usize)) -> usize {
        let mut v = self.triples[mark.0.min(self.triples.len())..].to_vec();
        v.sort_unstable();
        v.dedup();
        v.len()
    }

    /// The distinct subjects of the triples added since `mark`, ascending.
    pub fn subjects_since(&self, mark: (usize, usize)) -> Vec<Id> {
        let mut v: Vec<Id> = self.triples[mark.0.min(self.triples.len())..]
            .iter()
            .map(|t| t.1)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The distinct triples by name, in the order they first arrived.
    pub fn unique_triples(&self) -> impl Iterator<Item = (&str, &str, &str)> + '_ {
        let mut seen: FxHashSet<(Id, Id, Id)> = FxHashSet::default();
        self.triples
            .iter()
            .filter(move |t| seen.insert(**t))
            .map(|&(r, s, o)| {
                (
                    self.entities.name(s),
                    self.relations.name(r),
                    self.entities.name(o),
                )
            })
    }
}

impl TripleSink for GraphBuilder<'_> {
    fn triple(&mut self, s: &str, r: &str, o: &str) {
        let r = self.relations.intern(r);
        let s = self.entities.intern(s);
        let o = self.entities.intern(o);
        self.triples.push((r, s, o));
    }

    fn origin(&mut self, s: &str, r: &str, o: Option<&str>, node: &str) {
        let r = self.relations.intern(r);
        let s = self.entities.intern(s);
        let o = o.map(|o| self.entities.intern(o));
        let node = self.entities.intern(node);
        self.origins.push((s, r, o, node));
    }
}

/// Where derived triples come from (first origin wins).
#[derive(Default)]
struct Origins {
    values: rustc_hash::FxHashMap<(Id, Id, Id), Id>,
    slots: rustc_hash::FxHashMap<(Id, Id), Id>,
}

/// A set of triples with per-relation indexes. Entity and relation ids agree with the rule
/// set's [`Symbols`] for every name the rules mention.
pub struct Graph<'b> {
    relations: Layered<'b>,
    entities: Layered<'b>,
    rels: Vec<RelIndex>,
    n_triples: usize,
    origins: Origins,
}

static EMPTY: RelIndex = RelIndex {
    by_s: Vec::new(),
    by_o: Vec::new(),
    distinct_s: 0,
    distinct_o: 0,
};

impl<'b> Graph<'b> {
    /// The number of distinct triples.
    pub fn len(&self) -> usize {
        self.n_triples
    }

    /// Whether the graph holds no triple.
    pub fn is_empty(&self) -> bool {
        self.n_triples == 0
    }

    /// The index of relation `r` (empty when the graph has no such triple).
    #[inline]
    pub fn rel(&self, r: Id) -> &RelIndex {
        self.rels.get(r as usize).unwrap_or(&EMPTY)
    }

    /// Whether the graph holds `(s, r, o)`.
    pub fn contains(&self, s: Id, r: Id, o: Id) -> bool {
        self.rel(r).contains(s, o)
    }

    /// One past the largest entity id (rule constants included).
    pub fn entity_bound(&self) -> usize {
        self.entities.id_bound()
    }

    /// The name of entity `id`.
    pub fn entity_name(&self, id: Id) -> &str {
        self.entities.name(id)
    }

    /// The name of relation `id`.
    pub fn relation_name(&self, id: Id) -> &str {
        self.relations.name(id)
    }

    /// The id of an entity name, if the graph or the rules hold it.
    pub fn entity_id(&self, name: &str) -> Option<Id> {
        self.entities.get(name)
    }

    /// The id of a relation name, if the graph or the rules hold it.
    pub fn relation_id(&self, name: &str) -> Option<Id> {
        self.relations.get(name)
    }

    /// Whether any triple is derived (a nested mapping made the graph).
    pub fn has_origins(&self) -> bool {
        !self.origins.values.is_empty() || !self.origins.slots.is_empty()
    }

    /// The node of the record that holds the value of derived triple `(s, r, o)`, or, with `o`
    /// none, the entry that would hold slot `(s, r)`'s value; none for a plain triple.
    pub fn origin(&self, s: Id, r: Id, o: Option<Id>) -> Option<Id> {
        match o {
            Some(o) => self.origins.values.get(&(s, r, o)).copied(),
            None => self.origins.slots.get(&(s, r)).copied(),
        }
    }

    /// Ids of the relations that have at least one triple.
    pub fn present_relations(&self) -> impl Iterator<Item = Id> + '_ {
        self.rels
            .iter()
            .enumerate()
            .filter(|(_, idx)| !idx.is_empty())
            .map(|(r, _)| r as Id)
    }

    /// Every triple as `(s, r, o)` ids, grouped by relation.
    pub fn triples(&self) -> impl Iterator<Item = (Id, Id, Id)> + '_ {
        self.rels
            .iter()
            .enumerate()
            .flat_map(|(r, idx)| idx.by_s.iter().map(move |&(s, o)| (s, r as Id, o)))
    }
}

/// An empty symbol table, for graphs built without rules.
pub fn no_symbols() -> &'static Symbols {
    static NONE: std::sync::OnceLock<Symbols> = std::sync::OnceLock::new();
    NONE.get_or_init(|| Symbols {
        relations: Interner::new(),
        entities: Interner::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_sorted_deduplicated_indexes() {
        let mut syms = Symbols::default();
        let c = syms.entities.intern("c");
        let knows = syms.relations.intern("knows");
        let mut b = GraphBuilder::new(&syms);
        b.triple("a", "knows", "b");
        b.triple("a", "knows", "c");
        b.triple("a", "knows", "b");
        b.triple("d", "knows", "c");
        b.triple("a", "age", "3");
        assert_eq!(b.unique_triples().count(), 4);
        let g = b.finish();
        assert_eq!(g.len(), 4);
        assert_eq!(g.entity_id("c"), Some(c), "rule constants keep their ids");
        let a = g.entity_id("a").unwrap();
        let idx = g.rel(knows);
        assert_eq!(idx.with_subject(a).len(), 2);
        assert_eq!(idx.with_object(c).len(), 2);
        assert_eq!(idx.distinct_subjects(), 2);
        assert_eq!(idx.distinct_objects(), 2);
        assert!(g.contains(a, knows, c));
        assert!(!g.contains(c, knows, a));
        assert!(g.rel(999).is_empty());
        assert_eq!(g.present_relations().count(), 2);
    }
}
