//! Gratuitous ARP: tells the segment which MAC now owns a virtual IP.
//!
//! The frame is an ARP *request* with sender IP = target IP = the VIP and
//! sender MAC = the interface's MAC, sent to the Ethernet broadcast address
//! (Heartbeat's send_arp default; RFC 5227's "ARP announcement"). The target
//! MAC is zero, as RFC 5227 asks; Linux, BSD and Windows peers update an
//! existing neighbour entry from such a request whatever that field holds.
//!
//! [`ArpSchedule`] is the pure timetable (the first send at once, then one
//! every interval); [`Announcer`] owns the AF_PACKET socket and sends what is
//! due. A caller either drives it (`next_due` / `send_due`) or hands it to a
//! thread with [`Announcer::spawn`], so the sending never blocks a takeover.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::time::{Nanos, monotonic_ns};

/// Length of an Ethernet/IPv4 ARP packet (without the Ethernet header).
pub const ARP_PACKET_LEN: usize = 28;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IP: u16 = 0x0800;
const ARPHRD_ETHER: u16 = 1;
const ARPOP_REQUEST: u16 = 1;
const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// How many gratuitous ARPs and how far apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpConfig {
    /// 0 sends none.
    pub count: u32,
    pub interval: Duration,
}

impl Default for ArpConfig {
    /// Five over the first second: at 0, 200, 400, 600 and 800 ms.
    fn default() -> Self {
        ArpConfig {
            count: 5,
            interval: Duration::from_millis(200),
        }
    }
}

/// The gratuitous ARP request announcing `vip` at `mac`.
pub fn announcement(mac: [u8; 6], vip: Ipv4Addr) -> [u8; ARP_PACKET_LEN] {
    let mut p = [0u8; ARP_PACKET_LEN];
    p[0..2].copy_from_slice(&ARPHRD_ETHER.to_be_bytes());
    p[2..4].copy_from_slice(&ETH_P_IP.to_be_bytes());
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&ARPOP_REQUEST.to_be_bytes());
    p[8..14].copy_from_slice(&mac);
    p[14..18].copy_from_slice(&vip.octets());
    // 18..24: target MAC left zero.
    p[24..28].copy_from_slice(&vip.octets());
    p
}

/// The sender MAC and IP of a packet that is a gratuitous ARP (request or
/// reply, sender IP = target IP); `None` for anything else.
pub fn parse_gratuitous(packet: &[u8]) -> Option<([u8; 6], Ipv4Addr)> {
    let p: &[u8; ARP_PACKET_LEN] = packet.get(..ARP_PACKET_LEN)?.try_into().ok()?;
    let ethernet_ipv4 = p[0..2] == ARPHRD_ETHER.to_be_bytes()
        && p[2..4] == ETH_P_IP.to_be_bytes()
        && p[4] == 6
        && p[5] == 4;
    if !ethernet_ipv4 || p[14..18] != p[24..28] {
        return None;
    }
    let mac: [u8; 6] = p[8..14].try_into().ok()?;
    let ip: [u8; 4] = p[14..18].try_into().ok()?;
    Some((mac, Ipv4Addr::from(ip)))
}

/// When each announcement is due: `start + i * interval` for `i < count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpSchedule {
    start: Nanos,
    interval: Nanos,
    count: u32,
    sent: u32,
}

impl ArpSchedule {
    pub fn new(config: ArpConfig, start: Nanos) -> ArpSchedule {
        ArpSchedule {
            start,
            interval: u64::try_from(config.interval.as_nanos()).unwrap_or(u64::MAX),
            count: config.count,
            sent: 0,
        }
    }

    /// When the next one is due; `None` once all are sent.
    pub fn next_due(&self) -> Option<Nanos> {
        (self.sent < self.count).then(|| {
            self.start
                .saturating_add(self.interval.saturating_mul(u64::from(self.sent)))
        })
    }

    /// How many are due at `now` (a late caller catches up at once rather
    /// than stretching the schedule).
    pub fn due_at(&self, now: Nanos) -> u32 {
        let mut due = 0;
        let mut probe = *self;
        while probe.next_due().is_some_and(|t| t <= now) {
            probe.sent += 1;
            due += 1;
        }
        due
    }

    pub fn mark_sent(&mut self, n: u32) {
        self.sent = self.sent.saturating_add(n).min(self.count);
    }

    pub fn sent(&self) -> u32 {
        self.sent
    }
}

/// What an announcer did over its life.
#[derive(Debug, Default)]
pub struct ArpReport {
    pub sent: u32,
    pub failed: u32,
    pub last_error: Option<io::Error>,
}

/// An AF_PACKET socket bound to nothing (protocol 0: it receives nothing)
/// that sends one prepared announcement on a schedule.
pub struct Announcer {
    fd: OwnedFd,
    dest: libc::sockaddr_ll,
    packet: [u8; ARP_PACKET_LEN],
    schedule: ArpSchedule,
    report: ArpReport,
}

impl Announcer {
    /// Opens the socket in the calling thread's network namespace; the first
    /// announcement is due at `now`.
    pub fn open(
        ifindex: u32,
        mac: [u8; 6],
        vip: Ipv4Addr,
        config: ArpConfig,
        now: Nanos,
    ) -> io::Result<Announcer> {
        let ifindex = libc::c_int::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too big"))?;
        // SAFETY: plain socket(2); checked before use.
        let raw =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: all-zero is a valid sockaddr_ll; the fields that matter
        // are set below.
        let mut dest: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        dest.sll_family = libc::AF_PACKET as libc::c_ushort;
        dest.sll_protocol = ETH_P_ARP.to_be();
        dest.sll_ifindex = ifindex;
        dest.sll_halen = 6;
        dest.sll_addr[..6].copy_from_slice(&BROADCAST_MAC);
        Ok(Announcer {
            fd,
            dest,
            packet: announcement(mac, vip),
            schedule: ArpSchedule::new(config, now),
            report: ArpReport::default(),
        })
    }

    pub fn next_due(&self) -> Option<Nanos> {
        self.schedule.next_due()
    }

    /// Sends every announcement due at `now`; returns how many went out.
    /// A failed send counts as done (retrying would bunch them up) and is
    /// kept in the report.
    pub fn send_due(&mut self, now: Nanos) -> u32 {
        let due = self.schedule.due_at(now);
        let mut ok = 0;
        for _ in 0..due {
            match self.send_one() {
                Ok(()) => ok += 1,
                Err(err) => {
                    self.report.failed += 1;
                    self.report.last_error = Some(err);
                }
            }
        }
        self.schedule.mark_sent(due);
        self.report.sent += ok;
        ok
    }

    fn send_one(&self) -> io::Result<()> {
        // SAFETY: `packet` and `dest` are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                self.packet.as_ptr().cast(),
                self.packet.len(),
                0,
                (&raw const self.dest).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends the rest of the schedule, sleeping between sends.
    pub fn run_to_end(mut self) -> ArpReport {
        while let Some(due) = self.next_due() {
            let now = monotonic_ns();
            if due > now {
                std::thread::sleep(Duration::from_nanos(due - now));
            }
            self.send_due(monotonic_ns());
        }
        self.report
    }

    /// Sends the rest of the schedule on a thread of its own.
    pub fn spawn(self) -> io::Result<JoinHandle<ArpReport>> {
        crate::engine::realtime::thread_named("garp").spawn(move || self.run_to_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Nanos = crate::time::NANOS_PER_MILLI;

    #[test]
    fn announcement_layout() {
        let mac = [2, 0xaa, 0, 0, 0, 1];
        let vip = Ipv4Addr::new(10, 77, 0, 100);
        let p = announcement(mac, vip);
        assert_eq!(&p[0..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&p[8..14], &mac);
        assert_eq!(&p[14..18], &[10, 77, 0, 100]);
        assert_eq!(&p[18..24], &[0; 6]);
        assert_eq!(&p[24..28], &[10, 77, 0, 100]);
        assert_eq!(parse_gratuitous(&p), Some((mac, vip)));
    }

    #[test]
    fn an_ordinary_request_is_not_gratuitous() {
        let mut p = announcement([2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 0, 0, 1));
        p[27] = 2;
        assert_eq!(parse_gratuitous(&p), None);
        assert_eq!(parse_gratuitous(&p[..20]), None);
    }

    #[test]
    fn default_schedule_is_five_over_the_first_second() {
        let start = 1_000 * MS;
        let mut s = ArpSchedule::new(ArpConfig::default(), start);
        let mut times = Vec::new();
        while let Some(t) = s.next_due() {
            assert_eq!(s.due_at(t), 1);
            assert_eq!(s.due_at(t.saturating_sub(1)), 0);
            times.push(t - start);
            s.mark_sent(1);
        }
        assert_eq!(times, vec![0, 200 * MS, 400 * MS, 600 * MS, 800 * MS]);
    }

    #[test]
    fn a_late_caller_catches_up_and_zero_sends_none() {
        let mut s = ArpSchedule::new(ArpConfig::default(), 0);
        assert_eq!(s.due_at(450 * MS), 3);
        s.mark_sent(3);
        assert_eq!(s.next_due(), Some(600 * MS));
        assert_eq!(s.due_at(u64::MAX), 2);
        let none = ArpSchedule::new(
            ArpConfig {
                count: 0,
                interval: Duration::ZERO,
            },
            0,
        );
        assert_eq!(none.next_due(), None);
    }

    proptest! {
        #[test]
        fn schedule_sends_exactly_count_in_order(count in 0u32..50, interval_ms in 0u64..1000, start in 0u64..1u64 << 50, steps in proptest::collection::vec(0u64..500, 0..200)) {
            let config = ArpConfig { count, interval: Duration::from_millis(interval_ms) };
            let mut s = ArpSchedule::new(config, start);
            let mut now = start;
            let mut last = None;
            for step in steps {
                now += step * MS;
                let due = s.due_at(now);
                if let Some(t) = s.next_due() {
                    prop_assert!(last.is_none_or(|l| t >= l));
                    last = Some(t);
                }
                s.mark_sent(due);
                prop_assert!(s.sent() <= count);
            }
            s.mark_sent(s.due_at(u64::MAX));
            prop_assert_eq!(s.sent(), count);
            prop_assert_eq!(s.next_due(), None);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_gratuitous(&bytes);
        }
    }
}
