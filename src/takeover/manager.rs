//! The takeover process's core loop state: the cluster state machine fed
//! with the daemon's events and the peer's messages, its decisions carried
//! out by the group executor (scripts and the built-in IPaddr), its
//! messages and our announced state sent back through the outbox.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::cluster::{Action as ClusterAction, Cluster, Owner, PeerEvent, RscStatus};
use crate::config::{Config, ResourceGroup};
use crate::detector::{Event, PeerStatus};
use crate::engine::outbox::{OutboxRecord, Outgoing};
use crate::resources::{
    GroupExecutor, GroupOp, GroupOutcome, GroupReport, ResourceState, SubmitError,
};
use crate::ring::Writer;
use crate::time::{NANOS_PER_SEC, Nanos};
use crate::wire::{HoldState, NodeStatus};

/// A group we do not run is probed (its resources' `status`) this often,
/// so a takeover need not ask before its first start script.
const PROBE_REFRESH: Nanos = 15 * NANOS_PER_SEC;
/// A probe older than this is not trusted: the start asks status first.
const PROBE_MAX_AGE: Nanos = 30 * NANOS_PER_SEC;

/// What the last status of a group's resources said, while nothing of ours
/// ran on it since.
#[derive(Debug, Clone)]
struct Probe {
    at: Nanos,
    stopped: Vec<bool>,
}

/// Everything the takeover process decides and does.
pub struct Manager {
    cluster: Cluster,
    executor: GroupExecutor,
    groups: Vec<ResourceGroup>,
    outbox: Writer<OutboxRecord>,
    /// Group actions refused because the group was busy; retried after the
    /// next report.
    deferred: VecDeque<(GroupOp, usize)>,
    announced: Option<(NodeStatus, HoldState)>,
    /// Per group: the last probe, `None` once we start or stop it.
    probes: Vec<Option<Probe>>,
}

impl Manager {
    pub fn new(
        cfg: &Config,
        cluster: Cluster,
        agent: Arc<dyn crate::resources::Agent>,
        policy: crate::resources::GroupPolicy,
        outbox: Writer<OutboxRecord>,
    ) -> Self {
        Self {
            cluster,
            executor: GroupExecutor::new(agent, policy),
            groups: cfg.groups.clone(),
            probes: vec![None; cfg.groups.len()],
            outbox,
            deferred: VecDeque::new(),
            announced: None,
        }
    }

    pub fn reports(&self) -> crossbeam::channel::Receiver<GroupReport> {
        self.executor.reports().clone()
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// A detector event from the daemon.
    pub fn on_event(&mut self, now: Nanos, ev: &Event) {
        let input = match *ev {
            Event::PeerAlive { generation, .. } => Some(PeerEvent::Alive { generation }),
            Event::PeerRestarted { new_generation, .. } => Some(PeerEvent::Alive {
                generation: new_generation,
            }),
            Event::PeerDead { .. } => Some(PeerEvent::Dead),
            Event::PeerStatusChanged {
                status: PeerStatus::Dead,
                ..
            } => Some(PeerEvent::Leaving),
            _ => None,
        };
        if let Some(input) = input {
            self.cluster.peer_event(now, input);
        }
        self.pump(now);
    }

    /// A resource-protocol message from the peer.
    pub fn on_message(&mut self, now: Nanos, payload: &[u8]) {
        if let Err(e) = self.cluster.receive(now, payload) {
            tracing::warn!("resource message from the peer ignored: {e}");
        }
        self.pump(now);
    }

    /// The peer's liveness as the daemon's full state says (after a gap).
    pub fn on_full_state(&mut self, now: Nanos, alive_generation: Option<u32>) {
        let input = match alive_generation {
            Some(generation) => PeerEvent::Alive { generation },
            None => PeerEvent::Dead,
        };
        self.cluster.peer_event(now, input);
        self.pump(now);
    }

    fn group_index(&self, key: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.key() == key)
    }

    /// A group action finished.
    pub fn on_report(&mut self, now: Nanos, report: GroupReport) {
        let Some(i) = self.group_index(&report.group) else {
            return;
        };
        let took = report.elapsed.as_micros();
        match (&report.op, &report.outcome) {
            (GroupOp::Start, GroupOutcome::Started { .. }) => {
                tracing::info!("group {} started in {took} µs", report.group);
                self.cluster.start_result(now, i, true);
            }
            (GroupOp::Start, outcome) => {
                tracing::error!("group {} failed to start: {outcome:?}", report.group);
                self.cluster.start_result(now, i, false);
                if outcome.leaves_node_unclean() {
                    self.cluster.stop_result(now, i, false);
                }
            }
            (GroupOp::Stop, GroupOutcome::Stopped) => {
                tracing::info!("group {} stopped in {took} µs", report.group);
                if let Some(p) = self.probes.get_mut(i) {
                    *p = Some(Probe {
                        at: now,
                        stopped: vec![true; self.groups[i].resources.len()],
                    });
                }
                self.cluster.stop_result(now, i, true);
            }
            (GroupOp::Stop, outcome) => {
                tracing::error!(
                    "group {} did not stop: {outcome:?}; this node is unclean and will not \
                     claim it again until an operator clears it",
                    report.group
                );
                self.cluster.stop_result(now, i, false);
            }
            (GroupOp::Status, GroupOutcome::Status(states)) => {
                if let Some(p) = self.probes.get_mut(i) {
                    *p = Some(Probe {
                        at: now,
                        stopped: states
                            .iter()
                            .map(|r| r.state == Ok(ResourceState::Stopped))
                            .collect(),
                    });
                }
            }
            (GroupOp::Status, _) => {}
        }
        let retry: Vec<_> = self.deferred.drain(..).collect();
        for (op, i) in retry {
            self.submit(now, op, i);
        }
        self.pump(now);
    }

    /// Planned shutdown: release our groups, tell the peer.
    pub fn shutdown(&mut self, now: Nanos) {
        self.cluster.shutdown(now);
        self.pump(now);
    }

    pub fn shutdown_complete(&self) -> bool {
        self.cluster.shutdown_complete()
    }

    /// Nothing held, nothing running or queued: safe to exit even though
    /// the peer could not be told (the daemon is gone).
    pub fn released(&self) -> bool {
        self.cluster.rscstatus() == RscStatus::None
            && self.deferred.is_empty()
            && self.groups.iter().all(|g| !self.executor.is_busy(&g.key()))
    }

    pub fn next_timeout(&self) -> Option<Nanos> {
        self.cluster.poll_timeout()
    }

    pub fn on_tick(&mut self, now: Nanos) {
        if self.cluster.poll_timeout().is_some_and(|t| t <= now) {
            self.cluster.handle_timeout(now);
        }
        self.pump(now);
        self.refresh_probes(now);
    }

    /// Probes the groups we do not run whose last probe is stale, one
    /// status action per group at a time, never a group that is busy.
    fn refresh_probes(&mut self, now: Nanos) {
        for i in 0..self.groups.len() {
            let stale = self.probes[i]
                .as_ref()
                .is_none_or(|p| now.saturating_sub(p.at) >= PROBE_REFRESH);
            let idle = matches!(self.cluster.owner(i), Owner::Peer | Owner::None)
                && !self.executor.is_busy(&self.groups[i].key())
                && !self.deferred.iter().any(|&(_, g)| g == i);
            if stale && idle {
                self.submit(now, GroupOp::Status, i);
            }
        }
    }

    fn submit(&mut self, now: Nanos, op: GroupOp, i: usize) {
        let Some(group) = self.groups.get(i).cloned() else {
            return;
        };
        let known_stopped = match op {
            GroupOp::Status => Vec::new(),
            // Anything we run on the group makes the last probe stale.
            GroupOp::Start | GroupOp::Stop => match self.probes.get_mut(i).and_then(Option::take) {
                Some(p) if op == GroupOp::Start && now.saturating_sub(p.at) < PROBE_MAX_AGE => {
                    p.stopped
                }
                _ => Vec::new(),
            },
        };
        match self.executor.submit_probed(op, group, known_stopped) {
            Ok(_) => {}
            Err(SubmitError::Busy(_)) => self.deferred.push_back((op, i)),
            Err(e) => tracing::error!("{e}"),
        }
    }

    /// Carries out every pending action and announces our state.
    fn pump(&mut self, now: Nanos) {
        while let Some(action) = self.cluster.poll_action() {
            match action {
                ClusterAction::StartGroup(i) => self.submit(now, GroupOp::Start, i),
                ClusterAction::StopGroup(i) => self.submit(now, GroupOp::Stop, i),
                ClusterAction::Send(msg) => {
                    let bytes = msg.to_bytes();
                    let rec = OutboxRecord::new(Outgoing::Message {
                        msg_type: msg.kind.code(),
                        payload: &bytes,
                    });
                    if !rec.is_some_and(|r| self.outbox.push(&r)) {
                        tracing::warn!("outbox full: message to the peer dropped (it is resent)");
                    }
                }
                ClusterAction::RunFence => {
                    tracing::error!(
                        "a stop failed: fencing requested but no fence command is configured"
                    );
                }
            }
        }
        for d in self.cluster.take_decisions() {
            tracing::info!(target: "twinbeat::cluster", "{}", d.what);
        }
        self.announce();
    }

    /// Our status and hold state, as every keepalive will carry them.
    fn announce(&mut self) {
        let status = if self.cluster.is_waiting() {
            NodeStatus::Init
        } else if self.cluster.rscstatus() == RscStatus::None {
            NodeStatus::Up
        } else {
            NodeStatus::Active
        };
        let rsc = self.cluster.rscstatus();
        let hold = HoldState {
            own: matches!(rsc, RscStatus::Local | RscStatus::All),
            peer: matches!(rsc, RscStatus::Foreign | RscStatus::All),
        };
        if self.announced == Some((status, hold)) {
            return;
        }
        if let Some(rec) = OutboxRecord::new(Outgoing::State { status, hold })
            && self.outbox.push(&rec)
        {
            self.announced = Some((status, hold));
        }
    }
}
