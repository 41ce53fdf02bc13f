//! The built-in IPaddr / IPaddr2 as a resource agent: the virtual IP goes
//! on and off over netlink and is announced by gratuitous ARP, with no fork
//! of a script, so the first resource of a failover group takes
//! microseconds.

use std::sync::Mutex;
use std::time::Duration;

use crate::config::Resource;
use crate::ipaddr::{ArpConfig, IpAddrController, IpStatus};
use crate::resources::{Action, Agent, Failure, Outcome, ResourceState};

/// The agent behind `IPaddr::…`, `IPaddr2::…` and bare addresses.
pub struct BuiltinIp {
    /// One netlink socket, opened in the takeover process's namespace.
    controller: Mutex<Option<IpAddrController>>,
    arp: ArpConfig,
}

impl BuiltinIp {
    pub fn new(arp: ArpConfig) -> Self {
        Self {
            controller: Mutex::new(None),
            arp,
        }
    }
}

fn failed(action: Action, message: String) -> Outcome {
    Outcome::Failed(Failure::Spawn { action, message })
}

impl Agent for BuiltinIp {
    fn run(&self, resource: &Resource, action: Action, _timeout: Duration) -> Outcome {
        let Some(spec) = resource.ip.as_ref() else {
            return failed(action, format!("{resource}: not an IPaddr specification"));
        };
        let mut guard = self.controller.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            match IpAddrController::open() {
                Ok(c) => *guard = Some(c),
                Err(e) => return failed(action, format!("{resource}: netlink: {e}")),
            }
        }
        let Some(ctl) = guard.as_mut() else {
            return failed(action, format!("{resource}: netlink unavailable"));
        };
        match action {
            Action::Start => match ctl.start(spec, self.arp) {
                Ok(report) => {
                    tracing::info!(
                        target: "twinbeat::resources",
                        "{resource}: {} on {} in {} µs{}",
                        report.add.resolved.addr,
                        report.add.resolved.iface,
                        report.add.took().as_micros(),
                        if report.add.already_present { " (was already there)" } else { "" }
                    );
                    Outcome::Done
                }
                Err(e) => failed(action, format!("{resource}: {e}")),
            },
            Action::Stop => match ctl.remove(spec) {
                Ok(_) => Outcome::Done,
                Err(e) => failed(action, format!("{resource}: {e}")),
            },
            Action::Status => match ctl.status(spec) {
                Ok(IpStatus::Running) => Outcome::State(ResourceState::Running),
                Ok(IpStatus::Stopped) => Outcome::State(ResourceState::Stopped),
                Err(e) => failed(action, format!("{resource}: {e}")),
            },
        }
    }
}
