//! haresources: the resource groups, one per logical line.
//!
//! Syntax (Heartbeat's): `node res1 res2 ...`; a `\` at the end of a line
//! continues it (a diagnostic names the group's first line); `#` starts a
//! comment. `Script::a::b` runs `Script a b ACTION`; a bare IPv4 address
//! means `IPaddr::ADDR`. The IPaddr/IPaddr2 argument
//! `ip[/cidr[/iface[/broadcast]]]` is parsed into an [`IpAddrSpec`]; an empty
//! field (`10.0.0.1/24/eth0/`) means "not given". The first resource is the
//! group's key and must be unique. Whether the home node is one of ha.cf's
//! nodes is checked by the directory loader.

use std::net::Ipv4Addr;
use std::path::Path;

use super::diag::{Diagnostics, shown};
use super::hacf::{MAX_IFACE_LEN, find_placeholder, valid_interface_name};

/// A group of resources that moves between the nodes as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroup {
    /// Lowercased, as ha.cf's node names.
    pub home_node: String,
    /// The first line of the (possibly continued) group.
    pub line: usize,
    pub resources: Vec<Resource>,
}

impl ResourceGroup {
    /// The group's key: its first resource, as written canonically.
    pub fn key(&self) -> String {
        self.resources
            .first()
            .map(Resource::to_string)
            .unwrap_or_default()
    }
}

/// `script::arg1::arg2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub script: String,
    pub args: Vec<String>,
    /// The parsed first argument when the script is IPaddr or IPaddr2.
    pub ip: Option<IpAddrSpec>,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.script)?;
        for arg in &self.args {
            write!(f, "::{arg}")?;
        }
        Ok(())
    }
}

/// IPaddr's `ip[/cidr[/iface[/broadcast]]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAddrSpec {
    pub addr: Ipv4Addr,
    pub cidr: Option<u8>,
    pub iface: Option<String>,
    pub broadcast: Option<Ipv4Addr>,
}

/// Scripts whose first argument is an [`IpAddrSpec`].
pub const IP_SCRIPTS: [&str; 2] = ["IPaddr", "IPaddr2"];

/// Parses haresources text into groups; problems go to `diags`.
pub fn parse(text: &str, file: &Path, diags: &mut Diagnostics) -> Vec<ResourceGroup> {
    let mut groups: Vec<ResourceGroup> = Vec::new();
    for (first_line, logical) in logical_lines(text) {
        if let Some(placeholder) = find_placeholder(&logical) {
            diags.error(
                file,
                first_line,
                format!(
                    "`{}` looks like an unfilled template placeholder: put the real value there",
                    shown(placeholder)
                ),
            );
            continue;
        }
        let mut words = logical.split_whitespace();
        let Some(node) = words.next() else { continue };
        let mut resources = Vec::new();
        let mut clean = true;
        for word in words {
            match parse_resource(word) {
                Ok(resource) => resources.push(resource),
                Err(message) => {
                    diags.error(file, first_line, message);
                    clean = false;
                }
            }
        }
        if resources.is_empty() {
            if clean {
                diags.error(
                    file,
                    first_line,
                    format!("group for node `{}` lists no resources", shown(node)),
                );
            }
            continue;
        }
        if !clean {
            continue;
        }
        let group = ResourceGroup {
            home_node: node.to_ascii_lowercase(),
            line: first_line,
            resources,
        };
        let key = group.key();
        if let Some(earlier) = groups.iter().find(|g| g.key() == key) {
            diags.error(
                file,
                first_line,
                format!(
                    "resource `{}` already starts the group on line {}: a group's first resource must be unique",
                    shown(&key),
                    earlier.line
                ),
            );
            continue;
        }
        groups.push(group);
    }
    groups
}

/// Joins `\`-continued lines, with comments removed; each logical line
/// comes with the number of its first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let without_comment = raw.split('#').next().unwrap_or("");
        let trimmed = without_comment.trim_end_matches([' ', '\t', '\r']);
        let (content, continues) = match trimmed.strip_suffix('\\') {
            Some(head) => (head, true),
            None => (trimmed, false),
        };
        let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        joined.push(' ');
        joined.push_str(content);
        if continues {
            pending = Some((start, joined));
        } else {
            out.push((start, joined));
        }
    }
    if let Some(last) = pending {
        out.push(last);
    }
    out
}

/// One resource word.
pub fn parse_resource(word: &str) -> Result<Resource, String> {
    let mut parts = word.split("::");
    let first = parts.next().unwrap_or("");
    let rest: Vec<String> = parts.map(str::to_string).collect();
    let (script, args) = if is_bare_ipv4(first) {
        if !rest.is_empty() {
            return Err(format!(
                "`{}`: a bare address takes no `::` arguments; write IPaddr::{}",
                shown(word),
                shown(first)
            ));
        }
        ("IPaddr".to_string(), vec![first.to_string()])
    } else {
        (first.to_string(), rest)
    };
    if script.is_empty() || script.contains('/') {
        return Err(format!(
            "`{}`: `{}` is not a resource script name",
            shown(word),
            shown(&script)
        ));
    }
    if args.iter().any(String::is_empty) {
        return Err(format!("`{}` has an empty `::` argument", shown(word)));
    }
    let ip = if IP_SCRIPTS.contains(&script.as_str()) {
        let Some(spec) = args.first() else {
            return Err(format!(
                "`{}`: {script} needs an address: {script}::ip[/cidr[/iface[/broadcast]]]",
                shown(word)
            ));
        };
        Some(parse_ip_spec(spec).map_err(|e| format!("`{}`: {e}", shown(word)))?)
    } else {
        None
    };
    Ok(Resource { script, args, ip })
}

/// Heartbeat's ResourceManager treats a word starting like `a.b.c.d` as an
/// address for IPaddr.
fn is_bare_ipv4(word: &str) -> bool {
    let head = word.split('/').next().unwrap_or("");
    head.parse::<Ipv4Addr>().is_ok()
}

/// `ip[/cidr[/iface[/broadcast]]]`; empty fields mean "not given".
pub fn parse_ip_spec(text: &str) -> Result<IpAddrSpec, String> {
    let fields: Vec<&str> = text.split('/').collect();
    if fields.len() > 4 {
        return Err(format!(
            "`{}` has too many `/` fields (ip[/cidr[/iface[/broadcast]]])",
            shown(text)
        ));
    }
    let field = |i: usize| fields.get(i).copied().filter(|f| !f.is_empty());
    let addr_text = fields.first().copied().unwrap_or("");
    let addr = addr_text
        .parse::<Ipv4Addr>()
        .map_err(|_| format!("`{}` is not an IPv4 address", shown(addr_text)))?;
    let cidr = match field(1) {
        None => None,
        Some(c) => match c.parse::<u8>() {
            Ok(bits) if bits <= 32 => Some(bits),
            _ => {
                return Err(format!(
                    "netmask bits `{}` must be a number from 0 to 32",
                    shown(c)
                ));
            }
        },
    };
    let iface = match field(2) {
        Some(dev) if !valid_interface_name(dev) => {
            return Err(format!(
                "`{}` is not a network interface name (1 to {MAX_IFACE_LEN} bytes, no `/`, spaces or control characters)",
                shown(dev)
            ));
        }
        other => other.map(str::to_string),
    };
    let broadcast = match field(3) {
        None => None,
        Some(b) => Some(
            b.parse::<Ipv4Addr>()
                .map_err(|_| format!("broadcast `{}` is not an IPv4 address", shown(b)))?,
        ),
    };
    Ok(IpAddrSpec {
        addr,
        cidr,
        iface,
        broadcast,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_line_parses_with_an_empty_broadcast_field() {
        let mut d = Diagnostics::new();
        let g = parse(
            "node1 IPaddr::192.168.60.200/24/eth0/  Filesystem::/dev/sdb5::/webdata::ext3  httpd tomcat\n",
            Path::new("haresources"),
            &mut d,
        );
        assert!(d.is_empty(), "{d}");
        assert_eq!(g.len(), 1);
        let r = &g[0].resources;
        assert_eq!(r.len(), 4);
        assert_eq!(
            r[0].ip,
            Some(IpAddrSpec {
                addr: Ipv4Addr::new(192, 168, 60, 200),
                cidr: Some(24),
                iface: Some("eth0".into()),
                broadcast: None
            })
        );
        assert_eq!(r[1].script, "Filesystem");
        assert_eq!(r[1].args, vec!["/dev/sdb5", "/webdata", "ext3"]);
        assert_eq!(r[3].script, "tomcat");
        assert!(r[3].args.is_empty());
    }

    #[test]
    fn bare_address_means_ipaddr() {
        let r = parse_resource("10.0.0.5/24").unwrap();
        assert_eq!(r.script, "IPaddr");
        assert_eq!(r.args, vec!["10.0.0.5/24"]);
        assert_eq!(r.ip.unwrap().cidr, Some(24));
    }

    #[test]
    fn continuation_reports_the_first_line() {
        let mut d = Diagnostics::new();
        let g = parse(
            "# c\nnode1 a \\\n  b \\\n  IPaddr::1.2.3.4/33\n",
            Path::new("h"),
            &mut d,
        );
        assert!(g.is_empty());
        let e: Vec<_> = d.errors().collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 2);
    }

    #[test]
    fn ip_spec_fields_are_checked() {
        assert!(parse_ip_spec("1.2.3.4/24/eth0/1.2.3.255").is_ok());
        assert!(parse_ip_spec("1.2.3.4//eth0").unwrap().cidr.is_none());
        assert!(parse_ip_spec("1.2.3.4/33").is_err());
        assert!(parse_ip_spec("1.2.3.4/24/eth0/x").is_err());
        assert!(parse_ip_spec("1.2.3.4/24/eth0/1.2.3.255/x").is_err());
        assert!(parse_resource("IPaddr2::nope").is_err());
        assert!(parse_resource("IPaddr").is_err());
    }
}
