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

/// Reads a whole file of at most `max` bytes, refusing a larger one before reading (by its
/// size) and while reading (a device, a pipe or a growing file has no trustworthy size).
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let too_big = || {
        std::io::Error::other(format!(
            "larger than the {} MiB pff reads whole for such a file",
            max >> 20
        ))
    };
    let f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::other("is a folder, not a file"));
    }
    if meta.is_file() && meta.len() > max {
        return Err(too_big());
    }
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(too_big());
    }
    Ok(buf)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_bounded_text(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read_bounded(path, max)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
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

    #[test]
    fn whole_reads_are_bounded_even_on_devices() {
        let e = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, vec![b'a'; 100]).unwrap();
        assert!(read_bounded(&f, 99).is_err());
        assert_eq!(read_bounded(&f, 100).unwrap().len(), 100);
        assert!(read_bounded(dir.path(), 100).is_err());
    }
}

/// A UTC calendar time (no time zone database: pff names things in UTC only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
}

impl Civil {
    /// The UTC time `secs` seconds after 1970-01-01 (Howard Hinnant's civil-from-days).
    pub fn of(secs: u64) -> Civil {
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Civil {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
        }
    }
}

/// FNV-1a, 64 bits, fed in pieces: a stable hash (the same on every machine and release), for
/// shard assignment, digests of rules, manifests and data. Not for secrets.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Feeds a whole file, streamed (it may be larger than memory).
    pub fn file(&mut self, path: &Path) -> std::io::Result<()> {
        stream(path, |chunk| self.update(chunk))
    }

    /// Marks the end of one of several inputs (`rules_digest`'s separator between files).
    pub fn separate(&mut self) {
        self.0 ^= 0xff;
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

/// Hands a file's content to `each`, a chunk at a time (a file of any size in little memory):
/// what every digest of a file reads it with.
pub fn stream(path: &Path, mut each: impl FnMut(&[u8])) -> std::io::Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        each(&buf[..n]);
    }
}

/// FNV-1a of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv1a::default();
    h.update(bytes);
    h.finish()
}
