//! Unit tests of the report model: scores, messages, summaries.
use super::*;

#[test]
fn severity_from_confidence() {
    let c = SeverityCuts {
        error: 0.9,
        warning: 0.5,
    };
    assert_eq!(c.of(0.95), Severity::Error);
    assert_eq!(c.of(0.9), Severity::Error);
    assert_eq!(c.of(0.5), Severity::Warning);
    assert_eq!(c.of(0.49), Severity::Info);
    let d = SeverityCuts::default();
    assert_eq!(d.error, crate::defaults::ERROR_CONFIDENCE);
    assert!(d.warning <= d.error);
}

#[test]
fn combined_score_leads_with_the_strongest_rule() {
    assert_eq!(combined_score([]), 0.0);
    assert_eq!(combined_score([0.8]), 0.8);
    // Agreement raises the score, but fifty weak variants do not beat one strong rule.
    assert!(combined_score([0.8, 0.5]) > 0.8);
    assert!(combined_score([0.4; 50]) < combined_score([0.95]));
    assert!((noisy_or([0.5, 0.5]) - 0.75).abs() < 1e-9);
    // Exact whatever the order.
    let ws = [0.31, 0.0007, 0.9, 0.125, 0.5, 0.999, 0.02];
    let mut rev = ws;
    rev.reverse();
    assert_eq!(combined_score(ws), combined_score(rev));
    assert_eq!(combined_score([1.0]), 1.0);
}

/// Redundant rules (the same prediction through 1:1 relations: offering id, external id,
/// name) are not independent votes: however many copies of a weight `w` agree, they raise
/// the score by at most half the gap to 1, so they never outrank one rule stronger than
/// `w + (1 - w) / 2`. Measured on the audit set, clustering such rules (max within a
/// cluster, noisy-or across, clusters by the findings each rule predicts on the record)
/// ranks the same: see BENCHMARKS.md.
#[test]
fn redundant_copies_raise_the_score_by_at_most_half_the_gap() {
    for w in [0.3, 0.8, 0.95] {
        for n in [2, 3, 10, 1000] {
            let copies = combined_score(std::iter::repeat_n(w, n));
            assert!(
                copies > w && copies <= w + (1.0 - w) / 2.0,
                "{w} x{n}: {copies}"
            );
        }
    }
    // Three redundant 0.8 rules (offering id, external id, name) stay below one 0.9 rule.
    assert!(combined_score([0.8, 0.8, 0.8]) < combined_score([0.9]));
}

#[test]
fn printable_escapes_controls_and_bidi_overrides() {
    assert_eq!(printable("plain é"), "plain é");
    assert_eq!(printable("a\x1b[31mb\0c"), "a\\u{1b}[31mb\\u{0}c");
    assert_eq!(printable("x\ny\tz\u{202e}"), "x\\ny\\tz\\u{202e}");
    assert_eq!(printable("\u{9b}"), "\\u{9b}");
}

#[test]
fn fail_on_levels() {
    let counts = SeverityCounts {
        error: 0,
        warning: 1,
        info: 5,
    };
    assert!(!FailOn::Error.fails(&counts));
    assert!(FailOn::Warning.fails(&counts));
    assert!(FailOn::Info.fails(&counts));
    assert!(!FailOn::Never.fails(&counts));
}
