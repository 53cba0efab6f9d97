//! Reading lines with a bound: a file without newlines (`/dev/zero`, a binary file given by
//! mistake) must end in a clear error, not in an allocation of gigabytes.

use std::io::{self, BufRead};

/// The longest rule or triples line accepted (a rule is a few hundred bytes).
pub const MAX_RULE_LINE: usize = 16 << 20;
/// The longest JSON Lines record accepted (as the default size limit of a fetched record).
pub const MAX_RECORD_LINE: usize = 64 << 20;

/// Reads up to and including the next `\n` into `buf` (appending), like
/// [`BufRead::read_until`], but never more than `max` bytes: a longer line is an
/// [`io::ErrorKind::InvalidData`] error, with what was read of it left in `buf`. Returns the
/// bytes read (0 at the end of the input).
pub fn read_line_bounded(r: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    let mut read = 0;
    loop {
        let (done, used) = {
            let available = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            match available.iter().position(|&b| b == b'\n') {
                Some(i) => (true, i + 1),
                None => (available.is_empty(), available.len()),
            }
        };
        if read + used > max {
            return Err(too_long(max));
        }
        let available = r.fill_buf()?;
        buf.extend_from_slice(&available[..used]);
        r.consume(used);
        read += used;
        if done {
            return Ok(read);
        }
    }
}

fn too_long(max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("line longer than {} MiB (is it the right file?)", max >> 20),
    )
}

/// Whether `e` is the error [`read_line_bounded`] gives for an overlong line.
pub fn is_too_long(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData && e.to_string().starts_with("line longer than")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_within_the_bound_read_as_read_until() {
        let text = b"ab\n\ncd\nlast";
        let mut r = io::BufReader::with_capacity(3, &text[..]);
        let mut lines = Vec::new();
        loop {
            let mut buf = Vec::new();
            if read_line_bounded(&mut r, &mut buf, 10).unwrap() == 0 {
                break;
            }
            lines.push(buf);
        }
        assert_eq!(
            lines,
            vec![
                b"ab\n".to_vec(),
                b"\n".to_vec(),
                b"cd\n".to_vec(),
                b"last".to_vec()
            ]
        );
    }

    #[test]
    fn an_endless_line_stops_at_the_bound() {
        let mut r = io::BufReader::new(io::repeat(0));
        let mut buf = Vec::new();
        let e = read_line_bounded(&mut r, &mut buf, 1 << 20).unwrap_err();
        assert!(is_too_long(&e), "{e}");
        assert!(buf.len() <= 1 << 20);
        // A line of exactly the bound is accepted.
        let line = [b'x'; 8];
        let mut r = io::BufReader::new(&line[..]);
        assert_eq!(read_line_bounded(&mut r, &mut Vec::new(), 8).unwrap(), 8);
    }
}
