//! The environment resource scripts run with: Heartbeat's `HA_*` and
//! `OCF_ROOT` variables, on top of the daemon's own environment.
//!
//! What Heartbeat 3.0.6 exports to its children, and so what twinbeat sets
//! (heartbeat.c, config.c, include/heartbeat.h):
//!
//! | variable | value | why scripts need it |
//! | --- | --- | --- |
//! | `HA_DIR` | the config dir | `resource.d/*` and `shellfuncs` locate siblings |
//! | `HA_FUNCS` | `$HA_DIR/shellfuncs` | scripts source `$HA_FUNCS` |
//! | `HA_RESOURCEDIR` | `$HA_DIR/resource.d` | ResourceManager / hto-mapfuncs |
//! | `HA_RCDIR` | `$HA_DIR/rc.d` | ocf-directories default, made explicit |
//! | `HA_CURHOST` | this node's name | ResourceManager picks "our" groups by it |
//! | `HA_DATEFMT` | `%Y/%m/%d_%T\t` | `ha_log` timestamps |
//! | `HA_LOGFILE`, `HA_DEBUGLOG` | ha.cf `logfile`, `debugfile` | `ha_log` / `ha_debug` targets |
//! | `HA_LOGFACILITY` | ha.cf `logfacility` | `ha_log` goes to syslog through `logger` |
//! | `HA_LOGD` | `yes`/`no` from `use_logd` | `ha_log` uses `ha_logger` when yes |
//! | `OCF_ROOT` | `/usr/lib/ocf` | hto-mapfuncs and ocf-shellfuncs find the OCF agents |
//!
//! Not set on purpose: `HA_RSCTMP` (resource-agents' ocf-directories picks
//! the path its version expects, `/run/resource-agents` on Debian 12, and
//! Heartbeat never set it either), `HA_debug` (Heartbeat sets it only when
//! debugging is on). When neither a log file nor a facility is configured,
//! `ha_log` writes to stderr, which twinbeat logs line by line anyway.

use std::path::Path;

use crate::config::Config;

/// Heartbeat's `HA_DATEFMT` (include/heartbeat.h).
pub const HA_DATEFMT: &str = "%Y/%m/%d_%T\t";
/// Where the OCF resource agents live on Linux distributions.
pub const OCF_ROOT: &str = "/usr/lib/ocf";

/// Variables added to every script's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptEnv {
    vars: Vec<(String, String)>,
}

/// ha.cf's logging directives as the scripts see them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptLogging {
    pub logfile: Option<String>,
    pub debugfile: Option<String>,
    pub logfacility: Option<String>,
    pub use_logd: bool,
}

impl ScriptEnv {
    /// An empty set: scripts get only the inherited environment.
    pub fn empty() -> Self {
        ScriptEnv::default()
    }

    /// Heartbeat's variables for a node running from `config_dir`.
    pub fn heartbeat(config_dir: &Path, node: &str, logging: &ScriptLogging) -> Self {
        let dir = config_dir.display().to_string();
        let mut env = ScriptEnv::empty();
        env.set("HA_DIR", &dir);
        env.set("HA_FUNCS", &format!("{dir}/shellfuncs"));
        env.set("HA_RESOURCEDIR", &format!("{dir}/resource.d"));
        env.set("HA_RCDIR", &format!("{dir}/rc.d"));
        env.set("HA_CURHOST", node);
        env.set("HA_DATEFMT", HA_DATEFMT);
        env.set("OCF_ROOT", OCF_ROOT);
        env.set("HA_LOGD", if logging.use_logd { "yes" } else { "no" });
        if let Some(file) = &logging.logfile {
            env.set("HA_LOGFILE", file);
        }
        if let Some(file) = &logging.debugfile {
            env.set("HA_DEBUGLOG", file);
        }
        if let Some(facility) = &logging.logfacility {
            env.set("HA_LOGFACILITY", facility);
        }
        env
    }

    /// [`ScriptEnv::heartbeat`] with the node, dir and logging of `cfg`.
    pub fn from_config(cfg: &Config) -> Self {
        let show = |p: &Path| p.display().to_string();
        let logging = ScriptLogging {
            logfile: cfg.hacf.logfile.as_ref().map(|s| show(&s.value)),
            debugfile: cfg.hacf.debugfile.as_ref().map(|s| show(&s.value)),
            logfacility: cfg.hacf.logfacility.as_ref().map(|s| s.value.clone()),
            use_logd: cfg.hacf.use_logd.value,
        };
        ScriptEnv::heartbeat(&cfg.dir, &cfg.node, &logging)
    }

    /// Sets (or replaces) one variable.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.vars.push((name.to_string(), value.to_string())),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_variables_follow_the_config_dir_and_node() {
        let logging = ScriptLogging {
            logfile: Some("/var/log/ha-log".into()),
            debugfile: None,
            logfacility: Some("local0".into()),
            use_logd: false,
        };
        let env = ScriptEnv::heartbeat(Path::new("/srv/ha"), "node1", &logging);
        assert_eq!(env.get("HA_DIR"), Some("/srv/ha"));
        assert_eq!(env.get("HA_FUNCS"), Some("/srv/ha/shellfuncs"));
        assert_eq!(env.get("HA_RESOURCEDIR"), Some("/srv/ha/resource.d"));
        assert_eq!(env.get("HA_CURHOST"), Some("node1"));
        assert_eq!(env.get("HA_LOGFILE"), Some("/var/log/ha-log"));
        assert_eq!(env.get("HA_LOGFACILITY"), Some("local0"));
        assert_eq!(env.get("HA_LOGD"), Some("no"));
        assert_eq!(env.get("HA_DEBUGLOG"), None);
        assert_eq!(env.get("HA_RSCTMP"), None);
    }

    #[test]
    fn set_replaces_rather_than_duplicates() {
        let mut env = ScriptEnv::empty();
        env.set("HA_RSCTMP", "/a");
        env.set("HA_RSCTMP", "/b");
        assert_eq!(env.vars(), &[("HA_RSCTMP".to_string(), "/b".to_string())]);
    }
}
