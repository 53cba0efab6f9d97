//! Report text that must come after something known only at the end (JUnit's totals open the
//! document, Markdown's table precedes the details, SARIF's rule list is gathered from every
//! result), kept in a temporary file instead of memory: a report over 10,000 records holds one
//! record at a time.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// An append-only temporary file, created on the first write and removed on drop.
#[derive(Default)]
pub struct Spool {
    file: Option<(PathBuf, BufWriter<File>)>,
    written: u64,
}

impl Spool {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.file.is_none() {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            static SWEPT: std::sync::Once = std::sync::Once::new();
            SWEPT.call_once(|| crate::scratch::remove_stale(&std::env::temp_dir(), ".pff-spool-"));
            let path = std::env::temp_dir().join(format!(
                ".pff-spool-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)?;
            self.file = Some((path, BufWriter::with_capacity(1 << 16, f)));
        }
        match &mut self.file {
            Some((_, w)) => Ok(w),
            None => Err(io::Error::other("spool not open")),
        }
    }

    /// Copies everything written to `out`.
    pub fn copy_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let Some((_, w)) = &mut self.file else {
            return Ok(());
        };
        w.flush()?;
        let f = w.get_mut();
        f.seek(SeekFrom::Start(0))?;
        io::copy(&mut io::Read::take(&*f, self.written), out)?;
        f.seek(SeekFrom::End(0))?;
        Ok(())
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.writer()?.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some((_, w)) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some((path, _)) = self.file.take() {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spooled_text_comes_back_in_order_and_the_file_goes() {
        let mut s = Spool::new();
        let mut out = Vec::new();
        s.copy_to(&mut out).unwrap();
        assert!(out.is_empty() && s.is_empty());
        for i in 0..10_000 {
            writeln!(s, "line {i}").unwrap();
        }
        s.copy_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 10_000);
        assert!(text.ends_with("line 9999\n"));
        let path = s.file.as_ref().unwrap().0.clone();
        assert!(path.exists());
        drop(s);
        assert!(!path.exists());
    }
}
