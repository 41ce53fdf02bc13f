//! The takeover process's core loop state: the cluster state machine fed
//! with the daemon's events and the peer's messages, its decisions carried
//! out by the group executor (scripts and the built-in IPaddr), its
//! messages and our announced state sent back through the outbox.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::cluster::{Action as ClusterAction, Cluster, PeerEvent, RscStatus};
use crate::config::{Config, ResourceGroup};
use crate::detector::{Event, PeerStatus};
use crate::engine::outbox::{OutboxRecord, Outgoing};
use crate::resources::{GroupExecutor, GroupOp, GroupOutcome, GroupReport, SubmitError};
use crate::ring::Writer;
use crate::time::Nanos;
use crate::wire::{HoldState, NodeStatus};

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

    /// How many ping nodes / groups we reach: the cluster tells the peer
    /// and gives groups up to it when it reaches more.
    pub fn on_reach(&mut self, now: Nanos, reached: u16) {
        self.cluster.set_ping_reach(now, reached);
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
            (GroupOp::Status, _) => {}
        }
        let retry: Vec<_> = self.deferred.drain(..).collect();
        for (op, i) in retry {
            self.submit(op, i);
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
    }

    fn submit(&mut self, op: GroupOp, i: usize) {
        let Some(group) = self.groups.get(i).cloned() else {
            return;
        };
        match self.executor.submit(op, group) {
            Ok(_) => {}
            Err(SubmitError::Busy(_)) => self.deferred.push_back((op, i)),
            Err(e) => tracing::error!("{e}"),
        }
    }

    /// Carries out every pending action and announces our state.
    fn pump(&mut self, now: Nanos) {
        let _ = now;
        while let Some(action) = self.cluster.poll_action() {
            match action {
                ClusterAction::StartGroup(i) => self.submit(GroupOp::Start, i),
                ClusterAction::StopGroup(i) => self.submit(GroupOp::Stop, i),
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
