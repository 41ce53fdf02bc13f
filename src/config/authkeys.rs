//! authkeys: the keys that sign and verify every frame.
//!
//! Syntax (Heartbeat's): `auth N` picks the key that signs outgoing frames;
//! `N crc`, `N md5 KEY`, `N sha1 KEY` and twinbeat's `N sha256 KEY` define
//! keys 1–15. A receiver accepts a frame signed with any key defined here,
//! which is how keys are rotated without a flag day.

use std::fmt;
use std::path::Path;

use super::diag::{ConfigError, Diagnostics, shown};
use super::hacf::{find_placeholder, placeholder_word};

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
    let mut auth_line: Option<(usize, Option<u8>)> = None;
    // (index, method, line) in file order; index validity checked per line.
    let mut defined: Vec<(u8, AuthMethod, usize)> = Vec::new();
    let mut clean = true;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim_matches([' ', '\t', '\r']);
        // Only whole-line comments: `#` may be part of a key.
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if has_placeholder(line) {
            if line.starts_with("auth") && auth_line.is_none() {
                // Reported here; not again as a missing `auth` line.
                auth_line = Some((line_no, None));
            }
            // The line may hold a key, which is never echoed.
            diags.error(
                file,
                line_no,
                "this line holds an unfilled template placeholder (such as `{{ ... }}` or `${...}`): put the real value there",
            );
            clean = false;
            continue;
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if first == "auth" {
            let index = words.next();
            if words.next().is_some() {
                diags.error(file, line_no, "`auth` takes one key index: auth N");
                clean = false;
            }
            if let Some((earlier, _)) = auth_line {
                diags.error(
                    file,
                    line_no,
                    format!("`auth` given again (first on line {earlier}): keep one"),
                );
                clean = false;
                continue;
            }
            let parsed = match index {
                None => {
                    diags.error(file, line_no, "`auth` needs a key index: auth N (1-15)");
                    None
                }
                Some(text) => key_index(text, file, line_no, diags),
            };
            clean &= parsed.is_some();
            auth_line = Some((line_no, parsed));
            continue;
        }
        match key_line(first, &mut words, file, line_no, diags) {
            Some((index, method)) => {
                if let Some((_, _, earlier)) = defined.iter().find(|(i, _, _)| *i == index) {
                    diags.error(
                        file,
                        line_no,
                        format!("key {index} is defined twice (first on line {earlier})"),
                    );
                    clean = false;
                } else {
                    defined.push((index, method, line_no));
                }
            }
            None => clean = false,
        }
    }
    let active = match auth_line {
        None => {
            diags.error(
                file,
                0,
                "no `auth N` line: name the key that signs outgoing messages",
            );
            return None;
        }
        Some((_, None)) => return None,
        Some((line_no, Some(active))) => {
            if !defined.iter().any(|(i, _, _)| *i == active) {
                diags.error(
                    file,
                    line_no,
                    format!("`auth {active}` names key {active}, which is not defined"),
                );
                return None;
            }
            active
        }
    };
    if !clean {
        return None;
    }
    AuthKeys::new(active, defined.into_iter().map(|(i, m, _)| (i, m)))
}

/// Whether a line holds a template variable. A key may be any word, so
/// only a key that is placeholder-shaped as a whole (`{{...`, `${...`,
/// `<...>`, `%...%`) counts; `a${b` is a valid key.
fn has_placeholder(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [first, method, key, ..] if *first != "auth" => {
            placeholder_word(first)
                || placeholder_word(method)
                || key.starts_with("{{")
                || key.starts_with("${")
                || (key.len() > 1 && key.starts_with('<') && key.ends_with('>'))
                || (key.len() > 1 && key.starts_with('%') && key.ends_with('%'))
        }
        _ => find_placeholder(line).is_some(),
    }
}

fn key_index(text: &str, file: &Path, line_no: usize, diags: &mut Diagnostics) -> Option<u8> {
    match text.parse::<u8>() {
        Ok(n) if (1..=MAX_KEY_INDEX).contains(&n) => Some(n),
        _ => {
            diags.error(
                file,
                line_no,
                format!(
                    "key index `{}` must be a number from 1 to {MAX_KEY_INDEX}",
                    shown(text)
                ),
            );
            None
        }
    }
}

/// One `N method [KEY]` line. The key is one whitespace-free word, as
/// Heartbeat's `sscanf("%d %s %s")` reads it, so both read the same bytes.
fn key_line<'a>(
    index_text: &str,
    words: &mut impl Iterator<Item = &'a str>,
    file: &Path,
    line_no: usize,
    diags: &mut Diagnostics,
) -> Option<(u8, AuthMethod)> {
    let index = key_index(index_text, file, line_no, diags);
    let Some(method_name) = words.next() else {
        diags.error(
            file,
            line_no,
            "key line needs a method: N crc | N md5 KEY | N sha1 KEY | N sha256 KEY",
        );
        return None;
    };
    let key = words.next().map(|k| k.as_bytes().to_vec());
    if words.next().is_some() {
        // The key itself is never echoed.
        diags.warning(
            file,
            line_no,
            "text after the key is ignored: like Heartbeat, twinbeat reads the key as one word",
        );
    }
    let method_lower = method_name.to_ascii_lowercase();
    let method = match (method_lower.as_str(), key) {
        ("crc", None) => AuthMethod::Crc,
        ("crc", Some(_)) => {
            diags.error(
                file,
                line_no,
                "crc takes no key (it only detects corruption): write `N crc`",
            );
            return None;
        }
        ("md5" | "sha1" | "sha256", None) => {
            diags.error(
                file,
                line_no,
                format!("{method_lower} needs a key: N {method_lower} KEY"),
            );
            return None;
        }
        ("md5", Some(key)) => AuthMethod::Md5 { key },
        ("sha1", Some(key)) => AuthMethod::Sha1 { key },
        ("sha256", Some(key)) => AuthMethod::Sha256 { key },
        _ => {
            diags.error(
                file,
                line_no,
                format!(
                    "unknown auth method `{}` (expected crc, md5, sha1 or sha256)",
                    shown(method_name)
                ),
            );
            return None;
        }
    };
    Some((index?, method))
}

/// Reads and parses an authkeys file, refusing one readable by group or others.
pub fn load(path: &Path) -> Result<(AuthKeys, Diagnostics), ConfigError> {
    let file = std::fs::File::open(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_file(file, path)
}

/// Like [`load`] on an already open file (`path` names it in messages):
/// the permissions checked are those of the file read, whatever `path`
/// names by now.
pub fn load_file(file: std::fs::File, path: &Path) -> Result<(AuthKeys, Diagnostics), ConfigError> {
    let mut diags = Diagnostics::new();
    let text = read_private(file, path, &mut diags).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    match parse(&text, path, &mut diags) {
        Some(keys) if !diags.has_errors() => Ok((keys, diags)),
        _ => Err(ConfigError::Invalid(diags)),
    }
}

/// Checks the permissions of the open file (fstat, not a second lookup of
/// the path, which could by then name another file) and reads its text
/// from the same handle.
pub(crate) fn read_private(
    mut file: std::fs::File,
    path: &Path,
    diags: &mut Diagnostics,
) -> std::io::Result<String> {
    use std::io::Read;
    let metadata = file.metadata()?;
    check_permissions(&metadata, path, diags);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(super::source::decode(&bytes, path, diags))
}

/// Heartbeat refuses keys others can read ("Bad permissions on keyfile");
/// so does twinbeat, saying what it found and how to fix it.
fn check_permissions(metadata: &std::fs::Metadata, path: &Path, diags: &mut Diagnostics) {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        diags.error(
            path,
            0,
            format!(
                "permissions {mode:04o} let group or others read the keys; run `chmod 600 {}`",
                path.display()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_one_word_and_may_contain_a_hash() {
        let mut d = Diagnostics::new();
        let keys = parse(
            "# comment\n\nauth 2\n1 crc\n2 md5 se#cret extra words\n",
            Path::new("authkeys"),
            &mut d,
        )
        .expect("valid");
        assert_eq!(keys.active_index(), 2);
        assert_eq!(
            keys.active(),
            &AuthMethod::Md5 {
                key: b"se#cret".to_vec()
            }
        );
        assert_eq!(keys.get(1), Some(&AuthMethod::Crc));
        assert_eq!(keys.get(3), None);
        let warnings: Vec<_> = d.warnings().collect();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, 5);
        assert!(
            !warnings[0].message.contains("extra"),
            "the rest of a key line is never echoed"
        );
    }

    #[test]
    fn every_problem_is_reported_not_only_the_first() {
        let mut d = Diagnostics::new();
        let keys = parse(
            "1 crc x\n0 sha1 k\n2 bogus k\n",
            Path::new("authkeys"),
            &mut d,
        );
        assert!(keys.is_none());
        // crc with a key, index 0, unknown method, and no auth line.
        assert_eq!(d.errors().count(), 4, "{d}");
    }
}
