//! The built-in IPaddr / IPaddr2 resource: a virtual IPv4 address added and
//! removed with rtnetlink, announced with gratuitous ARP, and its status read
//! back from the kernel. No fork of `ip(8)`.
//!
//! Why a hand-written netlink client ([`netlink`]) and not `rtnetlink`:
//! that crate is async and pulls tokio into a process that has none; the
//! three requests needed here (RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR dump,
//! plus one RTM_GETLINK) fit in a few hundred checked lines over a blocking
//! socket, and a blocking round trip to the kernel is what makes `add` take
//! microseconds.
//!
//! Semantics, as Heartbeat's IPaddr2:
//! - Interface: the one given, else the one holding a subnet that contains
//!   the address (longest prefix; a primary before a secondary; lowest
//!   index), like Heartbeat's findif. Prefix: the one given, else that
//!   subnet's. Broadcast: the one given, else host bits all ones (none for
//!   /31 and /32).
//! - The address is added as a plain (usually secondary) address, with no
//!   label unless [`IpAddrController::add_labelled`] gives one (IPaddr2's
//!   optional `iflabel`; the kernel wants it to start with the interface
//!   name, e.g. `eth0:0`).
//! - `add` is idempotent: EEXIST (the same address and prefix already on the
//!   interface) is success. `remove` deletes every address equal to the VIP
//!   on the interface and with the prefix the spec gives (any interface /
//!   prefix when not given); none present is success. `status` is `Running`
//!   when such an address exists.
//! - Removing a *primary* address makes the kernel drop or promote the
//!   secondaries of its subnet (`net.ipv4.conf.*.promote_secondaries`): a VIP
//!   outside the node's own subnet, or a node that already has an address in
//!   it, keeps the VIP secondary and avoids that.
//!
//! All sockets live in the network namespace of the thread that creates the
//! controller or the announcer.

pub mod arp;
mod ifindex;
pub mod netlink;
pub mod resolve;

use std::io;
use std::net::Ipv4Addr;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::IpAddrSpec;
use crate::time::monotonic_ns;

pub use arp::{Announcer, ArpConfig, ArpReport, ArpSchedule};
use ifindex::InterfaceIndex;
use netlink::{AddrEntry, AddrRequest, NetlinkError, RTM_DELADDR, RTM_NEWADDR, RouteSocket};

const IFNAMSIZ: usize = 16;
const IFF_NOARP: u32 = 0x80;
const ARPHRD_ETHER: u16 = 1;

/// Why an IPaddr action failed.
#[derive(Debug, thiserror::Error)]
pub enum IpAddrError {
    #[error("cannot open a netlink socket: {0}")]
    Open(#[source] io::Error),
    #[error("`{0}` is not a valid interface name")]
    BadInterfaceName(String),
    #[error("no interface `{0}` in this network namespace")]
    NoSuchInterface(String),
    #[error(
        "no interface has a subnet containing {addr}: give the interface (and netmask bits) in haresources, e.g. {addr}/24/eth0"
    )]
    NoCoveringSubnet { addr: Ipv4Addr },
    #[error(
        "no address on `{iface}` has a subnet containing {addr}: give the netmask bits, e.g. {addr}/24/{iface}"
    )]
    NoPrefix { addr: Ipv4Addr, iface: String },
    #[error("{action} {addr}/{prefix} on `{iface}`: {source}")]
    Kernel {
        action: &'static str,
        addr: Ipv4Addr,
        prefix: u8,
        iface: String,
        #[source]
        source: NetlinkError,
    },
    #[error("reading addresses: {0}")]
    Dump(#[source] NetlinkError),
    #[error("reading link {iface}: {source}")]
    Link {
        iface: String,
        #[source]
        source: NetlinkError,
    },
    #[error("gratuitous ARP socket on `{iface}`: {source}")]
    ArpSocket {
        iface: String,
        #[source]
        source: io::Error,
    },
}

/// A spec with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAddr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub broadcast: Option<Ipv4Addr>,
    pub iface: String,
    pub ifindex: u32,
}

impl std::fmt::Display for ResolvedAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} on {}", self.addr, self.prefix, self.iface)
    }
}

/// Whether the virtual IP is configured here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpStatus {
    Running,
    Stopped,
}

/// What `add` did and how long each step took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddReport {
    pub resolved: ResolvedAddr,
    /// EEXIST: it was there already.
    pub already_present: bool,
    /// Address dump and interface lookup.
    pub resolve_took: Duration,
    /// The RTM_NEWADDR round trip.
    pub netlink_took: Duration,
}

impl AddReport {
    pub fn took(&self) -> Duration {
        self.resolve_took + self.netlink_took
    }
}

/// What `remove` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveReport {
    /// How many matching addresses were deleted (0: it was not there).
    pub removed: usize,
    pub took: Duration,
}

/// The gratuitous ARP part of [`IpAddrController::start`].
#[derive(Debug)]
pub enum ArpStart {
    /// The first announcement went out before `start` returned; the rest
    /// are sent by the thread.
    Started {
        first_send_took: Duration,
        rest: JoinHandle<ArpReport>,
    },
    /// The interface does not do ARP (loopback, NOARP, no MAC) or the
    /// configuration asks for no announcements.
    NotNeeded(&'static str),
}

/// What `start` did.
#[derive(Debug)]
pub struct StartReport {
    pub add: AddReport,
    pub arp: ArpStart,
}

/// One netlink socket reused for every action (opening one per action
/// would cost more than the action).
pub struct IpAddrController {
    nl: RouteSocket,
    ifindex: InterfaceIndex,
    addrs: Vec<AddrEntry>,
}

fn elapsed_since(start_ns: u64) -> Duration {
    Duration::from_nanos(monotonic_ns().saturating_sub(start_ns))
}

fn interface_name(ifindex: u32) -> String {
    let mut buf = [0 as libc::c_char; IFNAMSIZ];
    // SAFETY: `buf` is IFNAMSIZ bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return format!("if{ifindex}");
    }
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl IpAddrController {
    /// A controller for the calling thread's network namespace.
    pub fn open() -> Result<IpAddrController, IpAddrError> {
        Ok(IpAddrController {
            nl: RouteSocket::open().map_err(IpAddrError::Open)?,
            ifindex: InterfaceIndex::open().map_err(IpAddrError::Open)?,
            addrs: Vec::with_capacity(64),
        })
    }

    fn refresh(&mut self) -> Result<(), IpAddrError> {
        self.nl
            .dump_addresses(&mut self.addrs)
            .map_err(IpAddrError::Dump)
    }

    /// Fills in the interface, prefix and broadcast the spec leaves out.
    pub fn resolve(&mut self, spec: &IpAddrSpec) -> Result<ResolvedAddr, IpAddrError> {
        let given = spec
            .iface
            .as_deref()
            .map(|name| self.ifindex.of(name))
            .transpose()?;
        let need_subnet = given.is_none() || spec.cidr.is_none();
        if need_subnet {
            self.refresh()?;
        }
        let (ifindex, prefix) = match (given, spec.cidr) {
            (Some(index), Some(bits)) => (index, bits),
            (given, cidr) => {
                let cover = resolve::covering_address(&self.addrs, spec.addr, given);
                match (cover, given) {
                    (Some(a), _) => (a.ifindex, cidr.unwrap_or(a.prefix)),
                    (None, Some(_)) => {
                        return Err(IpAddrError::NoPrefix {
                            addr: spec.addr,
                            iface: spec.iface.clone().unwrap_or_default(),
                        });
                    }
                    (None, None) => return Err(IpAddrError::NoCoveringSubnet { addr: spec.addr }),
                }
            }
        };
        let iface = match &spec.iface {
            Some(name) => name.clone(),
            None => interface_name(ifindex),
        };
        Ok(ResolvedAddr {
            addr: spec.addr,
            prefix,
            broadcast: spec
                .broadcast
                .or_else(|| resolve::derived_broadcast(spec.addr, prefix)),
            iface,
            ifindex,
        })
    }

    /// Adds the address (no label); already there is success.
    pub fn add(&mut self, spec: &IpAddrSpec) -> Result<AddReport, IpAddrError> {
        self.add_inner(spec, None)
    }

    /// Adds the address with an IFA_LABEL such as `eth0:0`.
    pub fn add_labelled(
        &mut self,
        spec: &IpAddrSpec,
        label: &str,
    ) -> Result<AddReport, IpAddrError> {
        self.add_inner(spec, Some(label))
    }

    fn add_inner(
        &mut self,
        spec: &IpAddrSpec,
        label: Option<&str>,
    ) -> Result<AddReport, IpAddrError> {
        let t0 = monotonic_ns();
        let resolved = self.resolve(spec)?;
        let resolve_took = elapsed_since(t0);
        let t1 = monotonic_ns();
        let req = AddrRequest {
            ifindex: resolved.ifindex,
            prefix: resolved.prefix,
            local: resolved.addr,
            address: resolved.addr,
            broadcast: resolved.broadcast,
            label,
        };
        let already_present = match self.nl.address_request(RTM_NEWADDR, &req) {
            Ok(()) => false,
            Err(NetlinkError::Kernel { errno, .. }) if errno == libc::EEXIST => true,
            Err(source) => {
                return Err(IpAddrError::Kernel {
                    action: "adding",
                    addr: resolved.addr,
                    prefix: resolved.prefix,
                    iface: resolved.iface,
                    source,
                });
            }
        };
        Ok(AddReport {
            resolved,
            already_present,
            resolve_took,
            netlink_took: elapsed_since(t1),
        })
    }

    /// Adds the address, sends the first gratuitous ARP at once and leaves
    /// the rest of `arp`'s schedule to a thread.
    pub fn start(&mut self, spec: &IpAddrSpec, arp: ArpConfig) -> Result<StartReport, IpAddrError> {
        let add = self.add(spec)?;
        let arp = self.announce(&add.resolved, arp)?;
        Ok(StartReport { add, arp })
    }

    /// Gratuitous ARP for an address already added.
    pub fn announce(
        &mut self,
        resolved: &ResolvedAddr,
        config: ArpConfig,
    ) -> Result<ArpStart, IpAddrError> {
        if config.count == 0 {
            return Ok(ArpStart::NotNeeded("gratuitous ARP count is 0"));
        }
        let link = self
            .nl
            .link(resolved.ifindex)
            .map_err(|source| IpAddrError::Link {
                iface: resolved.iface.clone(),
                source,
            })?;
        if link.flags & IFF_NOARP != 0 {
            return Ok(ArpStart::NotNeeded("the interface does not use ARP"));
        }
        let mac = match link.mac {
            Some(mac) if link.hw_type == ARPHRD_ETHER => mac,
            _ => return Ok(ArpStart::NotNeeded("the interface has no Ethernet MAC")),
        };
        let t0 = monotonic_ns();
        let socket_error = |source| IpAddrError::ArpSocket {
            iface: resolved.iface.clone(),
            source,
        };
        let mut announcer = Announcer::open(resolved.ifindex, mac, resolved.addr, config, t0)
            .map_err(socket_error)?;
        announcer.send_due(t0);
        let first_send_took = elapsed_since(t0);
        let rest = announcer.spawn().map_err(socket_error)?;
        Ok(ArpStart::Started {
            first_send_took,
            rest,
        })
    }

    /// Deletes the address; absent is success.
    pub fn remove(&mut self, spec: &IpAddrSpec) -> Result<RemoveReport, IpAddrError> {
        let t0 = monotonic_ns();
        let only = spec
            .iface
            .as_deref()
            .map(|name| self.ifindex.of(name))
            .transpose()?;
        self.refresh()?;
        let mut removed = 0;
        let matching: Vec<AddrEntry> = self
            .addrs
            .iter()
            .filter(|a| resolve::matches_spec(a, spec.addr, only, spec.cidr))
            .cloned()
            .collect();
        for entry in matching {
            let req = AddrRequest {
                ifindex: entry.ifindex,
                prefix: entry.prefix,
                local: entry.local,
                address: entry.address,
                broadcast: None,
                label: None,
            };
            match self.nl.address_request(RTM_DELADDR, &req) {
                Ok(()) => removed += 1,
                // Gone between the dump and the delete: what we wanted.
                Err(NetlinkError::Kernel { errno, .. }) if errno == libc::EADDRNOTAVAIL => {}
                Err(source) => {
                    return Err(IpAddrError::Kernel {
                        action: "removing",
                        addr: entry.local,
                        prefix: entry.prefix,
                        iface: interface_name(entry.ifindex),
                        source,
                    });
                }
            }
        }
        Ok(RemoveReport {
            removed,
            took: elapsed_since(t0),
        })
    }

    /// `Running` when the address is configured (on the spec's interface and
    /// with its prefix where given).
    pub fn status(&mut self, spec: &IpAddrSpec) -> Result<IpStatus, IpAddrError> {
        let only = spec
            .iface
            .as_deref()
            .map(|name| self.ifindex.of(name))
            .transpose()?;
        self.refresh()?;
        let present = self
            .addrs
            .iter()
            .any(|a| resolve::matches_spec(a, spec.addr, only, spec.cidr));
        Ok(if present {
            IpStatus::Running
        } else {
            IpStatus::Stopped
        })
    }
}
