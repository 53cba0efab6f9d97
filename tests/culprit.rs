//! Culprits across nodes in every report format: a product's offering that makes its
//! contract's payment context and its account's name conflict is blamed on the product.

mod common;

const RECORD: &str = r#"{"id": "R1", "contract": {"id": "K1", "paymentContext": "Control", "product": {"id": "P1", "offering": "PJ", "status": "Active"}}, "account": {"id": "A1", "name": "Control BA", "holds": "P1"}}
"#;

const RULES: &str = "10\t9\t0.9\tpaymentContext(X,Postpaid) <= product(X,A), offering(A,PJ)\n\
                     10\t8\t0.85\tname(X,Postpaid BA) <= holds(X,A), offering(A,PJ)\n";

/// The report of the record in `format`, the temporary folder's name taken out.
fn report(format: &str) -> String {
    let dir = tempfile::TempDir::new().unwrap();
    let record = common::write(&dir, "record.json", RECORD.as_bytes());
    let rules = common::write(&dir, "rules.txt", RULES.as_bytes());
    let out = common::validate_stdout(&record, &rules, format, &["--keep", "info"]);
    out.replace(&dir.path().display().to_string(), "DIR")
}

#[test]
fn culprits_in_every_format() {
    for format in ["human", "markdown", "json", "sarif"] {
        let out = report(format);
        assert!(out.contains("offering"), "{format}: {out}");
        insta::assert_snapshot!(format!("culprit_{format}"), out);
    }
    // JUnit and JSON Lines name it too.
    for format in ["junit", "jsonl"] {
        let out = report(format);
        assert!(
            out.contains("`offering` is PJ, probably wrong"),
            "{format}: {out}"
        );
    }
}

/// In the xlsx report a culprit's row names the value to fix: its subject and relation, no
/// expected value, the present one.
#[test]
fn culprits_in_the_workbook() {
    use calamine::{Reader, open_workbook_auto};
    let dir = tempfile::TempDir::new().unwrap();
    let record = common::write(&dir, "record.json", RECORD.as_bytes());
    let rules = common::write(&dir, "rules.txt", RULES.as_bytes());
    let book = dir.path().join("r.xlsx");
    let args = [
        "validate", &record, "--rules", &rules, "--format", "xlsx", "--keep", "info",
    ];
    common::pff(&args)
        .args(["--fail-on", "never", "-o"])
        .arg(&book)
        .assert()
        .code(0);
    let mut book = open_workbook_auto(&book).expect("a workbook");
    let findings = book.worksheet_range("Findings").unwrap();
    let row: Vec<String> = findings
        .rows()
        .find(|r| r.get(3).is_some_and(|c| *c == "culprit"))
        .expect("a culprit row")
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(row[4..8], ["P1", "offering", "", "PJ"], "{row:?}");
}
