//! The wording of findings: the one line a person reads first.

use super::Triple;

/// The one-line message of a finding: the slot and what it holds, what the rules expect, how
/// many and how strongly.
pub fn finding_message(
    missing: &Triple,
    present: &[String],
    rules: usize,
    strongest: f64,
    score: f64,
) -> String {
    let slot = if present.is_empty() {
        format!("{} has no `{}`", missing.subject, missing.relation)
    } else {
        format!(
            "{}: `{}` is {}",
            missing.subject,
            missing.relation,
            present.join(", ")
        )
    };
    if rules == 1 {
        format!(
            "{slot}; a rule with confidence {strongest:.2} expects {} (score {score:.3})",
            missing.object
        )
    } else {
        format!(
            "{slot}; {rules} rules expect {} (strongest confidence {strongest:.2}, score {score:.3})",
            missing.object
        )
    }
}

/// The one-line explanation of a culprit: the value, and the conflicts on other nodes that
/// follow from it (`explains`, strongest first).
pub fn culprit_message(culprit: &Triple, explains: &[Triple], score: f64) -> String {
    let strongest = explains.first().map_or_else(String::new, |t| {
        format!(
            ", the strongest: rules expect {} to have `{}` {}",
            t.subject, t.relation, t.object
        )
    });
    format!(
        "{}: `{}` is {}, probably wrong: {} conflicts on other nodes follow from it{strongest} \
         (score {score:.3})",
        culprit.subject,
        culprit.relation,
        culprit.object,
        explains.len()
    )
}
