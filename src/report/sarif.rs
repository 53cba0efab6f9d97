//! SARIF 2.1.0: one result per finding; the strongest rule is the result's rule, located at its
//! line in the rules file; the record is a related location.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{Value, json};

use super::spool::Spool;
use super::{BaselineState, Exporter, RecordReport, RunInfo, Severity, Summary};

#[derive(Default)]
/// SARIF 2.1.0: a result per finding, located at its rule's line and at the record (code-scanning
/// tools show them).
pub struct Sarif {
    data: String,
    /// What could not be checked (failed records, rules cut short), the first
    /// [`MAX_NOTIFICATIONS`], and how many in all.
    notifications: Vec<Value>,
    n_notifications: usize,
    /// The results, one JSON object a line (the rules they name are listed before them).
    results: Spool,
    n_results: usize,
    /// Rule id -> descriptor, sorted for determinism.
    rules: BTreeMap<String, Value>,
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// Where the results go in the document.
const RESULTS: &str = "__pff_sarif_results__";

/// Notifications listed in `invocations` (the rest are counted).
const MAX_NOTIFICATIONS: usize = 1000;

/// `data` as a relative URI reference: every byte outside RFC 3986's unreserved set and `/`
/// percent-encoded (`execution tmf` becomes `execution%20tmf`).
fn uri(data: &str) -> String {
    let mut o = String::with_capacity(data.len());
    for b in data.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// `file:line` -> (file, line).
fn split_rule_id(id: &str) -> (&str, u64) {
    match id.rsplit_once(':') {
        Some((file, line)) => (file, line.parse().unwrap_or(1)),
        None => (id, 1),
    }
}

impl Sarif {
    /// A notification for a record that was not checked, or not fully.
    fn notify(&mut self, r: &RecordReport) {
        let cut = r.rules.skipped + r.rules.truncated;
        let problem = match &r.error {
            Some(e) => Some(("error", format!("{}: not checked: {e}", r.label()))),
            None if cut > 0 => Some((
                "warning",
                format!(
                    "{}: incomplete: {} rules skipped, {} cut short by the work bound or time \
                     budget",
                    r.label(),
                    r.rules.skipped,
                    r.rules.truncated
                ),
            )),
            None => None,
        };
        if let Some((level, text)) = problem {
            self.n_notifications += 1;
            if self.notifications.len() < MAX_NOTIFICATIONS {
                self.notifications.push(json!({
                    "level": level,
                    "message": { "text": text },
                    "locations": [{ "physicalLocation": {
                        "artifactLocation": { "uri": self.data },
                        "region": { "startLine": r.line.max(1) },
                    }}],
                }));
            }
        }
    }
}

impl Exporter for Sarif {
    fn begin(&mut self, _: &mut dyn Write, info: &RunInfo) -> io::Result<()> {
        self.data = uri(&info.data);
        Ok(())
    }

    fn record(&mut self, _: &mut dyn Write, r: &RecordReport) -> io::Result<()> {
        self.notify(r);
        for f in &r.findings {
            let Some(top) = f.top() else { continue };
            let (file, line) = split_rule_id(&top.rule_id);
            self.rules
                .entry(top.rule_id.clone())
                .or_insert_with(|| rule_of(top, line));
            let result = result_of(r, f, top, (file, line), &self.data);
            if self.n_results > 0 {
                self.results.write_all(b",\n")?;
            }
            self.n_results += 1;
            serde_json::to_writer(&mut self.results, &result).map_err(io::Error::from)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write, summary: &Summary) -> io::Result<()> {
        let mut notes: Vec<Value> = summary
            .warnings
            .iter()
            .map(|w| json!({ "level": "warning", "message": { "text": w } }))
            .collect();
        notes.append(&mut self.notifications);
        if self.n_notifications > notes.len() {
            notes.push(json!({
                "level": "note",
                "message": { "text": format!("and {} more records not fully checked", self.n_notifications - notes.len()) },
            }));
        }
        let successful = !matches!(
            summary.verdict,
            super::Verdict::Failed | super::Verdict::Incomplete
        );
        let doc = json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "pff",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://web.informatik.uni-mannheim.de/AnyBURL/",
                    "rules": self.rules.values().collect::<Vec<_>>(),
                }},
                "invocations": [{
                    "executionSuccessful": successful,
                    "toolExecutionNotifications": notes,
                }],
                "results": RESULTS,
            }],
        });
        // The document with a marker where the spooled results go. The marker cannot occur
        // elsewhere unescaped: inside JSON strings its quotes would be escaped.
        let text = serde_json::to_string_pretty(&doc).map_err(io::Error::other)?;
        let marker = format!("\"{RESULTS}\"");
        let (before, after) = text
            .split_once(&marker)
            .ok_or_else(|| io::Error::other("SARIF template lost its results"))?;
        out.write_all(before.as_bytes())?;
        out.write_all(b"[\n")?;
        self.results.copy_to(out)?;
        out.write_all(b"\n]")?;
        out.write_all(after.as_bytes())?;
        writeln!(out)
    }
}

/// A rule as SARIF's `tool.driver.rules` lists it.
fn rule_of(top: &crate::report::RuleEvidence, line: u64) -> Value {
    json!({
        "id": top.rule_id,
        "name": format!("rule-{line}"),
        "shortDescription": { "text": top.rule },
        "fullDescription": { "text": format!("AnyBURL rule {}: {}", top.rule_id, top.rule) },
        "properties": {
            "confidence": top.confidence,
            "minedPredicted": top.mined_predicted,
            "minedCorrect": top.mined_correct,
        },
    })
}

/// A finding as a SARIF result: where its rule is (`file`, `line`), the record it is on in
/// `data`, its
/// fingerprint (a culprit's by the value it blames), its state against a baseline.
fn result_of(
    r: &RecordReport,
    f: &crate::report::Finding,
    top: &crate::report::RuleEvidence,
    (file, line): (&str, u64),
    data: &str,
) -> Value {
    let evidence: Vec<String> = top.evidence.iter().map(|e| e.to_string()).collect();
    let mut result = json!({
        "ruleId": top.rule_id,
        "level": level(f.severity),
        "message": { "text": format!("{}: {}", r.label(), f.message) },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": file },
                "region": { "startLine": line },
            },
            "logicalLocations": [{ "name": f.focus, "kind": "object" }],
        }],
        "relatedLocations": [{
            "id": 0,
            "message": { "text": r.label() },
            "physicalLocation": {
                "artifactLocation": { "uri": data },
                "region": { "startLine": r.line },
            },
        }],
        "partialFingerprints": {
            "missingTriple/v1": format!("{}\t{}\t{}", f.missing.subject, f.missing.relation, f.missing.object),
        },
        "properties": {
            "record": r.index,
            "score": f.score,
            "ruleCount": f.rule_count,
            "kind": f.kind,
            "missing": f.missing,
            "present": f.present,
            "focus": f.focus,
            "consequences": f.consequences,
            "consequenceCount": f.consequence_count,
            "evidence": evidence,
        },
    });
    // A culprit is known by the value it blames (the conflict it shows has its own
    // result and fingerprint).
    if let Some(c) = &f.culprit {
        result["partialFingerprints"] = json!({
            "culprit/v1": format!("{}\t{}\t{}", c.subject, c.relation, c.object),
        });
        result["properties"]["culprit"] = json!(c);
        result["properties"]["explains"] = json!(f.explains);
    }
    // SARIF's own words for a finding against a baseline.
    if let Some(state) = f.baseline {
        result["baselineState"] = json!(match state {
            BaselineState::New => "new",
            BaselineState::Known => "unchanged",
        });
    }
    result
}
