//! The effective configuration as a node runs it, for a person to read
//! (`twinbeat check-config`): ha.cf-like lines with every default filled in
//! and marked, links numbered by LinkId, the auth method and key indexes
//! (never a key), and the resource groups.

use std::fmt::Write;

use super::Config;
use super::duration::format_duration;
use super::hacf::{BackupCore, CpuLatency, LinkSpec, Setting};

const DEFAULT_MARK: &str = "  # default";

fn mark<T>(setting: &Setting<T>) -> &'static str {
    if setting.is_default() {
        DEFAULT_MARK
    } else {
        ""
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// Renders `config` as readable, ha.cf-like text.
pub fn render_effective(config: &Config) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = render_into(config, &mut out);
    out
}

fn render_into(config: &Config, out: &mut String) -> std::fmt::Result {
    let h = &config.hacf;
    writeln!(
        out,
        "# twinbeat effective configuration for node {} (from {})",
        config.node,
        config.dir.display()
    )?;
    writeln!(out, "# lines marked \"# default\" were not set in ha.cf")?;
    writeln!(out)?;
    writeln!(out, "# ha.cf")?;
    for n in &h.nodes {
        let role = if n.name == config.node {
            "this node"
        } else {
            "peer"
        };
        writeln!(
            out,
            "node {}  # {role}, wire id {:#06x}",
            n.name,
            crate::wire::node_id(&n.name)
        )?;
    }
    let cluster_note = if h.cluster.is_some() {
        ""
    } else {
        " default: the sorted node names;"
    };
    writeln!(
        out,
        "cluster {}  #{cluster_note} wire id {:#06x}",
        h.cluster_name(),
        h.cluster_id()
    )?;
    for (name, s) in [
        ("keepalive", &h.keepalive),
        ("deadtime", &h.deadtime),
        ("warntime", &h.warntime),
        ("initdead", &h.initdead),
        ("deadping", &h.deadping),
    ] {
        writeln!(out, "{name} {}{}", format_duration(s.value), mark(s))?;
    }
    writeln!(out, "udpport {}{}", h.udpport.value, mark(&h.udpport))?;
    writeln!(out, "baud {}{}", h.baud.value, mark(&h.baud))?;
    writeln!(
        out,
        "auto_failback {}{}",
        h.auto_failback.value.name(),
        mark(&h.auto_failback)
    )?;
    writeln!(
        out,
        "bind_address {}{}",
        h.bind_address.value,
        mark(&h.bind_address)
    )?;
    writeln!(
        out,
        "state_dir {}{}",
        h.state_dir.value.display(),
        mark(&h.state_dir)
    )?;
    writeln!(
        out,
        "run_dir {}{}",
        h.run_dir.value.display(),
        mark(&h.run_dir)
    )?;
    writeln!(
        out,
        "realtime {}{}",
        on_off(h.realtime.value),
        mark(&h.realtime)
    )?;
    writeln!(
        out,
        "realtime_priority {}{}",
        h.realtime_priority.value,
        mark(&h.realtime_priority)
    )?;
    let cpu_latency = match h.cpu_latency.value {
        CpuLatency::Auto => "auto".to_string(),
        CpuLatency::Off => "off".to_string(),
        CpuLatency::Bound(d) => format_duration(d),
    };
    writeln!(out, "cpu_latency {cpu_latency}{}", mark(&h.cpu_latency))?;
    match h
        .cpu_latency
        .value
        .requested(h.deadtime.value, h.realtime.value)
    {
        Some(d) => writeln!(
            out,
            "# cpu_latency: the daemon asks for CPU wake-ups within {} µs while it runs",
            d.as_micros()
        )?,
        None => writeln!(out, "# cpu_latency: the daemon makes no request")?,
    }
    writeln!(
        out,
        "builtin_ipaddr {}{}",
        on_off(h.builtin_ipaddr.value),
        mark(&h.builtin_ipaddr)
    )?;
    match &h.beat_core {
        Some(core) => writeln!(out, "beat_core {}", core.value)?,
        None => writeln!(out, "# beat_core: the last core{DEFAULT_MARK}")?,
    }
    match &h.beat_backup_core {
        Some(Setting {
            value: BackupCore::Core(c),
            ..
        }) => writeln!(out, "beat_backup_core {c}")?,
        Some(_) => writeln!(out, "beat_backup_core off")?,
        None => writeln!(
            out,
            "# beat_backup_core: the first core that is not beat_core's{DEFAULT_MARK}"
        )?,
    }
    match &h.watchdog {
        Some(w) => writeln!(out, "watchdog {}", w.value.display())?,
        None => writeln!(out, "# watchdog: none{DEFAULT_MARK}")?,
    }
    writeln!(
        out,
        "use_logd {}{}",
        on_off(h.use_logd.value),
        mark(&h.use_logd)
    )?;
    if let Some(f) = &h.logfile {
        writeln!(out, "logfile {}", f.value.display())?;
    }
    if let Some(f) = &h.debugfile {
        writeln!(out, "debugfile {}", f.value.display())?;
    }
    if let Some(f) = &h.logfacility {
        writeln!(out, "logfacility {}", f.value)?;
    }

    writeln!(out)?;
    writeln!(out, "# takeover process")?;
    h.takeover.render(out, DEFAULT_MARK)?;

    writeln!(out)?;
    writeln!(out, "# links (LinkId: medium)")?;
    for (id, link) in h.links.iter().enumerate() {
        let line = link.line;
        match &link.spec {
            LinkSpec::Ucast { dev, peer, port } => {
                let port_note = match port {
                    Some(p) => format!("peer port {p}"),
                    None => format!("peer port {} (udpport)", h.udpport.value),
                };
                let target = match (peer, port) {
                    (std::net::IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
                    (ip, Some(p)) => format!("{ip}:{p}"),
                    (ip, None) => ip.to_string(),
                };
                writeln!(
                    out,
                    "ucast {dev} {target}  # link {id}: {port_note}, ha.cf line {line}"
                )?;
            }
            LinkSpec::Bcast { dev } => {
                writeln!(
                    out,
                    "bcast {dev}  # link {id}: port {}, ha.cf line {line}",
                    h.udpport.value
                )?;
            }
            LinkSpec::Mcast {
                dev,
                group,
                port,
                ttl,
                loop_,
            } => {
                writeln!(
                    out,
                    "mcast {dev} {group} {port} {ttl} {}  # link {id}: ha.cf line {line}",
                    u8::from(*loop_)
                )?;
            }
            LinkSpec::Serial { device } => {
                writeln!(
                    out,
                    "serial {}  # link {id}: {} baud, ha.cf line {line}",
                    device.display(),
                    h.baud.value
                )?;
            }
        }
    }

    if !h.pings.is_empty() || !h.ping_groups.is_empty() {
        writeln!(out)?;
        writeln!(out, "# ping nodes")?;
        for p in &h.pings {
            writeln!(out, "ping {}", p.addr)?;
        }
        for g in &h.ping_groups {
            let members: Vec<String> = g.members.iter().map(ToString::to_string).collect();
            writeln!(out, "ping_group {} {}", g.name, members.join(" "))?;
        }
    }
    for r in &h.respawn {
        let mut line = format!("respawn {} {}", r.user, r.program.display());
        for a in &r.args {
            line.push(' ');
            line.push_str(a);
        }
        writeln!(out, "{line}")?;
    }

    writeln!(out)?;
    writeln!(out, "# authkeys (keys are never shown)")?;
    writeln!(
        out,
        "auth {}  # {} signs outgoing frames",
        config.auth.active_index(),
        config.auth.active().name()
    )?;
    for (index, method) in config.auth.defined() {
        writeln!(out, "{index} {}", method.name())?;
    }

    writeln!(out)?;
    writeln!(out, "# haresources")?;
    if config.groups.is_empty() {
        writeln!(out, "# no resource groups")?;
    }
    for (index, g) in config.groups.iter().enumerate() {
        let resources: Vec<String> = g.resources.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "{} {}  # group {index}, haresources line {}",
            g.home_node,
            resources.join(" "),
            g.line
        )?;
    }
    Ok(())
}
