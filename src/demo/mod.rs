//! The embedded default: two nodes, `alpha` and `bravo`, on one host, joined
//! by loopback UDP and a pty pair standing in for a serial cable.
//!
//! This module only writes their configuration directories; it is what
//! `twinbeat demo` runs, and what tests start two nodes from.

pub mod live;

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The two demo nodes.
pub const NODES: [&str; 2] = ["alpha", "bravo"];

/// The UDP port each demo node listens on.
pub const DEMO_PORTS: [u16; 2] = [7701, 7702];

/// Timings of the demo pair: fast enough to show a failover in
/// milliseconds, slow enough for the pty's serial link at 460800 baud
/// (a 32-byte keepalive takes 694 µs there).
pub const DEMO_TIMINGS: &str = "\
keepalive 1ms
warntime 3ms
deadtime 6ms
initdead 2
";

/// Two UDP ports free on loopback right now, for a pair on one host (the
/// demo, tests, benchmarks): asked of the kernel, not guessed.
pub fn free_ports() -> io::Result<[u16; 2]> {
    let a = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let b = std::net::UdpSocket::bind("127.0.0.1:0")?;
    Ok([a.local_addr()?.port(), b.local_addr()?.port()])
}

/// What varies between the demo and a test pair.
#[derive(Debug, Clone)]
pub struct PairParams<'a> {
    /// ha.cf lines with keepalive, warntime, deadtime, initdead.
    pub timings: &'a str,
    /// The UDP port each node listens on.
    pub ports: [u16; 2],
    /// Extra ha.cf lines for both nodes (e.g. `realtime off`).
    pub extra: &'a str,
}

impl Default for PairParams<'_> {
    fn default() -> Self {
        Self {
            timings: DEMO_TIMINGS,
            ports: DEMO_PORTS,
            extra: "",
        }
    }
}

/// Where one demo node's files live.
#[derive(Debug, Clone)]
pub struct NodeDirs {
    pub name: &'static str,
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
}

/// Writes `ha.cf`, `authkeys` (mode 0600) and `haresources` for both demo
/// nodes under `root`. `serial[i]` is the tty node `i` opens as its end of
/// the cable (`None` leaves the serial link out).
pub fn write_configs(
    root: &Path,
    serial: [Option<&Path>; 2],
    params: &PairParams<'_>,
) -> io::Result<[NodeDirs; 2]> {
    let mut dirs = Vec::with_capacity(2);
    for (i, name) in NODES.iter().enumerate() {
        let (port, peer_port) = (params.ports[i], params.ports[1 - i]);
        let timings = params.timings;
        let base = root.join(name);
        let node = NodeDirs {
            name,
            config_dir: base.join("ha.d"),
            state_dir: base.join("state"),
            run_dir: base.join("run"),
        };
        fs::create_dir_all(&node.config_dir)?;
        fs::create_dir_all(&node.state_dir)?;
        fs::create_dir_all(&node.run_dir)?;

        let mut hacf = format!(
            "# twinbeat demo: node {name}. Loopback UDP plus a pty pair as the serial cable.\n\
             {timings}udpport {port}\n\
             bind_address 127.0.0.1\n\
             ucast lo 127.0.0.1:{peer_port}\n\
             baud 460800\n"
        );
        if let Some(tty) = serial[i] {
            hacf.push_str(&format!("serial {}\n", tty.display()));
        }
        hacf.push_str(params.extra);
        hacf.push_str(&format!(
            "auto_failback off\n\
             node alpha bravo\n\
             state_dir {}\n\
             run_dir {}\n",
            node.state_dir.display(),
            node.run_dir.display()
        ));
        fs::write(node.config_dir.join("ha.cf"), hacf)?;

        let authkeys = node.config_dir.join("authkeys");
        fs::write(&authkeys, "auth 1\n1 sha1 twinbeat-demo-secret\n")?;
        fs::set_permissions(&authkeys, fs::Permissions::from_mode(0o600))?;

        fs::write(
            node.config_dir.join("haresources"),
            "# alpha is home to the demo service\nalpha demo-service\n",
        )?;
        // The demo service: a script that records when it runs on this node.
        let rsc = node.config_dir.join("resource.d");
        fs::create_dir_all(&rsc)?;
        let stamp = node.state_dir.join("demo-service.running");
        let script = rsc.join("demo-service");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\n# twinbeat demo resource: marks itself running on {name}\n\
                 case \"$1\" in\n\
                 start) date +%s%N > '{0}' ;;\n\
                 stop) rm -f '{0}' ;;\n\
                 status) if [ -f '{0}' ]; then echo running; else echo stopped; fi ;;\n\
                 esac\nexit 0\n",
                stamp.display()
            ),
        )?;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
        dirs.push(node);
    }
    let [a, b]: [NodeDirs; 2] = dirs.try_into().expect("two nodes were written");
    Ok([a, b])
}
