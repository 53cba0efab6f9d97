//! AnyBURL rules: the file format, the rule text and the rule model (`shared/spec/rules.md`).
//!
//! Parsing turns every name into an id of the rule set's [`Symbols`]; data sets are later
//! interned *over* those symbols ([`crate::intern::Layered`]), so a rule constant and an
//! entity of the data with the same name share one id.

mod codec;
pub mod compiled;
pub mod parse;
mod priors;
mod reader;
mod source;
pub mod stats;
pub mod store;

pub use priors::Priors;
pub use reader::{LineError, RuleLines, RulesError, load_rules, load_rules_many, parse_rule_line};
pub use source::{RuleCatalog, RuleName, RuleSource};

use std::sync::Arc;

use crate::intern::{Id, Interner};
use parse::{PAtom, PTerm};

/// A relation id (an index into [`Symbols::relations`]).
pub type RelId = Id;
/// An entity id (an index into [`Symbols::entities`], or a data set's layered ids).
pub type EntId = Id;

/// The names a rule set mentions.
#[derive(Debug, Default, Clone)]
pub struct Symbols {
    /// Relation names.
    pub relations: Interner,
    /// Entity names (the rules' constants, then the data's).
    pub entities: Interner,
}

/// Where parsing finds the ids of names: [`Symbols`] interns (a rule set read the first time),
/// [`Frozen`] only looks up (the same files read again, in batches, with the ids of the first
/// reading).
pub trait Names {
    /// The id of an entity name (`None`: not known, and not added).
    fn entity(&mut self, name: &str) -> Option<EntId>;
    /// The id of a relation name (`None`: not known, and not added).
    fn relation(&mut self, name: &str) -> Option<RelId>;
}

impl Names for Symbols {
    fn entity(&mut self, name: &str) -> Option<EntId> {
        Some(self.entities.intern(name))
    }

    fn relation(&mut self, name: &str) -> Option<RelId> {
        Some(self.relations.intern(name))
    }
}

/// A symbol table that no longer grows: a name it lacks means the rules changed since it was
/// built.
#[derive(Debug, Clone)]
pub struct Frozen(pub Arc<Symbols>);

impl Names for Frozen {
    fn entity(&mut self, name: &str) -> Option<EntId> {
        self.0.entities.get(name)
    }

    fn relation(&mut self, name: &str) -> Option<RelId> {
        self.0.relations.get(name)
    }
}

/// A term after `me_myself_i` has been resolved: a variable `0..26` (`A` = 0) or a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Term {
    /// A variable, by its index in the rule ([`Rule::vars`]).
    Var(u8),
    /// A constant (an entity).
    Const(EntId),
}

impl Term {
    /// The variable's index, if this is one.
    pub fn var(self) -> Option<u8> {
        match self {
            Term::Var(v) => Some(v),
            Term::Const(_) => None,
        }
    }
}

/// `rel(s,o)`. `r(t,me_myself_i)` and `r(me_myself_i,t)` are stored as `r(t,t)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Atom {
    /// The relation.
    pub rel: RelId,
    /// The subject.
    pub s: Term,
    /// The object.
    pub o: Term,
}

/// Which argument of the head a zero rule's variable stands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The head's subject.
    Subject,
    /// The head's object.
    Object,
}

/// The rule shapes AnyBURL emits (`rules.md` §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shape {
    /// Empty body.
    Zero,
    /// Both head arguments are variables.
    Cyclic,
    /// Head constant, body ends in a constant.
    Ac1,
    /// Head constant, body ends in a dangling variable.
    Ac2,
    /// An atom that relates a term to itself (`me_myself_i`, or `h(X,X)`).
    Reflexive,
}

impl Shape {
    /// The shape's name, as `pff rules stats` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Zero => "zero",
            Shape::Cyclic => "cyclic",
            Shape::Ac1 => "acyclic-constant (AC1)",
            Shape::Ac2 => "acyclic-dangling (AC2)",
            Shape::Reflexive => "reflexive",
        }
    }
}

/// One rule of a rules file.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Index of its file in [`RuleSet::sources`].
    pub file: u16,
    /// 1-based line in its file: with the file, the rule's identity.
    pub line: u32,
    /// Mined counts; `None` for a bare rule line.
    pub predicted: Option<u64>,
    /// Of the predicted, how many held (`None` for a bare rule line).
    pub correct: Option<u64>,
    /// Mined confidence (1.0 for a bare rule line).
    pub confidence: f64,
    /// The rule text exactly as written.
    pub text: Box<str>,
    /// What the rule predicts.
    pub head: Atom,
    /// The conditions (empty for a body-less rule: a relation's value share).
    pub body: Box<[Atom]>,
    /// For an empty body: the side the head variable ranges over.
    pub zero_side: Option<Side>,
    /// The distinct variables, ascending.
    pub vars: Box<[u8]>,
    /// The distinct constants of head and body (object identity excludes them).
    pub consts: Box<[EntId]>,
}

impl Rule {
    /// Whether the rule predicts the value another subject holds in the head's own relation
    /// (`h(X,Y) <= ..., h(B,Y)` with `B` not `X`): it compares a subject with its peers.
    pub fn copies_head(&self) -> bool {
        let (Term::Var(x), Term::Var(y)) = (self.head.s, self.head.o) else {
            return false;
        };
        self.body
            .iter()
            .any(|a| a.rel == self.head.rel && a.o == Term::Var(y) && a.s != Term::Var(x))
    }

    /// The rule's shape (which AnyBURL rule type it is).
    pub fn shape(&self) -> Shape {
        let reflexive = |a: &Atom| a.s == a.o;
        if self.body.is_empty() {
            Shape::Zero
        } else if reflexive(&self.head) || self.body.iter().any(reflexive) {
            Shape::Reflexive
        } else if matches!((self.head.s, self.head.o), (Term::Var(_), Term::Var(_))) {
            Shape::Cyclic
        } else if self
            .body
            .iter()
            .any(|a| matches!(a.s, Term::Const(_)) || matches!(a.o, Term::Const(_)))
        {
            Shape::Ac1
        } else {
            Shape::Ac2
        }
    }

    /// Builds a rule from its parsed text, finding the ids of its names in `symbols`.
    pub(crate) fn from_parsed(
        head: PAtom<'_>,
        body: &[PAtom<'_>],
        symbols: &mut impl Names,
    ) -> Result<RuleParts, ShapeError> {
        let unknown = |name: &str| ShapeError::Unknown(name.to_string());
        let mut consts: Vec<EntId> = Vec::new();
        let mut atom = |a: &PAtom<'_>, consts: &mut Vec<EntId>| -> Result<Atom, ShapeError> {
            let mut term = |t: PTerm<'_>| match t {
                PTerm::Var(c) => Ok::<_, ShapeError>(Some(Term::Var(c - b'A'))),
                PTerm::Const(name) => {
                    let id = symbols.entity(name).ok_or_else(|| unknown(name))?;
                    if !consts.contains(&id) {
                        consts.push(id);
                    }
                    Ok(Some(Term::Const(id)))
                }
                PTerm::Me => Ok(None),
            };
            let s = term(a.s)?;
            let o = term(a.o)?;
            // The parser never yields two `Me`s, so one side is always known.
            let (s, o) = match (s, o) {
                (Some(s), Some(o)) => (s, o),
                (Some(t), None) | (None, Some(t)) => (t, t),
                (None, None) => unreachable!("parser rejects me_myself_i twice"),
            };
            Ok(Atom {
                rel: symbols.relation(a.rel).ok_or_else(|| unknown(a.rel))?,
                s,
                o,
            })
        };
        let h = atom(&head, &mut consts)?;
        let b: Vec<Atom> = body
            .iter()
            .map(|a| atom(a, &mut consts))
            .collect::<Result<_, _>>()?;

        let mut vars: Vec<u8> = Vec::new();
        for a in std::iter::once(&h).chain(&b) {
            for v in [a.s.var(), a.o.var()].into_iter().flatten() {
                if !vars.contains(&v) {
                    vars.push(v);
                }
            }
        }
        vars.sort_unstable();

        let zero_side = if b.is_empty() {
            match (head.s, head.o) {
                (PTerm::Var(_), PTerm::Const(_) | PTerm::Me) => Some(Side::Subject),
                (PTerm::Const(_) | PTerm::Me, PTerm::Var(_)) => Some(Side::Object),
                _ => return Err(ShapeError::EmptyBody),
            }
        } else {
            for v in [h.s.var(), h.o.var()].into_iter().flatten() {
                let in_body = b.iter().any(|a| a.s == Term::Var(v) || a.o == Term::Var(v));
                if !in_body {
                    return Err(ShapeError::HeadVariable((b'A' + v) as char));
                }
            }
            None
        };
        Ok(RuleParts {
            head: h,
            body: b.into_boxed_slice(),
            zero_side,
            vars: vars.into_boxed_slice(),
            consts: consts.into_boxed_slice(),
        })
    }
}

/// Why a parsed rule is not a rule pff can check.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ShapeError {
    #[error(
        "`{0}` was not in this file when pff first read it: the rules changed during the run; \
         run again"
    )]
    Unknown(String),
    #[error(
        "a rule with an empty body needs one head variable and one constant (`h(X,c) <= ` or \
         `h(c,Y) <= `)"
    )]
    EmptyBody,
    #[error("head variable {0} does not occur in the body")]
    HeadVariable(char),
}

/// The structural part of a rule, as built from its text.
pub(crate) struct RuleParts {
    pub head: Atom,
    pub body: Box<[Atom]>,
    pub zero_side: Option<Side>,
    pub vars: Box<[u8]>,
    pub consts: Box<[EntId]>,
}

/// A parsed rules file.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// The file names as the user gave them; rule ids are `file:line`.
    pub sources: Vec<String>,
    /// The files, comma separated (for headers).
    pub source: String,
    /// Shared with the batches of a rule set read in batches ([`RuleSource`]).
    pub symbols: Arc<Symbols>,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// Rules read without counts (a plain rule line): taken with confidence 1.0.
    pub without_counts: usize,
    /// The compiled rule set the rules are read from ([`compiled`]), if they are.
    pub compiled_in: Option<std::path::PathBuf>,
}

impl RuleSet {
    /// An error reading these rules back from where they were filed on disk.
    pub fn store_error(&self, source: std::io::Error) -> RulesError {
        match &self.compiled_in {
            Some(dir) => RulesError::Compiled {
                dir: dir.display().to_string(),
                source,
            },
            None => RulesError::Io {
                path: format!("{} (as filed on disk)", self.source),
                source,
            },
        }
    }

    /// Parses rules from text (for tests and embedded rule sets).
    pub fn from_text(source: &str, text: &str) -> Result<RuleSet, RulesError> {
        reader::read_rules(source, text.as_bytes())
    }

    /// `file:line`, the rule's id.
    pub fn rule_id(&self, rule: &Rule) -> String {
        format!("{}:{}", self.sources[rule.file as usize], rule.line)
    }

    /// The name of relation `id`.
    pub fn relation(&self, id: RelId) -> &str {
        self.symbols.relations.name(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> RuleSet {
        RuleSet::from_text("r.txt", text).unwrap()
    }

    #[test]
    fn a_rule_copies_its_head_when_it_takes_a_peer_s_value_in_the_same_relation() {
        let rs = rules(
            "1\t1\t1\tstyle(X,Y) <= name(X,A), name(B,A), style(B,Y)\n\
             1\t1\t1\tstyle(X,Y) <= kind(X,Y)\n\
             1\t1\t1\tstyle(X,Y) <= style(X,A), kind(A,Y)\n\
             1\t1\t1\tstyle(X,ale) <= name(X,A), name(B,A), style(B,ale)\n",
        );
        let copies: Vec<bool> = rs.rules.iter().map(Rule::copies_head).collect();
        assert_eq!(copies, [true, false, false, false]);
    }

    #[test]
    fn me_myself_i_becomes_a_reflexive_atom() {
        let rs = rules("h(X,me_myself_i) <= b1(X,A)\n");
        let r = &rs.rules[0];
        assert_eq!(r.head.s, Term::Var(23));
        assert_eq!(r.head.o, Term::Var(23));
        assert!(r.consts.is_empty(), "me_myself_i is not a constant");
        assert_eq!(r.confidence, 1.0);
        assert_eq!(r.predicted, None);
    }

    #[test]
    fn zero_rule_sides() {
        let rs = rules("h(X,c) <= \nh(c,Y) <= \nh(X,me_myself_i) <= \nh(me_myself_i,Y) <= \n");
        let sides: Vec<_> = rs.rules.iter().map(|r| r.zero_side).collect();
        assert_eq!(
            sides,
            vec![
                Some(Side::Subject),
                Some(Side::Object),
                Some(Side::Subject),
                Some(Side::Object)
            ]
        );
        assert!(rs.rules.iter().all(|r| r.shape() == Shape::Zero));
    }

    #[test]
    fn shapes() {
        let rs =
            rules("h(X,Y) <= b(X,Y)\nh(X,c) <= b(X,A), d(A,e)\nh(X,c) <= b(X,A)\nh(X,c) <= \n");
        let shapes: Vec<_> = rs.rules.iter().map(|r| r.shape()).collect();
        assert_eq!(
            shapes,
            vec![Shape::Cyclic, Shape::Ac1, Shape::Ac2, Shape::Zero]
        );
    }

    #[test]
    fn vars_and_consts_collected() {
        let rs = rules("h(X,c) <= b(X,A), d(A,e), f(B,A)\n");
        let r = &rs.rules[0];
        assert_eq!(&*r.vars, &[0, 1, 23]);
        assert_eq!(r.consts.len(), 2);
    }
}
