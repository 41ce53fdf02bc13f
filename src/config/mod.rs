//! Heartbeat's three configuration files, parsed into typed values, and the
//! checks that need more than one of them.
//!
//! - [`diag`]: located diagnostics (`FILE:LINE: message`), collected rather
//!   than stopping at the first.
//! - [`duration`]: Heartbeat time values, exact to the microsecond.
//! - [`hacf`]: ha.cf — timings, nodes, links, ping nodes, flags.
//! - [`authkeys`]: the signing keys.
//! - [`haresources`]: the resource groups.
//! - [`knobs`]: twinbeat's ha.cf extensions for the takeover process.
//! - [`effective`]: the effective configuration rendered for a person.
//!
//! [`load_dir`] reads a directory such as /etc/ha.d as one node would run
//! it, and reports every error of every file in one go.

pub mod authkeys;
pub mod diag;
pub mod duration;
pub mod effective;
pub mod hacf;
pub mod haresources;
pub mod knobs;
mod source;

use std::path::{Path, PathBuf};

pub use authkeys::{AuthKeys, AuthMethod};
pub use diag::{ConfigError, Diagnostic, Diagnostics, Severity};
pub use effective::render_effective;
pub use hacf::{AutoFailback, BackupCore, HaCf, Link, LinkSpec, Setting};
pub use haresources::{IpAddrSpec, Resource, ResourceGroup};

pub const HACF_FILE: &str = "ha.cf";
pub const AUTHKEYS_FILE: &str = "authkeys";
pub const HARESOURCES_FILE: &str = "haresources";

/// Everything one node runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The directory the files were read from.
    pub dir: PathBuf,
    /// This node's name, lowercased.
    pub node: String,
    /// The other node of the pair, if ha.cf names one.
    pub peer: Option<String>,
    pub hacf: HaCf,
    pub auth: AuthKeys,
    pub groups: Vec<ResourceGroup>,
    /// Warnings from all three files (errors make [`load_dir`] fail).
    pub warnings: Diagnostics,
}

impl Config {
    /// The cluster's name on the wire (see [`HaCf::cluster_name`]).
    pub fn cluster_name(&self) -> String {
        self.hacf.cluster_name()
    }

    pub fn cluster_id(&self) -> u16 {
        self.hacf.cluster_id()
    }

    pub fn node_id(&self) -> u16 {
        crate::wire::node_id(&self.node)
    }

    pub fn peer_id(&self) -> Option<u16> {
        self.peer.as_deref().map(crate::wire::node_id)
    }
}

/// Reads `ha.cf`, `authkeys` and `haresources` from `dir` as node `node`
/// would run them. A missing haresources means no groups (with a warning);
/// a missing ha.cf or authkeys is an error. On failure the error carries
/// every problem of every file, warnings included.
pub fn load_dir(dir: &Path, node: &str) -> Result<Config, ConfigError> {
    let mut diags = Diagnostics::new();
    let hacf_path = dir.join(HACF_FILE);
    let authkeys_path = dir.join(AUTHKEYS_FILE);
    let haresources_path = dir.join(HARESOURCES_FILE);

    let hacf = source::read_text(&hacf_path, &mut diags)
        .map(|text| hacf::parse(&text, &hacf_path, &mut diags));
    let auth = load_authkeys(&authkeys_path, &mut diags);
    let groups = if haresources_path.exists() {
        source::read_text(&haresources_path, &mut diags)
            .map(|text| haresources::parse(&text, &haresources_path, &mut diags))
            .unwrap_or_default()
    } else {
        diags.warning(
            &haresources_path,
            0,
            "no haresources file: this node manages no resource groups",
        );
        Vec::new()
    };

    let node = node.to_ascii_lowercase();
    let mut peer = None;
    if let Some(hacf) = &hacf {
        peer = check_this_node(hacf, &node, &hacf_path, &mut diags);
        check_group_nodes(hacf, &groups, &haresources_path, &mut diags);
        if let Some(auth) = &auth {
            check_serial_keepalive(hacf, auth, &hacf_path, &mut diags);
        }
    }

    match (hacf, auth) {
        (Some(hacf), Some(auth)) if !diags.has_errors() => Ok(Config {
            dir: dir.to_path_buf(),
            node,
            peer,
            hacf,
            auth,
            groups,
            warnings: diags,
        }),
        _ => Err(ConfigError::Invalid(diags)),
    }
}

/// Opens authkeys once: the permissions checked are the open file's.
fn load_authkeys(path: &Path, diags: &mut Diagnostics) -> Option<AuthKeys> {
    let text = std::fs::File::open(path).and_then(|file| authkeys::read_private(file, path, diags));
    match text {
        Ok(text) => authkeys::parse(&text, path, diags),
        Err(e) => {
            diags.error(path, 0, format!("cannot read: {e}"));
            None
        }
    }
}

/// This node must be one of ha.cf's nodes; the other one is its peer.
fn check_this_node(
    hacf: &HaCf,
    node: &str,
    file: &Path,
    diags: &mut Diagnostics,
) -> Option<String> {
    if hacf.nodes.is_empty() {
        return None; // already reported by the ha.cf parser
    }
    if !hacf.has_node(node) {
        let names: Vec<&str> = hacf.nodes.iter().map(|n| n.name.as_str()).collect();
        diags.error(
            file,
            hacf.nodes.first().map_or(0, |n| n.line),
            format!(
                "this node `{}` is not among the nodes ({}): add it to a `node` line or pass the right --node",
                diag::shown(node),
                names.join(", ")
            ),
        );
        return None;
    }
    hacf.nodes
        .iter()
        .find(|n| n.name != node)
        .map(|n| n.name.clone())
}

fn check_group_nodes(hacf: &HaCf, groups: &[ResourceGroup], file: &Path, diags: &mut Diagnostics) {
    if hacf.nodes.is_empty() {
        return;
    }
    let names: Vec<&str> = hacf.nodes.iter().map(|n| n.name.as_str()).collect();
    for group in groups.iter().filter(|g| !hacf.has_node(&g.home_node)) {
        diags.error(
            file,
            group.line,
            format!(
                "node `{}` is not a node in ha.cf ({})",
                diag::shown(&group.home_node),
                names.join(", ")
            ),
        );
    }
}

/// twinbeat's own rule: a keepalive must fit on the serial line before the
/// next one is due, or the line's queue grows without bound.
fn check_serial_keepalive(hacf: &HaCf, auth: &AuthKeys, file: &Path, diags: &mut Diagnostics) {
    let Some(serial_line) = hacf.first_serial_line() else {
        return;
    };
    let baud = hacf.baud.value;
    let method = auth.active();
    let min_ns = crate::wire::serial_keepalive_wire_ns(method, baud);
    let keepalive_ns = u64::try_from(hacf.keepalive.value.as_nanos()).unwrap_or(u64::MAX);
    if keepalive_ns >= min_ns {
        return;
    }
    let min_us = min_ns.div_ceil(1_000);
    diags.error(
        file,
        hacf.keepalive.line.unwrap_or(serial_line),
        format!(
            "keepalive {} is shorter than one serial keepalive takes on the wire at {baud} baud with {} auth: keepalive must be at least {min_us}us with a serial link (line {serial_line}), or raise baud",
            duration::format_duration(hacf.keepalive.value),
            method.name(),
        ),
    );
}
