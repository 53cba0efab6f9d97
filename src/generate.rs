//! `pff generate`: the line numbers (MSISDNs, 11 to 13 digits) in any text — an export, an
//! e-mail, a log — as a task list or a manifest, the way the predecessor's users built theirs.

/// The MSISDNs in `text`, in order of first appearance, each once: runs of 11 to 13 ASCII
/// digits not part of a longer run of digits (a leading `+` is dropped).
pub fn msisdns(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let run = &text[start..i];
        if (11..=13).contains(&run.len()) && seen.insert(run.to_string()) {
            out.push(run.to_string());
        }
    }
    out
}

/// A manifest with a task per key; `source` (with `{msisdn}` replaced) names each record.
pub fn manifest(execution_id: &str, keys: &[String], source: Option<&str>) -> String {
    // Quoted as YAML: an id with `#`, `:` or a line end stays one value.
    let id = serde_json::to_string(execution_id).unwrap_or_else(|_| "\"generated\"".into());
    let mut m = format!("execution_id: {id}\ntasks:\n");
    for k in keys {
        m.push_str(&format!("- msisdn: '{k}'\n"));
        if let Some(t) = source {
            let src = t.replace("{msisdn}", k).replace('\'', "''");
            m.push_str(&format!("  source: '{src}'\n"));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_runs_of_11_to_13_digits_each_once_in_order() {
        let text = "call +5511999990001 or 5511999990001; 021 3333-4444; 55119999900021, \
                    55219876543210 (14), 5531987654321 id 1234567890 x5541912345678y";
        assert_eq!(
            msisdns(text),
            vec!["5511999990001", "5531987654321", "5541912345678"]
        );
        assert!(msisdns("").is_empty());
    }

    #[test]
    fn manifests_quote_keys_and_fill_the_source() {
        let m = manifest("g", &["5511999990001".into()], Some("recs/{msisdn}.json"));
        assert_eq!(
            m,
            "execution_id: \"g\"\ntasks:\n- msisdn: '5511999990001'\n  source: 'recs/5511999990001.json'\n"
        );
    }
}
