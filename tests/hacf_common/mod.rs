//! Shared by the tests of single ha.cf directives: a minimal ha.cf to
//! extend, its parse, and a config dir whose effective config (what
//! `check-config` prints) a test reads.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use twinbeat::config::{self, Diagnostics, hacf};

/// The smallest ha.cf a directive is added to.
pub const BASE: &str = "bcast eth0\nnode a b\nauto_failback on\n";

pub fn parse(text: &str) -> (hacf::HaCf, Diagnostics) {
    let mut d = Diagnostics::new();
    let cfg = hacf::parse(text, Path::new("ha.cf"), &mut d);
    (cfg, d)
}

/// A config dir for node `a`: one IPaddr2 group, sha1 authkeys (0600).
pub struct ConfigDir {
    dir: tempfile::TempDir,
}

impl ConfigDir {
    pub fn new() -> ConfigDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("haresources"), "a IPaddr2::10.1.2.3/24\n").unwrap();
        let keys = dir.path().join("authkeys");
        fs::write(&keys, "auth 1\n1 sha1 secret\n").unwrap();
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).unwrap();
        ConfigDir { dir }
    }

    /// Writes `hacf` as ha.cf and returns the effective configuration.
    pub fn effective(&self, hacf: &str) -> String {
        fs::write(self.dir.path().join("ha.cf"), hacf).unwrap();
        config::render_effective(&config::load_dir(self.dir.path(), "a").unwrap())
    }
}
