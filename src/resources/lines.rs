//! Cutting a script's output stream into log lines of bounded length.
//!
//! A script may write anything: no newline at all, a megabyte on one line,
//! binary noise. [`LineSplitter`] keeps at most `max_line` bytes of the
//! current line and drops the rest of it (marking the line as truncated), so
//! a flood costs a fixed amount of memory however long it runs.

/// One line as handed to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// Without its newline; lossy UTF-8 is the caller's choice.
    pub bytes: &'a [u8],
    /// The line was longer than `max_line` and was cut.
    pub truncated: bool,
}

/// Splits a byte stream into lines of at most `max_line` bytes.
#[derive(Debug)]
pub struct LineSplitter {
    current: Vec<u8>,
    max_line: usize,
    truncated: bool,
}

impl LineSplitter {
    /// `max_line` is clamped to at least 1.
    pub fn new(max_line: usize) -> Self {
        let max_line = max_line.max(1);
        LineSplitter {
            current: Vec::with_capacity(max_line.min(4096)),
            max_line,
            truncated: false,
        }
    }

    /// Feeds a chunk; `emit` is called for every line it completes.
    pub fn push(&mut self, chunk: &[u8], mut emit: impl FnMut(Line<'_>)) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let (piece, ends_line) = match rest.iter().position(|&b| b == b'\n') {
                Some(at) => (&rest[..at], true),
                None => (rest, false),
            };
            self.keep(piece);
            rest = if ends_line {
                self.emit_current(&mut emit);
                &rest[piece.len() + 1..]
            } else {
                &[]
            };
        }
    }

    /// Emits a last line that had no newline, if any.
    pub fn finish(&mut self, mut emit: impl FnMut(Line<'_>)) {
        if !self.current.is_empty() || self.truncated {
            self.emit_current(&mut emit);
        }
    }

    fn keep(&mut self, piece: &[u8]) {
        let room = self.max_line.saturating_sub(self.current.len());
        let (kept, dropped) = piece.split_at(piece.len().min(room));
        self.current.extend_from_slice(kept);
        if !dropped.is_empty() {
            self.truncated = true;
        }
    }

    fn emit_current(&mut self, emit: &mut impl FnMut(Line<'_>)) {
        let bytes = trim_carriage_return(&self.current);
        emit(Line {
            bytes,
            truncated: self.truncated,
        });
        self.current.clear();
        self.truncated = false;
    }
}

fn trim_carriage_return(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        let mut splitter = LineSplitter::new(max);
        for chunk in chunks {
            splitter.push(chunk, |l| out.push((l.bytes.to_vec(), l.truncated)));
        }
        splitter.finish(|l| out.push((l.bytes.to_vec(), l.truncated)));
        out
    }

    #[test]
    fn lines_across_chunks_are_joined() {
        let out = split(&[b"sta", b"rting\nok\r\nta", b"il"], 100);
        assert_eq!(
            out,
            vec![
                (b"starting".to_vec(), false),
                (b"ok".to_vec(), false),
                (b"tail".to_vec(), false)
            ]
        );
    }

    #[test]
    fn long_line_is_cut_and_marked_and_the_next_is_whole() {
        let out = split(&[b"abcdefgh", b"ij\nxy\n"], 4);
        assert_eq!(out, vec![(b"abcd".to_vec(), true), (b"xy".to_vec(), false)]);
    }

    #[test]
    fn empty_lines_are_kept() {
        let out = split(&[b"\n\n"], 4);
        assert_eq!(out, vec![(vec![], false), (vec![], false)]);
    }

    proptest! {
        #[test]
        fn no_line_exceeds_the_limit_and_short_lines_survive(
            lines in proptest::collection::vec("[a-z]{0,20}", 0..20),
            max in 1usize..16,
            cut in 0usize..400,
        ) {
            let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
            let cut = cut.min(text.len());
            let (a, b) = text.as_bytes().split_at(cut);
            let out = split(&[a, b], max);
            prop_assert_eq!(out.len(), lines.len());
            for (line, (got, truncated)) in lines.iter().zip(&out) {
                prop_assert!(got.len() <= max);
                prop_assert_eq!(*truncated, line.len() > max);
                prop_assert_eq!(&got[..], &line.as_bytes()[..line.len().min(max)]);
            }
        }
    }
}
