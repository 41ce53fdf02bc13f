//! Opening the heartbeat media: UDP sockets (ucast, bcast, mcast) and serial
//! ports, configured for low latency and kernel receive timestamps.
//!
//! This module owns the translation from a [`LinkSetup`] (what ha.cf asked
//! for, mapped by the integrator) to an [`OpenLink`] (a nonblocking fd ready
//! for the beat loop, with the destination keepalives go to). It does no
//! sending or receiving itself; that is [`super::io`]'s job.
//!
//! Choices made here:
//! - DSCP: `IP_TOS` 0xc0 (class selector CS6, "network control"). Heartbeats
//!   are cluster control traffic, the class routing protocols use; CS6 is
//!   kept in the strict-priority queue by most switch defaults, unlike EF
//!   (0xb8) which is often policed as voice.
//! - Receive time: `SO_TIMESTAMPNS`, so every datagram carries the kernel's
//!   CLOCK_REALTIME arrival stamp; the backends convert it to the monotonic
//!   clock (see [`super::io`]).
//! - `SO_BINDTODEVICE` needs CAP_NET_RAW: on EPERM the link still opens,
//!   unbound to its device, and the fact is reported in [`OpenLink::notes`].

use std::ffi::CStr;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::PathBuf;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// DSCP CS6 (network control) in the IPv4 TOS byte / IPv6 traffic class.
pub const LOW_DELAY_TOS: u32 = 0xc0;

/// `SO_TIMESTAMPNS` (a.k.a. `SO_TIMESTAMPNS_OLD`) from asm-generic/socket.h;
/// libc does not export it for linux-gnu. On 64-bit targets the "old" layout
/// is a 64-bit `timespec`, which is what the backends parse.
pub const SO_TIMESTAMPNS: libc::c_int = 35;
/// The control-message type carrying the stamp is the option's number.
pub const SCM_TIMESTAMPNS: libc::c_int = SO_TIMESTAMPNS;

/// One medium as ha.cf describes it, independent of the config types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkSetup {
    /// `ucast DEV IP[:PORT]` with `udpport` / `bind_address`: a socket bound to
    /// `bind` and connected to `peer` (only the peer's datagrams are accepted,
    /// and an ICMP unreachable from it surfaces as ECONNREFUSED).
    Ucast {
        dev: Option<String>,
        bind: SocketAddr,
        peer: SocketAddr,
    },
    /// `bcast DEV`: sends to DEV's IPv4 broadcast address on `port`.
    Bcast { dev: String, port: u16 },
    /// `mcast DEV GROUP PORT TTL LOOP`: joins GROUP on DEV's address.
    Mcast {
        dev: String,
        group: Ipv4Addr,
        port: u16,
        ttl: u8,
        loop_: bool,
    },
    /// `serial DEV` with `baud`: raw 8N1, no flow control, exclusive.
    Serial { path: PathBuf, baud: u32 },
}

impl LinkSetup {
    /// A short label for logs and status ("ucast eth0 10.0.0.2:694").
    pub fn label(&self) -> String {
        match self {
            LinkSetup::Ucast { dev, peer, .. } => {
                format!("ucast {} {peer}", dev.as_deref().unwrap_or("-"))
            }
            LinkSetup::Bcast { dev, port } => format!("bcast {dev} :{port}"),
            LinkSetup::Mcast {
                dev, group, port, ..
            } => format!("mcast {dev} {group}:{port}"),
            LinkSetup::Serial { path, baud } => format!("serial {} {baud}", path.display()),
        }
    }
}

/// Why a link could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{link}: {what}: {source}")]
    Os {
        link: String,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{link}: interface {dev} has no IPv4 address")]
    NoIpv4Address { link: String, dev: String },
    #[error("{link}: interface {dev} has no broadcast address")]
    NoBroadcast { link: String, dev: String },
    #[error("{link}: {source}")]
    Serial {
        link: String,
        #[source]
        source: serialport::Error,
    },
}

/// What kind of I/O a link needs from a backend.
#[derive(Debug)]
pub enum Medium {
    /// A nonblocking datagram socket; `dest` is where sends go (`None` when
    /// the socket is connected).
    Udp {
        socket: Socket,
        dest: Option<SockAddr>,
    },
    /// A nonblocking tty; read on readiness, written with write(2).
    Serial { port: serialport::TTYPort },
}

/// A medium opened and configured, ready to be handed to a backend.
#[derive(Debug)]
pub struct OpenLink {
    pub label: String,
    pub medium: Medium,
    /// Things that did not go as asked but did not stop the link (for example
    /// "SO_BINDTODEVICE refused (EPERM): not bound to eth0"). Log them once.
    pub notes: Vec<String>,
}

impl OpenLink {
    pub fn raw_fd(&self) -> RawFd {
        self.fd().as_raw_fd()
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.medium {
            Medium::Udp { socket, .. } => socket.as_fd(),
            // TTYPort has AsRawFd only; the port outlives the borrow.
            Medium::Serial { port } => unsafe { BorrowedFd::borrow_raw(port.as_raw_fd()) },
        }
    }

    pub fn is_serial(&self) -> bool {
        matches!(self.medium, Medium::Serial { .. })
    }
}

/// Opens every link in order; the index in the result is the link number the
/// backends use.
pub fn open_links(setups: &[LinkSetup]) -> Result<Vec<OpenLink>, LinkError> {
    setups.iter().map(open_link).collect()
}

/// Opens one link.
pub fn open_link(setup: &LinkSetup) -> Result<OpenLink, LinkError> {
    let label = setup.label();
    let mut notes = Vec::new();
    let os = |what: &'static str| {
        let label = label.clone();
        move |source: io::Error| LinkError::Os {
            link: label,
            what,
            source,
        }
    };
    let medium = match setup {
        LinkSetup::Ucast { dev, bind, peer } => {
            let socket = udp_socket(*bind).map_err(os("socket"))?;
            if let Some(dev) = dev {
                bind_to_device(&socket, dev, &mut notes).map_err(os("SO_BINDTODEVICE"))?;
            }
            set_low_delay(&socket, bind.is_ipv4(), &mut notes);
            socket.bind(&(*bind).into()).map_err(os("bind"))?;
            socket.connect(&(*peer).into()).map_err(os("connect"))?;
            Medium::Udp { socket, dest: None }
        }
        LinkSetup::Bcast { dev, port } => {
            let iface = ipv4_of(dev).map_err(os("getifaddrs"))?;
            let Some(iface) = iface else {
                return Err(LinkError::NoIpv4Address {
                    link: label,
                    dev: dev.clone(),
                });
            };
            let Some(broadcast) = iface.broadcast else {
                return Err(LinkError::NoBroadcast {
                    link: label,
                    dev: dev.clone(),
                });
            };
            let any = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, *port));
            let socket = udp_socket(any).map_err(os("socket"))?;
            bind_to_device(&socket, dev, &mut notes).map_err(os("SO_BINDTODEVICE"))?;
            socket.set_broadcast(true).map_err(os("SO_BROADCAST"))?;
            set_low_delay(&socket, true, &mut notes);
            socket.bind(&any.into()).map_err(os("bind"))?;
            let dest = SocketAddr::V4(SocketAddrV4::new(broadcast, *port));
            Medium::Udp {
                socket,
                dest: Some(dest.into()),
            }
        }
        LinkSetup::Mcast {
            dev,
            group,
            port,
            ttl,
            loop_,
        } => {
            let Some(iface) = ipv4_of(dev).map_err(os("getifaddrs"))? else {
                return Err(LinkError::NoIpv4Address {
                    link: label,
                    dev: dev.clone(),
                });
            };
            let any = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, *port));
            let socket = udp_socket(any).map_err(os("socket"))?;
            bind_to_device(&socket, dev, &mut notes).map_err(os("SO_BINDTODEVICE"))?;
            set_low_delay(&socket, true, &mut notes);
            socket.bind(&any.into()).map_err(os("bind"))?;
            socket
                .join_multicast_v4(group, &iface.address)
                .map_err(os("IP_ADD_MEMBERSHIP"))?;
            socket
                .set_multicast_if_v4(&iface.address)
                .map_err(os("IP_MULTICAST_IF"))?;
            socket
                .set_multicast_ttl_v4(u32::from(*ttl))
                .map_err(os("IP_MULTICAST_TTL"))?;
            socket
                .set_multicast_loop_v4(*loop_)
                .map_err(os("IP_MULTICAST_LOOP"))?;
            let dest = SocketAddr::V4(SocketAddrV4::new(*group, *port));
            Medium::Udp {
                socket,
                dest: Some(dest.into()),
            }
        }
        LinkSetup::Serial { path, baud } => {
            let port = open_serial(path, *baud).map_err(|source| LinkError::Serial {
                link: label.clone(),
                source,
            })?;
            set_nonblocking(port.as_raw_fd()).map_err(os("O_NONBLOCK"))?;
            set_cloexec(port.as_raw_fd()).map_err(os("FD_CLOEXEC"))?;
            Medium::Serial { port }
        }
    };
    Ok(OpenLink {
        label,
        medium,
        notes,
    })
}

fn udp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    socket.set_reuse_address(true)?;
    enable_rx_timestamps(&socket)?;
    Ok(socket)
}

fn enable_rx_timestamps(socket: &Socket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid fd, an int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Binds to `dev`; without CAP_NET_RAW the link works unbound, and says so.
fn bind_to_device(socket: &Socket, dev: &str, notes: &mut Vec<String>) -> io::Result<()> {
    match socket.bind_device(Some(dev.as_bytes())) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            notes.push(format!(
                "SO_BINDTODEVICE {dev} refused (EPERM, needs CAP_NET_RAW): not bound to the device"
            ));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// A refused TOS is not worth failing a heartbeat link over; it is noted.
fn set_low_delay(socket: &Socket, ipv4: bool, notes: &mut Vec<String>) {
    let result = if ipv4 {
        socket.set_tos_v4(LOW_DELAY_TOS)
    } else {
        socket.set_tclass_v6(LOW_DELAY_TOS)
    };
    if let Err(e) = result {
        notes.push(format!("DSCP CS6 not set: {e}"));
    }
}

fn open_serial(path: &std::path::Path, baud: u32) -> serialport::Result<serialport::TTYPort> {
    let mut port = serialport::new(path.to_string_lossy(), baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .timeout(std::time::Duration::ZERO)
        .open_native()?;
    // Exclusive, so nothing else reads our line: a real port drops the
    // mode at its last close. A pty slave keeps it while its master lives,
    // so a node killed with it set could never reopen its end (without
    // CAP_SYS_ADMIN); ptys, the stand-in cable of tests and the demo, stay
    // shared.
    port.set_exclusive(!is_pty_slave(port.as_raw_fd()))?;
    Ok(port)
}

/// Unix98 pty slaves have majors 136–143 (devices.txt).
fn is_pty_slave(fd: RawFd) -> bool {
    // SAFETY: fstat fills a stat buffer for an fd we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return false;
    }
    (136..=143).contains(&libc::major(st.st_rdev))
}

/// serialport's `open` clears O_NONBLOCK after configuring the tty; a read on
/// a blocking tty would stall the beat thread, so it is set again.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own, with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// serialport opens ttys without O_CLOEXEC: without it the takeover process
/// and every resource script would inherit the line, and its exclusive lock
/// (TIOCEXCL) would outlive a killed daemon and refuse its restart.
pub fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own, with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An interface's IPv4 address and, if it has one, its broadcast address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceV4 {
    pub address: Ipv4Addr,
    pub broadcast: Option<Ipv4Addr>,
}

/// The first IPv4 address of interface `dev` (getifaddrs), `None` when the
/// interface has none or does not exist.
pub fn ipv4_of(dev: &str) -> io::Result<Option<InterfaceV4>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = None;
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: cursor walks the list getifaddrs returned and is non-null.
        let ifa = unsafe { &*cursor };
        cursor = ifa.ifa_next;
        if ifa.ifa_name.is_null() || ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) };
        if name.to_bytes() != dev.as_bytes() {
            continue;
        }
        let Some(address) = sockaddr_v4(ifa.ifa_addr) else {
            continue;
        };
        let broadcast = if ifa.ifa_flags & libc::IFF_BROADCAST as libc::c_uint != 0 {
            sockaddr_v4(ifa.ifa_ifu)
        } else {
            None
        };
        found = Some(InterfaceV4 { address, broadcast });
        break;
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(found)
}

fn sockaddr_v4(sa: *const libc::sockaddr) -> Option<Ipv4Addr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: non-null sockaddr from getifaddrs; the family says how to read it.
    unsafe {
        if i32::from((*sa).sa_family) != libc::AF_INET {
            return None;
        }
        let sin = &*(sa as *const libc::sockaddr_in);
        Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_an_ipv4_address_and_no_broadcast() {
        let lo = ipv4_of("lo").unwrap().expect("lo has 127.0.0.1");
        assert!(lo.address.is_loopback());
        assert_eq!(lo.broadcast, None);
        assert_eq!(ipv4_of("no-such-if0").unwrap(), None);
    }

    #[test]
    fn ucast_link_is_nonblocking_low_delay_and_stamped() {
        let setup = LinkSetup::Ucast {
            dev: None,
            bind: "127.0.0.1:0".parse().unwrap(),
            peer: "127.0.0.1:9".parse().unwrap(),
        };
        let link = open_link(&setup).unwrap();
        let Medium::Udp { socket, dest } = &link.medium else {
            panic!("ucast opened as {:?}", link.medium);
        };
        assert!(dest.is_none(), "ucast sockets are connected");
        assert_eq!(socket.tos_v4().unwrap(), LOW_DELAY_TOS);
        let flags = unsafe { libc::fcntl(link.raw_fd(), libc::F_GETFL) };
        assert_ne!(flags & libc::O_NONBLOCK, 0);
        let mut on: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let rc = unsafe {
            libc::getsockopt(
                link.raw_fd(),
                libc::SOL_SOCKET,
                SO_TIMESTAMPNS,
                (&mut on as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!((rc, on), (0, 1));
    }

    #[test]
    fn bcast_on_an_interface_without_broadcast_is_refused() {
        let err = open_link(&LinkSetup::Bcast {
            dev: "lo".into(),
            port: 0,
        })
        .unwrap_err();
        assert!(matches!(err, LinkError::NoBroadcast { .. }), "{err}");
    }

    #[test]
    fn a_pty_end_opens_shared_nonblocking_and_close_on_exec() {
        let cable = crate::pty::PtyCable::open().unwrap();
        let link = open_link(&LinkSetup::Serial {
            path: cable.ends()[0].to_path_buf(),
            baud: 115_200,
        })
        .unwrap();
        let fd = link.raw_fd();
        let mut excl: libc::c_int = -1;
        // SAFETY: TIOCGEXCL writes one int.
        assert_eq!(unsafe { libc::ioctl(fd, libc::TIOCGEXCL, &mut excl) }, 0);
        assert_eq!(excl, 0, "a pty must not be left exclusive");
        let fd_flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert!(
            fd_flags & libc::FD_CLOEXEC != 0,
            "the line must not leak into children"
        );
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        assert!(fl & libc::O_NONBLOCK != 0);
        // Closing and reopening works (a restarted node).
        drop(link);
        let again = open_link(&LinkSetup::Serial {
            path: cable.ends()[0].to_path_buf(),
            baud: 115_200,
        });
        assert!(again.is_ok());
    }

    #[test]
    fn a_missing_serial_device_is_an_error_naming_the_link() {
        let err = open_link(&LinkSetup::Serial {
            path: "/dev/no-such-tty".into(),
            baud: 19200,
        })
        .unwrap_err();
        assert!(err.to_string().contains("/dev/no-such-tty"), "{err}");
    }
}
