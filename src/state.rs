//! Node state kept on disk: the generation number.
//!
//! Every frame carries the sender's generation, and the receiver accepts
//! only a rising `(generation, sequence)` counter. The generation must
//! therefore rise at every start, even after a crash, or frames recorded
//! before the restart could be replayed. It lives in `STATE_DIR/generation`
//! as decimal text and is replaced atomically: write a temporary file,
//! fsync it, rename it over the old one, fsync the directory — a value is
//! handed out only once it is durable.
//!
//! A file that does not hold a number is an error naming the file and its
//! content, never silently reset: a reset would reopen the replay window.
//!
//! This is the one core module that touches the disk; it runs at start-up
//! and when a sender's sequence is about to wrap (once every 2^32 frames,
//! about 5 days at a 100 µs keepalive), never on the beat path.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Name of the file inside the state directory.
pub const GENERATION_FILE: &str = "generation";
const TEMP_FILE: &str = "generation.tmp";
/// The most of a corrupt file quoted in an error.
const QUOTE_LIMIT: usize = 64;

#[derive(Debug, Error)]
pub enum StateError {
    #[error("cannot create state directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: expected a decimal generation number, found {found:?}; refusing to reset it (that would allow replay of old frames)", path.display())]
    Corrupt { path: PathBuf, found: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{}: generation {current} cannot rise any further", path.display())]
    Exhausted { path: PathBuf, current: u32 },
}

/// The on-disk generation of this node.
#[derive(Debug)]
pub struct GenerationStore {
    dir: PathBuf,
    /// The highest value on disk (0 = none yet).
    stored: u32,
}

impl GenerationStore {
    /// Opens (creating, mode 0700) the state directory and reads the stored
    /// generation, if any.
    pub fn open(state_dir: impl AsRef<Path>) -> Result<Self, StateError> {
        let dir = state_dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|source| StateError::CreateDir {
                    path: dir.clone(),
                    source,
                })?;
        }
        let path = dir.join(GENERATION_FILE);
        let stored = match fs::read(&path) {
            Ok(bytes) => parse_generation(&bytes).ok_or_else(|| StateError::Corrupt {
                path: path.clone(),
                found: quote(&bytes),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(source) => return Err(StateError::Read { path, source }),
        };
        Ok(Self { dir, stored })
    }

    /// The path of the generation file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(GENERATION_FILE)
    }

    /// The last generation made durable (0 before the first start).
    pub fn current(&self) -> u32 {
        self.stored
    }

    /// Persists and returns the next generation (1 on a first start).
    pub fn take_next(&mut self) -> Result<u32, StateError> {
        let next = self.stored.checked_add(1).ok_or(StateError::Exhausted {
            path: self.path(),
            current: self.stored,
        })?;
        self.persist(next)?;
        Ok(next)
    }

    /// Makes `generation` durable before a sender starts using it (when its
    /// sequence is about to wrap), so the next start goes above it. Never
    /// lowers the stored value.
    pub fn reserve(&mut self, generation: u32) -> Result<(), StateError> {
        if generation <= self.stored {
            return Ok(());
        }
        self.persist(generation)
    }

    fn persist(&mut self, generation: u32) -> Result<(), StateError> {
        let temp = self.dir.join(TEMP_FILE);
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Write { path, source }
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(write_err(&temp))?;
        file.write_all(format!("{generation}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(write_err(&temp))?;
        drop(file);
        let target = self.path();
        fs::rename(&temp, &target).map_err(write_err(&target))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(write_err(&self.dir))?;
        self.stored = generation;
        Ok(())
    }
}

fn parse_generation(bytes: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(bytes).ok()?;
    let digits = text.strip_suffix('\n').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn quote(bytes: &[u8]) -> String {
    let shown = bytes.get(..QUOTE_LIMIT).unwrap_or(bytes);
    let mut s = String::from_utf8_lossy(shown).into_owned();
    if bytes.len() > QUOTE_LIMIT {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_decimal_with_optional_newline_only() {
        assert_eq!(parse_generation(b"41\n"), Some(41));
        assert_eq!(parse_generation(b"7"), Some(7));
        for bad in [
            &b""[..],
            b"\n",
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"0x10",
            b"99999999999",
            b"\xff",
        ] {
            assert_eq!(parse_generation(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn quote_is_bounded() {
        let long = vec![b'x'; 1000];
        assert!(quote(&long).chars().count() <= QUOTE_LIMIT + 1);
    }
}
