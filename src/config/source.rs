//! Reading a configuration file's text: a missing or unreadable file and a
//! line that is not UTF-8 become located diagnostics, so one run reports the
//! problems of every file.

use std::path::Path;

use super::diag::Diagnostics;

/// Reads `path` as text. `None` (with an error recorded) when the file
/// cannot be read; bytes that are not UTF-8 are reported by line and
/// replaced, so the rest of the file is still checked.
pub fn read_text(path: &Path, diags: &mut Diagnostics) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => Some(decode(&bytes, path, diags)),
        Err(e) => {
            diags.error(path, 0, format!("cannot read: {e}"));
            None
        }
    }
}

/// Decodes file bytes, reporting each line that is not valid UTF-8.
pub fn decode(bytes: &[u8], path: &Path, diags: &mut Diagnostics) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_string();
    }
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if std::str::from_utf8(line).is_err() {
            diags.error(path, index + 1, "line is not valid UTF-8");
        }
    }
    String::from_utf8_lossy(bytes).into_owned()
}
