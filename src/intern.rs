//! String interning: every name becomes a dense `u32` id so that joins compare integers.

use rustc_hash::FxHashMap;

/// A dense id for an interned string.
pub type Id = u32;

/// Maps strings to dense ids `0..len()` and back.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    map: FxHashMap<Box<str>, Id>,
    names: Vec<Box<str>>,
}

impl Interner {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `name`, adding it when it is new.
    pub fn intern(&mut self, name: &str) -> Id {
        if let Some(&id) = self.map.get(name) {
            return id;
        }
        let id = Id::try_from(self.names.len()).expect("more than 4 billion distinct names");
        let boxed: Box<str> = name.into();
        self.names.push(boxed.clone());
        self.map.insert(boxed, id);
        id
    }

    /// The id of `name` when it was interned.
    pub fn get(&self, name: &str) -> Option<Id> {
        self.map.get(name).copied()
    }

    /// The name of `id`. Panics on an id this interner never gave out (a programming error).
    pub fn name(&self, id: Id) -> &str {
        &self.names[id as usize]
    }

    /// How many names are interned.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name is interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Ids for a data set layered over a fixed base (the rule set's symbols): a name that the base
/// knows keeps the base's id, any other name gets `base.len() + k`. Rule constants therefore
/// compare equal to data entities without any per-record translation of the rules.
#[derive(Debug)]
pub struct Layered<'b> {
    base: &'b Interner,
    local: Interner,
}

impl<'b> Layered<'b> {
    /// A layer over `base`: new names get ids after the base's.
    pub fn new(base: &'b Interner) -> Self {
        Self {
            base,
            local: Interner::new(),
        }
    }

    /// The id of `name`, interned in this layer when neither holds it.
    pub fn intern(&mut self, name: &str) -> Id {
        match self.base.get(name) {
            Some(id) => id,
            None => self.base_len() + self.local.intern(name),
        }
    }

    /// The id of `name`, if the base or this layer holds it.
    pub fn get(&self, name: &str) -> Option<Id> {
        self.base
            .get(name)
            .or_else(|| self.local.get(name).map(|id| id + self.base_len()))
    }

    /// The name of `id` (from the base or this layer).
    pub fn name(&self, id: Id) -> &str {
        let base = self.base_len();
        if id < base {
            self.base.name(id)
        } else {
            self.local.name(id - base)
        }
    }

    /// One past the largest id handed out so far.
    pub fn id_bound(&self) -> usize {
        self.base.len() + self.local.len()
    }

    fn base_len(&self) -> Id {
        self.base.len() as Id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_densely_and_round_trips() {
        let mut i = Interner::new();
        assert_eq!(i.intern("a"), 0);
        assert_eq!(i.intern("b"), 1);
        assert_eq!(i.intern("a"), 0);
        assert_eq!(i.name(1), "b");
        assert_eq!(i.get("c"), None);
        assert_eq!(i.len(), 2);
    }

    #[test]
    fn layered_keeps_base_ids() {
        let mut base = Interner::new();
        base.intern("const");
        let mut l = Layered::new(&base);
        assert_eq!(l.intern("const"), 0);
        assert_eq!(l.intern("local"), 1);
        assert_eq!(l.intern("other"), 2);
        assert_eq!(l.name(2), "other");
        assert_eq!(l.get("local"), Some(1));
        assert_eq!(l.id_bound(), 3);
    }
}
