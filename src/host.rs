//! Facts about the host the engine runs on.

use std::io;

/// This host's node name as `uname -n` prints it, lowercased the way
/// Heartbeat compares node names.
pub fn node_name() -> io::Result<String> {
    // SAFETY: utsname is plain data; uname fills it or fails.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let bytes: Vec<u8> = uts
        .nodename
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_name_is_lowercase_and_not_empty() {
        let name = super::node_name().unwrap();
        assert!(!name.is_empty());
        assert_eq!(name, name.to_ascii_lowercase());
    }
}
