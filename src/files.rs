//! Facts about files that commands check before they write: an output is never one of the
//! command's inputs (the same file by device and inode, whatever the links in between).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// An output that would overwrite an input.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} {output} is the same file as the input {input}: writing it would destroy what pff \
     is reading; choose another output"
)]
pub struct SameFileError {
    /// Which output (`-o`, `--rule-stats`, ...).
    pub what: String,
    pub output: String,
    pub input: String,
}

/// Whether `a` and `b` name one existing file (through any links). A path that does not exist
/// is no file at all.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Refuses any `outputs` (`what`, path) that is one of `inputs` or another output. Standard
/// streams (`-`) are not files here.
pub fn check_outputs(outputs: &[(&str, &Path)], inputs: &[&Path]) -> Result<(), SameFileError> {
    let is_stream = |p: &Path| p.as_os_str() == "-";
    for (i, (what, out)) in outputs.iter().enumerate() {
        if is_stream(out) {
            continue;
        }
        let others = outputs[i + 1..].iter().map(|(_, p)| *p);
        for input in inputs.iter().copied().chain(others) {
            if !is_stream(input) && same_file(out, input) {
                return Err(SameFileError {
                    what: what.to_string(),
                    output: out.display().to_string(),
                    input: input.display().to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_file_through_links_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d.jsonl");
        std::fs::write(&data, "{}\n").unwrap();
        let hard = dir.path().join("hard");
        std::fs::hard_link(&data, &hard).unwrap();
        let soft = dir.path().join("soft");
        std::os::unix::fs::symlink(&data, &soft).unwrap();
        let other = dir.path().join("other");
        for out in [&data, &hard, &soft] {
            let e = check_outputs(&[("-o", out)], &[&data]).unwrap_err();
            assert!(e.to_string().contains("same file"), "{e}");
        }
        assert!(check_outputs(&[("-o", &other)], &[&data]).is_ok());
        std::fs::write(&other, "").unwrap();
        assert!(check_outputs(&[("-o", &other)], &[&data]).is_ok());
        assert!(check_outputs(&[("-o", &other), ("--rule-stats", &other)], &[&data]).is_err());
        assert!(check_outputs(&[("-o", Path::new("-"))], &[Path::new("-")]).is_ok());
    }
}
