//! authkeys: the keys that sign and verify every frame.
//!
//! Syntax (Heartbeat's): `auth N` picks the key that signs outgoing frames;
//! `N crc`, `N md5 KEY`, `N sha1 KEY` and twinbeat's `N sha256 KEY` define
//! keys 1–15. A receiver accepts a frame signed with any key defined here,
//! which is how keys are rotated without a flag day.

use std::fmt;
use std::path::Path;

use super::diag::{ConfigError, Diagnostics};

/// Highest key index Heartbeat allows.
pub const MAX_KEY_INDEX: u8 = 15;

/// How frames are signed. `Crc` detects corruption only; it authenticates
/// nothing.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthMethod {
    Crc,
    Md5 { key: Vec<u8> },
    Sha1 { key: Vec<u8> },
    Sha256 { key: Vec<u8> },
}

impl AuthMethod {
    pub fn name(&self) -> &'static str {
        match self {
            AuthMethod::Crc => "crc",
            AuthMethod::Md5 { .. } => "md5",
            AuthMethod::Sha1 { .. } => "sha1",
            AuthMethod::Sha256 { .. } => "sha256",
        }
    }
}

// Keys never reach a log line through Debug.
impl fmt::Debug for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthMethod::Crc => write!(f, "crc"),
            other => write!(f, "{} <key hidden>", other.name()),
        }
    }
}

/// The parsed authkeys file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthKeys {
    /// The index named by `auth N`; always present in `keys`.
    active: u8,
    /// `keys[i]` is key index `i`; index 0 is never used.
    keys: [Option<AuthMethod>; MAX_KEY_INDEX as usize + 1],
}

impl AuthKeys {
    /// Builds a key table; `None` when `active` does not name a defined key.
    pub fn new(active: u8, defined: impl IntoIterator<Item = (u8, AuthMethod)>) -> Option<Self> {
        let mut keys: [Option<AuthMethod>; MAX_KEY_INDEX as usize + 1] = Default::default();
        for (index, method) in defined {
            if index == 0 || index > MAX_KEY_INDEX {
                return None;
            }
            keys[index as usize] = Some(method);
        }
        keys.get(active as usize)?.as_ref()?;
        Some(Self { active, keys })
    }

    /// The key index that signs outgoing frames.
    pub fn active_index(&self) -> u8 {
        self.active
    }

    pub fn active(&self) -> &AuthMethod {
        self.keys[self.active as usize]
            .as_ref()
            .expect("constructor guarantees the active key exists")
    }

    /// The key for an index received on the wire, if this node defines it.
    pub fn get(&self, index: u8) -> Option<&AuthMethod> {
        self.keys.get(index as usize)?.as_ref()
    }

    /// Every defined key, lowest index first.
    pub fn defined(&self) -> impl Iterator<Item = (u8, &AuthMethod)> {
        self.keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.as_ref().map(|k| (i as u8, k)))
    }
}

/// Parses authkeys text; every problem goes to `diags` located at `file`.
pub fn parse(text: &str, file: &Path, diags: &mut Diagnostics) -> Option<AuthKeys> {
    let _ = (text, file, diags);
    todo!("config helper implements authkeys parsing")
}

/// Reads and parses an authkeys file, refusing one readable by group or others.
pub fn load(path: &Path) -> Result<(AuthKeys, Diagnostics), ConfigError> {
    let _ = path;
    todo!("config helper implements authkeys loading")
}
