//! The rule-text grammar of `../shared/spec/rules.md` §2, on borrowed slices.
//!
//! ```text
//! rule  := atom " <=" ( "" | " " | " " atom ( ", " atom )* )
//! atom  := relation "(" args ")"          relation has no "("
//! args  := VAR "," term | term "," VAR    VAR = one ASCII capital; the left variable wins
//!        | "me_myself_i," term | term ",me_myself_i"
//! ```
//!
//! Constants may hold `)`, `, ` and commas, so an atom ends at the earliest `)` that lets the
//! rest of the line parse. Failed suffix positions are memoised, so even a hostile line costs at
//! most O(n · k) for k closing parentheses.

/// The equality token AnyBURL writes when it rewrites reflexive triples.
pub const ME_MYSELF_I: &str = "me_myself_i";

/// The most body atoms a rule may have (AnyBURL writes at most a handful).
pub const MAX_BODY_ATOMS: usize = 64;

/// A term as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PTerm<'a> {
    /// A variable, `b'A'..=b'Z'`.
    Var(u8),
    /// A constant, as written.
    Const(&'a str),
    /// `me_myself_i`: the atom is reflexive in its other term.
    Me,
}

/// An atom as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PAtom<'a> {
    /// The relation, as written.
    pub rel: &'a str,
    /// The subject.
    pub s: PTerm<'a>,
    /// The object.
    pub o: PTerm<'a>,
}

/// A parse failure: byte offset into the rule text and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    /// Byte offset in the rule text where the problem is.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, TextError> {
    Err(TextError {
        offset,
        message: message.into(),
    })
}

/// Parses `HEAD <= BODY`.
pub fn parse_rule_text(text: &str) -> Result<(PAtom<'_>, Vec<PAtom<'_>>), TextError> {
    let mut p = Parser {
        text,
        failed: vec![false; text.len() + 1],
        furthest: None,
    };
    p.rule()
}

struct Parser<'a> {
    text: &'a str,
    failed: Vec<bool>,
    furthest: Option<TextError>,
}

impl<'a> Parser<'a> {
    fn note(&mut self, offset: usize, message: impl Into<String>) {
        if self.furthest.as_ref().is_none_or(|e| offset >= e.offset) {
            self.furthest = Some(TextError {
                offset,
                message: message.into(),
            });
        }
    }

    fn take_error(&mut self, fallback_offset: usize, fallback: &str) -> TextError {
        self.furthest.take().unwrap_or(TextError {
            offset: fallback_offset,
            message: fallback.to_string(),
        })
    }

    fn rule(&mut self) -> Result<(PAtom<'a>, Vec<PAtom<'a>>), TextError> {
        let text = self.text;
        if !text.contains(" <=") {
            return err(0, "missing ` <= ` between head and body");
        }
        let Some(lparen) = text.find('(') else {
            return err(0, "the head is not an atom `relation(arg1,arg2)`");
        };
        if lparen == 0 {
            return err(0, "the head has an empty relation name");
        }
        let rel = &text[..lparen];
        for (p, _) in text.match_indices(')').filter(|&(p, _)| p > lparen) {
            if !text[p + 1..].starts_with(" <=") {
                continue;
            }
            let head = match self.args(rel, lparen + 1, p) {
                Ok(a) => a,
                Err(e) => {
                    self.note(e.offset, e.message);
                    continue;
                }
            };
            let rest = p + 4;
            if rest >= text.len() || &text[rest..] == " " {
                return Ok((head, Vec::new()));
            }
            if text.as_bytes()[rest] != b' ' {
                self.note(rest, "expected a space after `<=`");
                continue;
            }
            let mut body = Vec::new();
            if self.body(rest + 1, &mut body) {
                return Ok((head, body));
            }
        }
        Err(self.take_error(lparen, "the head atom is not closed by `) <= `"))
    }

    /// Parses atoms from `pos` to the end of the line; true on success.
    fn body(&mut self, pos: usize, out: &mut Vec<PAtom<'a>>) -> bool {
        let text = self.text;
        if self.failed[pos] {
            return false;
        }
        if out.len() >= MAX_BODY_ATOMS {
            self.note(pos, format!("more than {MAX_BODY_ATOMS} body atoms"));
            return false;
        }
        let Some(lrel) = text[pos..].find('(').map(|i| pos + i) else {
            self.note(pos, "expected a body atom `relation(arg1,arg2)`");
            self.failed[pos] = true;
            return false;
        };
        if lrel == pos {
            self.note(pos, "a body atom has an empty relation name");
            self.failed[pos] = true;
            return false;
        }
        let rel = &text[pos..lrel];
        if !text[lrel..].contains(')') {
            self.note(
                lrel,
                "the line ends inside an atom (a missing `)`; truncated line?)",
            );
        }
        for (p, _) in text[lrel..].match_indices(')') {
            let p = lrel + p;
            let atom = match self.args(rel, lrel + 1, p) {
                Ok(a) => a,
                Err(e) => {
                    self.note(e.offset, e.message);
                    continue;
                }
            };
            let after = p + 1;
            if after == text.len() {
                out.push(atom);
                return true;
            }
            if text[after..].starts_with(", ") {
                out.push(atom);
                if self.body(after + 2, out) {
                    return true;
                }
                out.pop();
            } else {
                self.note(after, "expected `, ` or the end of the line after an atom");
            }
        }
        self.failed[pos] = true;
        false
    }

    /// The arguments between `start` and `end` (exclusive) of an atom of `rel`.
    fn args(&self, rel: &'a str, start: usize, end: usize) -> Result<PAtom<'a>, TextError> {
        let a = &self.text[start..end];
        let b = a.as_bytes();
        let n = b.len();
        let (s, o) = if n >= 3 && b[0].is_ascii_uppercase() && b[1] == b',' {
            (PTerm::Var(b[0]), term(&a[2..], start + 2)?)
        } else if n >= 3 && b[n - 2] == b',' && b[n - 1].is_ascii_uppercase() {
            (term(&a[..n - 2], start)?, PTerm::Var(b[n - 1]))
        } else if let Some(rest) = a.strip_prefix("me_myself_i,") {
            (PTerm::Me, term(rest, start + 12)?)
        } else if let Some(rest) = a.strip_suffix(",me_myself_i") {
            (term(rest, start)?, PTerm::Me)
        } else {
            return err(
                start,
                format!(
                    "atom `{rel}({a})` has no variable (a variable is one capital letter next to the comma)"
                ),
            );
        };
        if s == PTerm::Me && o == PTerm::Me {
            return err(start, "both arguments are `me_myself_i`");
        }
        Ok(PAtom { rel, s, o })
    }
}

fn term(t: &str, offset: usize) -> Result<PTerm<'_>, TextError> {
    let b = t.as_bytes();
    if b.is_empty() {
        return err(offset, "empty argument");
    }
    if b.len() == 1 && b[0].is_ascii_uppercase() {
        return Ok(PTerm::Var(b[0]));
    }
    if t == ME_MYSELF_I {
        return Ok(PTerm::Me);
    }
    Ok(PTerm::Const(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use PTerm::*;

    fn atom<'a>(rel: &'a str, s: PTerm<'a>, o: PTerm<'a>) -> PAtom<'a> {
        PAtom { rel, s, o }
    }

    #[test]
    fn cyclic_rule() {
        let (h, b) = parse_rule_text("h(X,Y) <= b1(X,A), b2(A,Y)").unwrap();
        assert_eq!(h, atom("h", Var(b'X'), Var(b'Y')));
        assert_eq!(
            b,
            vec![
                atom("b1", Var(b'X'), Var(b'A')),
                atom("b2", Var(b'A'), Var(b'Y'))
            ]
        );
    }

    #[test]
    fn empty_body_with_and_without_trailing_space() {
        for t in ["h(X,c) <= ", "h(X,c) <="] {
            let (h, b) = parse_rule_text(t).unwrap();
            assert_eq!(h, atom("h", Var(b'X'), Const("c")));
            assert!(b.is_empty());
        }
    }

    #[test]
    fn constants_with_commas_spaces_and_parentheses() {
        let (h, b) = parse_rule_text(
            "accountName(X,Prepaid, BA (x)) <= name(X,Roaming Américas (30 dias, 2GB)), r(A,X)",
        )
        .unwrap();
        assert_eq!(h, atom("accountName", Var(b'X'), Const("Prepaid, BA (x)")));
        assert_eq!(
            b[0],
            atom("name", Var(b'X'), Const("Roaming Américas (30 dias, 2GB)"))
        );
        assert_eq!(b[1], atom("r", Var(b'A'), Var(b'X')));
    }

    #[test]
    fn constant_holding_close_paren_comma_space() {
        // `), ` inside a constant: the earliest `)` that lets the rest parse wins.
        let (_, b) = parse_rule_text("h(X,c) <= b(X,a), d(e)), r(X,Y)").unwrap();
        // `a` leaves `d(e)), r(X,Y)`, which parses as d("e)), r(X", Y): earliest wins.
        assert_eq!(b[0], atom("b", Var(b'X'), Const("a")));
        assert_eq!(b[1], atom("d", Const("e)), r(X"), Var(b'Y')));
        // Here `a` would leave `(d), r(X,Y)`, whose relation name is empty, so the constant
        // runs on to the next `)`.
        let (_, b) = parse_rule_text("h(X,c) <= b(X,a), (d), r(X,Y)").unwrap();
        assert_eq!(b[0], atom("b", Var(b'X'), Const("a), (d")));
        assert_eq!(b[1], atom("r", Var(b'X'), Var(b'Y')));
    }

    #[test]
    fn left_variable_wins_when_both_fit() {
        let (_, b) = parse_rule_text("h(X,Y) <= b(A,B,C), r(X,Y)").unwrap();
        assert_eq!(b[0], atom("b", Var(b'A'), Const("B,C")));
        let (_, b) = parse_rule_text("h(X,c) <= b(X,x,Y)").unwrap();
        assert_eq!(b[0], atom("b", Var(b'X'), Const("x,Y")));
    }

    #[test]
    fn me_myself_i_on_either_side() {
        let (h, b) = parse_rule_text("h(X,me_myself_i) <= b1(X,A)").unwrap();
        assert_eq!(h, atom("h", Var(b'X'), Me));
        assert_eq!(b[0], atom("b1", Var(b'X'), Var(b'A')));
        let (h, b) = parse_rule_text("campuses(me_myself_i,Y) <= b(/m/027f2w,Y)").unwrap();
        assert_eq!(h, atom("campuses", Me, Var(b'Y')));
        assert_eq!(b[0], atom("b", Const("/m/027f2w"), Var(b'Y')));
        let (_, b) = parse_rule_text("h(X,Y) <= b1(X,me_myself_i), b2(X,Y)").unwrap();
        assert_eq!(b[0], atom("b1", Var(b'X'), Me));
    }

    #[test]
    fn freebase_relations_with_dots_and_slashes() {
        let t = "/film/film/genre(X,/m/02l7c8) <= /film/film/country(X,A), /location/location/contains(A,/m/02_286)";
        let (h, b) = parse_rule_text(t).unwrap();
        assert_eq!(h.rel, "/film/film/genre");
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].o, Const("/m/02_286"));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(
            parse_rule_text("h(X,Y)")
                .unwrap_err()
                .message
                .contains("<=")
        );
        let e = parse_rule_text("h(X,Y) <= b(foo,bar)").unwrap_err();
        assert!(e.message.contains("no variable"), "{e:?}");
        assert_eq!(e.offset, 12);
        assert!(parse_rule_text("h(X,Y) <= b(X,Y").is_err());
        assert!(parse_rule_text("h(X,Y) <= (X,Y)").is_err());
        assert!(parse_rule_text("h(X,) <= b(X,Y)").is_err());
        assert!(parse_rule_text("h(me_myself_i,me_myself_i) <= b(X,Y)").is_err());
        // `,c(` is not an atom separator, so the whole rest is b's constant.
        let (_, b) = parse_rule_text("h(X,Y) <= b(X,Y),c(X,Y)").unwrap();
        assert_eq!(b[0].o, Const("Y),c(X,Y"));
    }

    #[test]
    fn pathological_parentheses_stay_fast() {
        let mut t = String::from("h(X,c) <= b(X,");
        for _ in 0..3000 {
            t.push_str("), q(");
        }
        t.push_str("zz");
        // Memoised failures keep this linear in the number of `)`; without the memo it would
        // not finish.
        assert!(parse_rule_text(&t).is_err());
    }
}
