//! From configuration to what the beat loop runs: which links to open, the
//! detector's timings and this pair's identities on the wire.
//!
//! Pure except for one question to the host: which addresses are local,
//! so that a `ucast` line naming this node's own address is skipped the way
//! Heartbeat skips it (one ha.cf can then serve both nodes).

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr};

use crate::config::{Config, LinkSpec};
use crate::detector::DetectorConfig;
use crate::engine::links::LinkSetup;
use crate::time::Nanos;

/// One link the loop will run, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLink {
    pub setup: LinkSetup,
    /// Index of the media line in ha.cf's link list.
    pub config_index: usize,
    /// ha.cf line number.
    pub line: usize,
    /// The name `cl_status listhblinks` shows: the device, or the tty path.
    pub name: String,
}

/// A ucast line left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLink {
    pub line: usize,
    pub reason: String,
}

/// Everything the beat loop needs that comes from configuration.
#[derive(Debug, Clone)]
pub struct BeatPlan {
    pub node_name: String,
    pub peer_name: Option<String>,
    pub node_id: u16,
    pub peer_id: Option<u16>,
    pub cluster_id: u16,
    pub keepalive: Nanos,
    pub detector: DetectorConfig,
    pub links: Vec<PlannedLink>,
    pub skipped: Vec<SkippedLink>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("every link in ha.cf points at this node itself; no link reaches a peer")]
    NoLinks,
    #[error("timings: {0}")]
    Timings(#[from] crate::detector::ConfigError),
}

fn nanos(d: std::time::Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl BeatPlan {
    /// Plans the loop for `cfg`; `local` are this host's addresses.
    pub fn new(cfg: &Config, local: &HashSet<IpAddr>) -> Result<Self, PlanError> {
        Self::with_device_addresses(cfg, local, |_| None)
    }

    /// Like [`BeatPlan::new`]; `device_v4` gives an interface's IPv4
    /// address. A ucast socket binds to its device's address when ha.cf
    /// sets no `bind_address`, so that broadcasts on the same port (a bcast
    /// link on that device) reach only the bcast link's socket.
    pub fn with_device_addresses(
        cfg: &Config,
        local: &HashSet<IpAddr>,
        device_v4: impl Fn(&str) -> Option<IpAddr>,
    ) -> Result<Self, PlanError> {
        let h = &cfg.hacf;
        let udpport = h.udpport.value;
        let bind_ip = h.bind_address.value;
        let mut links = Vec::new();
        let mut skipped = Vec::new();
        for (config_index, link) in h.links.iter().enumerate() {
            let (setup, name) = match &link.spec {
                LinkSpec::Ucast { dev, peer, port } => {
                    let peer_port = port.unwrap_or(udpport);
                    let to_self = peer_port == udpport
                        && (local.contains(peer)
                            || (bind_ip == *peer && !bind_ip.is_unspecified()));
                    if to_self {
                        skipped.push(SkippedLink {
                            line: link.line,
                            reason: format!(
                                "ucast {dev} {peer}: that is this node's own address and port; \
                                 skipped as Heartbeat does (the peer's line serves the other node)"
                            ),
                        });
                        continue;
                    }
                    let bind = match (bind_ip.is_unspecified(), device_v4(dev)) {
                        (true, Some(dev_ip)) if dev_ip.is_ipv4() == peer.is_ipv4() => dev_ip,
                        _ => bind_ip,
                    };
                    (
                        LinkSetup::Ucast {
                            dev: Some(dev.clone()),
                            bind: SocketAddr::new(bind, udpport),
                            peer: SocketAddr::new(*peer, peer_port),
                        },
                        dev.clone(),
                    )
                }
                LinkSpec::Bcast { dev } => (
                    LinkSetup::Bcast {
                        dev: dev.clone(),
                        port: udpport,
                    },
                    dev.clone(),
                ),
                LinkSpec::Mcast {
                    dev,
                    group,
                    port,
                    ttl,
                    loop_,
                } => (
                    LinkSetup::Mcast {
                        dev: dev.clone(),
                        group: *group,
                        port: *port,
                        ttl: *ttl,
                        loop_: *loop_,
                    },
                    dev.clone(),
                ),
                LinkSpec::Serial { device } => (
                    LinkSetup::Serial {
                        path: device.clone(),
                        baud: h.baud.value,
                    },
                    device.display().to_string(),
                ),
            };
            links.push(PlannedLink {
                setup,
                config_index,
                line: link.line,
                name,
            });
        }
        if links.is_empty() {
            return Err(PlanError::NoLinks);
        }
        let keepalive = nanos(h.keepalive.value);
        let mut detector = DetectorConfig::new(
            keepalive,
            nanos(h.deadtime.value),
            usize::from(cfg.peer.is_some()),
            links.len(),
        );
        detector.warntime = nanos(h.warntime.value);
        detector.initdead = nanos(h.initdead.value);
        detector.validate()?;
        Ok(Self {
            node_name: cfg.node.clone(),
            peer_name: cfg.peer.clone(),
            node_id: cfg.node_id(),
            peer_id: cfg.peer_id(),
            cluster_id: cfg.cluster_id(),
            keepalive,
            detector,
            links,
            skipped,
        })
    }
}

/// This host's interface addresses (IPv4 and IPv6).
pub fn local_addresses() -> io::Result<HashSet<IpAddr>> {
    let mut out = HashSet::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free below.
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut cur = ifap;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points at a sockaddr whose family tells its size.
            match unsafe { (*ifa.ifa_addr).sa_family } as i32 {
                libc::AF_INET => {
                    let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    out.insert(IpAddr::from(
                        u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                    ));
                }
                libc::AF_INET6 => {
                    let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                    out.insert(IpAddr::from(sin6.sin6_addr.s6_addr));
                }
                _ => {}
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: ifap came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(ifap) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn config(hacf: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ha.cf"), hacf).unwrap();
        let keys = dir.path().join("authkeys");
        std::fs::write(&keys, "auth 1\n1 sha1 k\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
        crate::config::load_dir(dir.path(), "a").unwrap()
    }

    #[test]
    fn ucast_to_own_address_is_skipped_and_the_peers_kept() {
        let cfg = config(
            "keepalive 100ms\ndeadtime 1\nudpport 7000\n\
             ucast eth0 10.0.0.1\nucast eth0 10.0.0.2\nnode a b\n",
        );
        let local = HashSet::from([IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))]);
        let plan = BeatPlan::new(&cfg, &local).unwrap();
        assert_eq!(plan.links.len(), 1);
        assert_eq!(plan.links[0].config_index, 1);
        assert_eq!(plan.links[0].line, 5);
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(plan.skipped[0].line, 4);
        assert_eq!(
            plan.links[0].setup,
            LinkSetup::Ucast {
                dev: Some("eth0".into()),
                bind: "0.0.0.0:7000".parse().unwrap(),
                peer: "10.0.0.2:7000".parse().unwrap(),
            }
        );
        assert_eq!(plan.keepalive, 100_000_000);
        assert_eq!(plan.detector.deadtime, 1_000_000_000);
    }

    #[test]
    fn same_address_with_another_port_is_a_real_link() {
        let cfg = config(
            "keepalive 1ms\ndeadtime 10ms\ninitdead 1\nudpport 7701\nbind_address 127.0.0.1\n\
             ucast lo 127.0.0.1:7702\nnode a b\n",
        );
        let local = HashSet::from([IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        let plan = BeatPlan::new(&cfg, &local).unwrap();
        assert_eq!(plan.links.len(), 1);
        assert_eq!(plan.links[0].name, "lo");
    }

    #[test]
    fn ucast_binds_to_its_device_address_unless_bind_address_is_set() {
        let cfg = config("udpport 7000\nucast eth0 10.0.0.2\nbcast eth0\nnode a b\n");
        let eth0 = |d: &str| (d == "eth0").then(|| IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let plan = BeatPlan::with_device_addresses(&cfg, &HashSet::new(), eth0).unwrap();
        let LinkSetup::Ucast { bind, .. } = &plan.links[0].setup else {
            panic!("ucast first")
        };
        assert_eq!(*bind, "10.0.0.1:7000".parse().unwrap());

        let cfg = config("udpport 7000\nbind_address 10.9.9.9\nucast eth0 10.0.0.2\nnode a b\n");
        let plan = BeatPlan::with_device_addresses(&cfg, &HashSet::new(), eth0).unwrap();
        let LinkSetup::Ucast { bind, .. } = &plan.links[0].setup else {
            panic!("ucast first")
        };
        assert_eq!(*bind, "10.9.9.9:7000".parse().unwrap());
    }

    #[test]
    fn only_self_pointing_links_is_an_error() {
        let cfg = config("udpport 7000\nucast eth0 10.0.0.1\nnode a b\n");
        let local = HashSet::from([IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))]);
        assert!(matches!(
            BeatPlan::new(&cfg, &local),
            Err(PlanError::NoLinks)
        ));
    }

    #[test]
    fn loopback_is_among_local_addresses() {
        let local = local_addresses().unwrap();
        assert!(local.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
