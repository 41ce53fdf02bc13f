//! A small synchronous NETLINK_ROUTE client: IPv4 address add, delete and
//! dump, and one link's facts (MAC, flags).
//!
//! Messages are encoded into and decoded from plain byte buffers with every
//! length checked, so a malformed or hostile reply is an error, never a
//! panic or an out-of-bounds read. The kernel ABI values are spelled out
//! here (they are fixed by `linux/rtnetlink.h` and `linux/if_addr.h`) rather
//! than taken from `libc`, whose coverage of them differs between targets.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_HDR_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const IFINFOMSG_LEN: usize = 16;
const RTA_HDR_LEN: usize = 4;
/// `struct nlmsgerr`: the errno and the header of the request it answers.
const NLMSGERR_LEN: usize = 4 + NLMSG_HDR_LEN;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

pub(crate) const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_MULTI: u16 = 0x2;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
/// In an error message: the echoed request was cut to its header.
const NLM_F_CAPPED: u16 = 0x100;
/// In an error message: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_F_SECONDARY: u8 = 0x01;
const IFLA_ADDRESS: u16 = 1;

const AF_INET: u8 = 2;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

/// Big enough for any dump part the kernel sends (it caps them at 32 KiB).
const RECV_BUF_LEN: usize = 64 * 1024;
/// A reply that never comes must not hang the takeover process.
const REPLY_TIMEOUT_SECS: libc::time_t = 2;
/// A dump interrupted by a concurrent change is retried this many times.
const DUMP_ATTEMPTS: usize = 4;

/// What went wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    /// The kernel refused the request; `message` is its extended ack text.
    #[error("kernel said: {} (errno {errno}){}", io::Error::from_raw_os_error(*.errno), ext_ack_suffix(.message))]
    Kernel { errno: i32, message: Option<String> },
    #[error("malformed netlink reply: {0}")]
    Malformed(&'static str),
}

fn ext_ack_suffix(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

/// One IPv4 address as RTM_GETADDR reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrEntry {
    pub ifindex: u32,
    pub prefix: u8,
    /// IFA_LOCAL: the interface's own address.
    pub local: Ipv4Addr,
    /// IFA_ADDRESS: equal to `local` except on point-to-point links.
    pub address: Ipv4Addr,
    /// IFA_LABEL: the interface name, or an alias such as `eth0:0`.
    pub label: Option<String>,
    pub secondary: bool,
}

/// The facts about one link that gratuitous ARP needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub ifindex: u32,
    /// `ARPHRD_*` (1 = Ethernet).
    pub hw_type: u16,
    /// `IFF_*` flags.
    pub flags: u32,
    /// IFLA_ADDRESS when it is a 6-byte MAC.
    pub mac: Option<[u8; 6]>,
}

/// The IPv4 address an RTM_NEWADDR / RTM_DELADDR names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrRequest<'a> {
    pub ifindex: u32,
    pub prefix: u8,
    pub local: Ipv4Addr,
    pub address: Ipv4Addr,
    pub broadcast: Option<Ipv4Addr>,
    pub label: Option<&'a str>,
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn push_header(buf: &mut Vec<u8>, msg_type: u16, flags: u16, seq: u32) {
    buf.clear();
    buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched by finish
    buf.extend_from_slice(&msg_type.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
}

fn push_attr(buf: &mut Vec<u8>, attr_type: u16, data: &[u8]) {
    let len = (RTA_HDR_LEN + data.len()) as u16;
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&attr_type.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align4(buf.len()), 0);
}

fn finish(buf: &mut [u8]) {
    let len = (buf.len() as u32).to_ne_bytes();
    if let Some(head) = buf.get_mut(..4) {
        head.copy_from_slice(&len);
    }
}

/// RTM_NEWADDR (exclusive create) or RTM_DELADDR, asking for an ack.
pub fn encode_addr_request(buf: &mut Vec<u8>, msg_type: u16, seq: u32, req: &AddrRequest<'_>) {
    let mut flags = NLM_F_REQUEST | NLM_F_ACK;
    if msg_type == RTM_NEWADDR {
        flags |= NLM_F_CREATE | NLM_F_EXCL;
    }
    push_header(buf, msg_type, flags, seq);
    // ifaddrmsg: family, prefix length, flags, scope (universe), index.
    buf.extend_from_slice(&[AF_INET, req.prefix, 0, 0]);
    buf.extend_from_slice(&req.ifindex.to_ne_bytes());
    push_attr(buf, IFA_LOCAL, &req.local.octets());
    push_attr(buf, IFA_ADDRESS, &req.address.octets());
    if let Some(brd) = req.broadcast {
        push_attr(buf, IFA_BROADCAST, &brd.octets());
    }
    if let Some(label) = req.label {
        let mut text = Vec::with_capacity(label.len() + 1);
        text.extend_from_slice(label.as_bytes());
        text.push(0);
        push_attr(buf, IFA_LABEL, &text);
    }
    finish(buf);
}

/// RTM_GETADDR dump of every IPv4 address.
pub fn encode_addr_dump(buf: &mut Vec<u8>, seq: u32) {
    push_header(buf, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
    buf.extend_from_slice(&[AF_INET, 0, 0, 0]);
    buf.extend_from_slice(&0u32.to_ne_bytes());
    finish(buf);
}

/// RTM_GETLINK for one interface index.
pub fn encode_link_get(buf: &mut Vec<u8>, seq: u32, ifindex: u32) {
    push_header(buf, RTM_GETLINK, NLM_F_REQUEST, seq);
    // ifinfomsg: family, pad, type, index, flags, change.
    buf.extend_from_slice(&[0, 0, 0, 0]);
    buf.extend_from_slice(&ifindex.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    finish(buf);
}

/// One netlink message inside a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub port: u32,
    pub payload: &'a [u8],
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn ipv4(data: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = data.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// Splits a datagram into messages; stops with an error at the first
/// header whose length does not fit.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Result<Message<'_>, NetlinkError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let len = u32_at(rest, 0)? as usize;
            if len < NLMSG_HDR_LEN || len > rest.len() {
                return None;
            }
            let msg = Message {
                msg_type: u16_at(rest, 4)?,
                flags: u16_at(rest, 6)?,
                seq: u32_at(rest, 8)?,
                port: u32_at(rest, 12)?,
                payload: rest.get(NLMSG_HDR_LEN..len)?,
            };
            Some((msg, align4(len).min(rest.len())))
        })();
        match parsed {
            Some((msg, used)) => {
                rest = rest.get(used..).unwrap_or(&[]);
                Some(Ok(msg))
            }
            None => {
                rest = &[];
                Some(Err(NetlinkError::Malformed("message length out of bounds")))
            }
        }
    })
}

/// `(type, data)` for each route attribute; a malformed attribute ends the
/// walk (the kernel never sends one, and nothing after it can be trusted).
pub fn attributes(bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let len = u16_at(rest, 0)? as usize;
        let attr_type = u16_at(rest, 2)?;
        if len < RTA_HDR_LEN {
            rest = &[];
            return None;
        }
        let Some(data) = rest.get(RTA_HDR_LEN..len) else {
            rest = &[];
            return None;
        };
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        // Nested/flag bits in the type do not occur in IFA_*/IFLA_* we read.
        Some((attr_type & 0x3fff, data))
    })
}

/// The errno (0 = success) and extended-ack message of an NLMSG_ERROR.
pub fn parse_error(msg: &Message<'_>) -> Result<(i32, Option<String>), NetlinkError> {
    let raw = u32_at(msg.payload, 0).ok_or(NetlinkError::Malformed("short error message"))?;
    let errno = (raw as i32).saturating_neg();
    let tlv_start = if msg.flags & NLM_F_CAPPED != 0 {
        NLMSGERR_LEN
    } else {
        let echoed = u32_at(msg.payload, 4).unwrap_or(0) as usize;
        4 + align4(echoed)
    };
    let mut message = None;
    let tlvs = if msg.flags & NLM_F_ACK_TLVS != 0 {
        msg.payload.get(tlv_start..).unwrap_or(&[])
    } else {
        &[]
    };
    for (attr_type, data) in attributes(tlvs) {
        if attr_type == NLMSGERR_ATTR_MSG {
            let text = data.split(|&b| b == 0).next().unwrap_or(&[]);
            message = Some(String::from_utf8_lossy(text).into_owned());
        }
    }
    Ok((errno, message))
}

/// An RTM_NEWADDR body; `None` for non-IPv4 or one without an address.
pub fn parse_addr(payload: &[u8]) -> Option<AddrEntry> {
    let head = payload.get(..IFADDRMSG_LEN)?;
    if head[0] != AF_INET {
        return None;
    }
    let prefix = head[1];
    let secondary = head[2] & IFA_F_SECONDARY != 0;
    let ifindex = u32_at(head, 4)?;
    let (mut local, mut address, mut label) = (None, None, None);
    for (attr_type, data) in attributes(payload.get(IFADDRMSG_LEN..)?) {
        match attr_type {
            IFA_LOCAL => local = ipv4(data),
            IFA_ADDRESS => address = ipv4(data),
            IFA_LABEL => {
                let text = data.split(|&b| b == 0).next().unwrap_or(&[]);
                label = Some(String::from_utf8_lossy(text).into_owned());
            }
            _ => {}
        }
    }
    let address = address.or(local)?;
    Some(AddrEntry {
        ifindex,
        prefix,
        local: local.unwrap_or(address),
        address,
        label,
        secondary,
    })
}

/// An RTM_NEWLINK body.
pub fn parse_link(payload: &[u8]) -> Option<LinkInfo> {
    let head = payload.get(..IFINFOMSG_LEN)?;
    let hw_type = u16_at(head, 2)?;
    let ifindex = u32_at(head, 4)?;
    let flags = u32_at(head, 8)?;
    let mut mac = None;
    for (attr_type, data) in attributes(payload.get(IFINFOMSG_LEN..)?) {
        if attr_type == IFLA_ADDRESS {
            mac = <[u8; 6]>::try_from(data).ok();
        }
    }
    Some(LinkInfo {
        ifindex,
        hw_type,
        flags,
        mac,
    })
}

/// A NETLINK_ROUTE socket in the network namespace of the thread that
/// opened it, with its buffers allocated once.
pub struct RouteSocket {
    fd: OwnedFd,
    seq: u32,
    port: u32,
    out: Vec<u8>,
    recv: Vec<u8>,
}

impl RouteSocket {
    pub fn open() -> io::Result<RouteSocket> {
        // SAFETY: plain socket(2); the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: all-zero is a valid sockaddr_nl (port 0: the kernel picks one).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let addr_len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: `addr` is a valid sockaddr_nl of `addr_len` bytes.
        let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), addr_len) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut bound_len = addr_len;
        // SAFETY: `addr` is writable for `bound_len` bytes.
        let rc =
            unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut addr).cast(), &mut bound_len) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // Extended acks give the kernel's reason in words; capped acks keep
        // error replies small. Both are optional: older kernels say ENOPROTOOPT.
        let one: libc::c_int = 1;
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            // SAFETY: `one` is a c_int readable for its size.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    opt,
                    (&raw const one).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        let timeout = libc::timeval {
            tv_sec: REPLY_TIMEOUT_SECS,
            tv_usec: 0,
        };
        // SAFETY: `timeout` is a timeval readable for its size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RouteSocket {
            fd,
            seq: 0,
            port: addr.nl_pid,
            out: Vec::with_capacity(256),
            recv: vec![0; RECV_BUF_LEN],
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send_out(&self) -> io::Result<()> {
        // SAFETY: `out` is readable for its length; the socket is connected
        // to the kernel by default (destination port 0).
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                self.out.as_ptr().cast(),
                self.out.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != self.out.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short netlink send",
            ));
        }
        Ok(())
    }

    /// Receives one datagram into `recv`; returns its length.
    fn receive(&mut self) -> Result<usize, NetlinkError> {
        loop {
            // SAFETY: `recv` is writable for its length. MSG_TRUNC makes the
            // return value the datagram's full size so truncation is seen.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.recv.as_mut_ptr().cast(),
                    self.recv.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err.into());
            }
            let n = n as usize;
            if n > self.recv.len() {
                return Err(NetlinkError::Malformed(
                    "reply larger than the receive buffer",
                ));
            }
            return Ok(n);
        }
    }

    /// Sends an address request and waits for its ack.
    pub fn address_request(
        &mut self,
        msg_type: u16,
        req: &AddrRequest<'_>,
    ) -> Result<(), NetlinkError> {
        let seq = self.next_seq();
        encode_addr_request(&mut self.out, msg_type, seq, req);
        self.send_out()?;
        self.wait_ack(seq)
    }

    fn wait_ack(&mut self, seq: u32) -> Result<(), NetlinkError> {
        loop {
            let n = self.receive()?;
            let buf = self.recv.get(..n).unwrap_or(&[]);
            for msg in messages(buf) {
                let msg = msg?;
                if msg.seq != seq || msg.port != self.port || msg.msg_type != NLMSG_ERROR {
                    continue;
                }
                let (errno, message) = parse_error(&msg)?;
                return if errno == 0 {
                    Ok(())
                } else {
                    Err(NetlinkError::Kernel { errno, message })
                };
            }
        }
    }

    /// Every IPv4 address of this namespace into `out` (cleared first).
    pub fn dump_addresses(&mut self, out: &mut Vec<AddrEntry>) -> Result<(), NetlinkError> {
        for _ in 0..DUMP_ATTEMPTS {
            out.clear();
            if self.dump_once(out)? {
                return Ok(());
            }
        }
        Err(NetlinkError::Malformed(
            "address dump kept being interrupted by concurrent changes",
        ))
    }

    /// `Ok(false)` when the kernel flagged the dump as inconsistent.
    fn dump_once(&mut self, out: &mut Vec<AddrEntry>) -> Result<bool, NetlinkError> {
        let seq = self.next_seq();
        encode_addr_dump(&mut self.out, seq);
        self.send_out()?;
        let mut consistent = true;
        loop {
            let n = self.receive()?;
            let buf = self.recv.get(..n).unwrap_or(&[]);
            for msg in messages(buf) {
                let msg = msg?;
                if msg.seq != seq || msg.port != self.port {
                    continue;
                }
                if msg.flags & NLM_F_DUMP_INTR != 0 {
                    consistent = false;
                }
                match msg.msg_type {
                    NLMSG_DONE => return Ok(consistent),
                    NLMSG_ERROR => {
                        let (errno, message) = parse_error(&msg)?;
                        return Err(NetlinkError::Kernel { errno, message });
                    }
                    RTM_NEWADDR => out.extend(parse_addr(msg.payload)),
                    _ => {}
                }
                if msg.flags & NLM_F_MULTI == 0 {
                    return Ok(consistent);
                }
            }
        }
    }

    /// The link with this index.
    pub fn link(&mut self, ifindex: u32) -> Result<LinkInfo, NetlinkError> {
        let seq = self.next_seq();
        encode_link_get(&mut self.out, seq, ifindex);
        self.send_out()?;
        loop {
            let n = self.receive()?;
            let buf = self.recv.get(..n).unwrap_or(&[]);
            for msg in messages(buf) {
                let msg = msg?;
                if msg.seq != seq || msg.port != self.port {
                    continue;
                }
                match msg.msg_type {
                    RTM_NEWLINK => {
                        return parse_link(msg.payload)
                            .ok_or(NetlinkError::Malformed("short link message"));
                    }
                    NLMSG_ERROR => {
                        let (errno, message) = parse_error(&msg)?;
                        return Err(NetlinkError::Kernel { errno, message });
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request() -> AddrRequest<'static> {
        AddrRequest {
            ifindex: 7,
            prefix: 24,
            local: Ipv4Addr::new(10, 77, 0, 100),
            address: Ipv4Addr::new(10, 77, 0, 100),
            broadcast: Some(Ipv4Addr::new(10, 77, 0, 255)),
            label: Some("veth0:0"),
        }
    }

    #[test]
    fn new_addr_request_round_trips_through_the_parser() {
        let mut buf = Vec::new();
        encode_addr_request(&mut buf, RTM_NEWADDR, 42, &request());
        assert_eq!(buf.len() % 4, 0);
        let msgs: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 1);
        let msg = msgs[0];
        assert_eq!(msg.msg_type, RTM_NEWADDR);
        assert_eq!(msg.seq, 42);
        assert_eq!(
            msg.flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        );
        let entry = parse_addr(msg.payload).unwrap();
        assert_eq!(entry.ifindex, 7);
        assert_eq!(entry.prefix, 24);
        assert_eq!(entry.local, Ipv4Addr::new(10, 77, 0, 100));
        assert_eq!(entry.label.as_deref(), Some("veth0:0"));
        let brd = attributes(&msg.payload[IFADDRMSG_LEN..])
            .find(|(t, _)| *t == IFA_BROADCAST)
            .map(|(_, d)| ipv4(d).unwrap());
        assert_eq!(brd, Some(Ipv4Addr::new(10, 77, 0, 255)));
    }

    #[test]
    fn del_addr_request_is_not_exclusive_and_has_no_broadcast_when_none() {
        let mut buf = Vec::new();
        let req = AddrRequest {
            broadcast: None,
            label: None,
            ..request()
        };
        encode_addr_request(&mut buf, RTM_DELADDR, 1, &req);
        let msg = messages(&buf).next().unwrap().unwrap();
        assert_eq!(msg.flags, NLM_F_REQUEST | NLM_F_ACK);
        let types: Vec<u16> = attributes(&msg.payload[IFADDRMSG_LEN..])
            .map(|(t, _)| t)
            .collect();
        assert_eq!(types, vec![IFA_LOCAL, IFA_ADDRESS]);
    }

    fn error_message(errno: i32, flags: u16, text: Option<&str>) -> Vec<u8> {
        let mut buf = Vec::new();
        push_header(&mut buf, NLMSG_ERROR, flags, 9);
        buf.extend_from_slice(&(-errno).to_ne_bytes());
        buf.extend_from_slice(&[0u8; NLMSG_HDR_LEN]);
        if let Some(t) = text {
            let mut s = t.as_bytes().to_vec();
            s.push(0);
            push_attr(&mut buf, NLMSGERR_ATTR_MSG, &s);
        }
        finish(&mut buf);
        buf
    }

    #[test]
    fn capped_error_with_ext_ack_gives_errno_and_text() {
        let buf = error_message(
            libc::EEXIST,
            NLM_F_CAPPED | NLM_F_ACK_TLVS,
            Some("address exists"),
        );
        let msg = messages(&buf).next().unwrap().unwrap();
        let (errno, text) = parse_error(&msg).unwrap();
        assert_eq!(errno, libc::EEXIST);
        assert_eq!(text.as_deref(), Some("address exists"));
    }

    #[test]
    fn plain_ack_is_errno_zero() {
        let buf = error_message(0, NLM_F_CAPPED, None);
        let msg = messages(&buf).next().unwrap().unwrap();
        assert_eq!(parse_error(&msg).unwrap(), (0, None));
    }

    #[test]
    fn a_length_past_the_end_is_malformed() {
        let mut buf = Vec::new();
        encode_addr_dump(&mut buf, 3);
        buf[0] = 200;
        let first = messages(&buf).next().unwrap();
        assert!(matches!(first, Err(NetlinkError::Malformed(_))));
        assert_eq!(messages(&buf).count(), 1);
    }

    #[test]
    fn link_reply_gives_the_mac() {
        let mut buf = Vec::new();
        encode_link_get(&mut buf, 5, 3);
        // Reuse the request's ifinfomsg, then add a type, flags and a MAC.
        buf[NLMSG_HDR_LEN + 2..NLMSG_HDR_LEN + 4].copy_from_slice(&1u16.to_ne_bytes());
        buf[NLMSG_HDR_LEN + 8..NLMSG_HDR_LEN + 12].copy_from_slice(&0x1043u32.to_ne_bytes());
        push_attr(&mut buf, IFLA_ADDRESS, &[2, 0, 0, 0, 0, 9]);
        finish(&mut buf);
        let msg = messages(&buf).next().unwrap().unwrap();
        let link = parse_link(msg.payload).unwrap();
        assert_eq!(link.ifindex, 3);
        assert_eq!(link.hw_type, 1);
        assert_eq!(link.flags, 0x1043);
        assert_eq!(link.mac, Some([2, 0, 0, 0, 0, 9]));
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            for msg in messages(&bytes).flatten() {
                let _ = parse_error(&msg);
                let _ = parse_addr(msg.payload);
                let _ = parse_link(msg.payload);
            }
            let _ = parse_addr(&bytes);
            let _ = parse_link(&bytes);
            let _ = attributes(&bytes).count();
        }

        #[test]
        fn any_request_round_trips(ifindex in any::<u32>(), prefix in 0u8..=32, local in any::<u32>(), brd in proptest::option::of(any::<u32>())) {
            let req = AddrRequest {
                ifindex,
                prefix,
                local: Ipv4Addr::from(local),
                address: Ipv4Addr::from(local),
                broadcast: brd.map(Ipv4Addr::from),
                label: None,
            };
            let mut buf = Vec::new();
            encode_addr_request(&mut buf, RTM_DELADDR, 1, &req);
            let msg = messages(&buf).next().unwrap().unwrap();
            let entry = parse_addr(msg.payload).unwrap();
            prop_assert_eq!(entry.ifindex, ifindex);
            prop_assert_eq!(entry.prefix, prefix);
            prop_assert_eq!(entry.local, req.local);
        }
    }
}
