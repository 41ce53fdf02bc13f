//! Located diagnostics: every problem in a configuration file is reported as
//! `FILE:LINE: message`, and a parser collects all of them instead of
//! stopping at the first, so an operator fixes a file in one pass.
//!
//! A problem of the file as a whole (a missing directive, bad permissions,
//! an unreadable file) has line 0 and prints as `FILE: message`, without a
//! line number. Warnings print as `FILE:LINE: warning: message`.
//!
//! ```
//! use std::path::Path;
//! use twinbeat::config::Diagnostics;
//!
//! let mut d = Diagnostics::new();
//! d.error(Path::new("ha.cf"), 4, "unknown directive `frob`");
//! d.error(Path::new("ha.cf"), 0, "no nodes");
//! d.warning(Path::new("ha.cf"), 0, "auto_failback not set");
//! assert_eq!(
//!     d.to_string(),
//!     "ha.cf:4: unknown directive `frob`\nha.cf: no nodes\nha.cf: warning: auto_failback not set"
//! );
//! ```
//!
//! Values read from a file are printed through [`shown`], which escapes
//! control characters (and, as a backstop, [`Diagnostics`] escapes any that
//! reach a message), so a garbage file cannot send escape sequences to the
//! operator's terminal.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, located in a file. `line` is 1-based; 0 means the file as a
/// whole (a missing directive, a bad permission).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub severity: Severity,
    pub message: String,
}

/// Characters that must not reach a terminal raw: C0/C1 controls (ESC,
/// CSI, BEL, NUL, newlines...) and the Unicode bidirectional overrides that
/// make text display in another order than it reads.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

/// A value read from a file, safe to print: control and bidi characters
/// appear as `\t`, `\u{1b}`..., a backslash as `\\`; everything else
/// (including non-ASCII text) is printed as it is, so normal input stays
/// readable.
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c == '\\' {
                f.write_str("\\\\")?;
            } else if needs_escape(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Wraps a value read from a file for printing; see [`Shown`].
pub fn shown(value: &str) -> Shown<'_> {
    Shown(value)
}

/// Escapes control characters only (backslashes are left alone: the
/// message may already contain escaped values).
fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", escape_controls(&self.file.to_string_lossy()))?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        match self.severity {
            Severity::Error => write!(f, ": {}", self.message),
            Severity::Warning => write!(f, ": warning: {}", self.message),
        }
    }
}

/// The diagnostics gathered while reading one or more files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn error(&mut self, file: &Path, line: usize, message: impl Into<String>) {
        self.push(file, line, Severity::Error, message.into());
    }

    pub fn warning(&mut self, file: &Path, line: usize, message: impl Into<String>) {
        self.push(file, line, Severity::Warning, message.into());
    }

    fn push(&mut self, file: &Path, line: usize, severity: Severity, message: String) {
        // Backstop for a value formatted without `shown`.
        let message = match escape_controls(&message) {
            Cow::Borrowed(_) => message,
            Cow::Owned(escaped) => escaped,
        };
        self.items.push(Diagnostic {
            file: file.to_path_buf(),
            line,
            severity,
            message,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// One or more located errors (warnings ride along so they are not lost).
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_escapes_controls_and_keeps_text_readable() {
        assert_eq!(
            shown("{{ slave的IP地址 }}").to_string(),
            "{{ slave的IP地址 }}"
        );
        assert_eq!(
            shown("a\u{1b}[2J\tb\\c\u{202e}").to_string(),
            "a\\u{1b}[2J\\tb\\\\c\\u{202e}"
        );
    }

    #[test]
    fn a_raw_control_character_never_reaches_a_message() {
        let mut d = Diagnostics::new();
        d.error(Path::new("f"), 1, "bad `\u{7}\u{9b}`");
        assert_eq!(d.to_string(), "f:1: bad `\\u{7}\\u{9b}`");
    }
}
