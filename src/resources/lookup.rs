//! Where a resource script is found: `resource.d` in the config dir, then
//! `/etc/init.d`, as Heartbeat's ResourceManager (`scriptpath`) searches.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Heartbeat's second place to look, for LSB init scripts.
pub const INIT_DIR: &str = "/etc/init.d";
/// The resource script directory's name inside the config dir.
pub const RESOURCE_DIR_NAME: &str = "resource.d";

/// An ordered list of directories to look for scripts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSearch {
    dirs: Vec<PathBuf>,
}

/// No executable file of that name in any searched directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resource script `{script}` not found as an executable file in {}", shown_dirs(.searched))]
pub struct ScriptNotFound {
    pub script: String,
    pub searched: Vec<PathBuf>,
}

fn shown_dirs(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "no directory (the search path is empty)".to_string();
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ScriptSearch {
    /// Heartbeat's order: `CONFIG_DIR/resource.d`, then `/etc/init.d`.
    pub fn heartbeat(config_dir: &Path) -> Self {
        ScriptSearch {
            dirs: vec![config_dir.join(RESOURCE_DIR_NAME), PathBuf::from(INIT_DIR)],
        }
    }

    /// Any directories, searched in the order given (tests use temp dirs).
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        ScriptSearch { dirs }
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The first regular, executable file named `script` (the config has
    /// already refused names with a `/`).
    pub fn find(&self, script: &str) -> Result<PathBuf, ScriptNotFound> {
        let usable = !script.is_empty() && !script.contains('/') && script != "." && script != "..";
        if usable {
            for dir in &self.dirs {
                let candidate = dir.join(script);
                if is_executable_file(&candidate) {
                    return Ok(candidate);
                }
            }
        }
        Err(ScriptNotFound {
            script: script.to_string(),
            searched: self.dirs.clone(),
        })
    }
}

/// Heartbeat's `[ -f $p -a -x $p ]`: follows symlinks, as init.d links are common.
fn is_executable_file(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) => meta.is_file() && meta.permissions().mode() & 0o111 != 0,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write_script(dir: &Path, name: &str, mode: u32) {
        let path = dir.join(name);
        fs::write(&path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn first_directory_wins_and_non_executables_are_skipped() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_script(a.path(), "httpd", 0o644);
        write_script(b.path(), "httpd", 0o755);
        write_script(a.path(), "tomcat", 0o755);
        write_script(b.path(), "tomcat", 0o755);
        let search = ScriptSearch::new(vec![a.path().into(), b.path().into()]);
        assert_eq!(search.find("httpd").unwrap(), b.path().join("httpd"));
        assert_eq!(search.find("tomcat").unwrap(), a.path().join("tomcat"));
    }

    #[test]
    fn missing_script_names_every_place_looked() {
        let a = tempfile::tempdir().unwrap();
        let search = ScriptSearch::new(vec![a.path().into(), "/nonexistent/init.d".into()]);
        let err = search.find("nosuch").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`nosuch`"), "{text}");
        assert!(text.contains(&a.path().display().to_string()), "{text}");
        assert!(text.contains("/nonexistent/init.d"), "{text}");
    }

    #[test]
    fn heartbeat_order_is_resource_d_then_init_d() {
        let search = ScriptSearch::heartbeat(Path::new("/etc/ha.d"));
        assert_eq!(
            search.dirs(),
            &[
                PathBuf::from("/etc/ha.d/resource.d"),
                PathBuf::from("/etc/init.d")
            ]
        );
    }

    #[test]
    fn a_directory_or_a_path_is_not_a_script() {
        let a = tempfile::tempdir().unwrap();
        fs::create_dir(a.path().join("sub")).unwrap();
        let search = ScriptSearch::new(vec![a.path().into()]);
        assert!(search.find("sub").is_err());
        assert!(search.find("../x").is_err());
        assert!(search.find("..").is_err());
    }
}
