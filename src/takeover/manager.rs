//! The takeover process's core loop state: the cluster state machine fed
//! with the daemon's events and the peer's messages, its decisions carried
//! out by the group executor (scripts and the built-in IPaddr), its
//! messages and our announced state sent back through the outbox; the
//! operator's requests; the fence command; the unclean record; and, for a
//! restarted takeover process, adopting what the groups' status found.

use std::collections::VecDeque;
use std::sync::Arc;

use std::path::PathBuf;
use std::time::Duration;

use crate::cluster::{
    Action as ClusterAction, Cluster, GroupMask, Kind, Owner, PeerEvent, RscStatus, Scope, Why,
};
use crate::config::knobs::FenceCommand;
use crate::control::{Request, Response};
use crate::resources::ScriptEnv;

use super::fence::{self, FenceRequest};
use super::operator::{AwaitingAck, OperatorCall};
use super::recovery::{self, Found};
use crate::config::{Config, ResourceGroup};
use crate::detector::{Event, PeerStatus};
use crate::engine::outbox::{OutboxRecord, Outgoing};
use crate::resources::{
    Action as ResourceAction, Agent, GroupExecutor, GroupOp, GroupOutcome, GroupReport, Outcome,
    ResourceState, SubmitError,
};
use crate::ring::Writer;
use crate::time::Nanos;
use crate::wire::{HoldState, NodeStatus};

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
    announced: Option<(NodeStatus, HoldState, bool)>,
    awaiting_ack: AwaitingAck,
    /// The group whose stop just failed (named to the fence command).
    stop_failed: Option<usize>,
    /// The unclean mark as last written to the run dir.
    unclean_recorded: bool,
    side: Side,
    /// The built-in IPaddr, to announce a kept group's addresses again
    /// after a split brain (see [`Manager::with_ip_reannounce`]).
    ip_reannounce: Option<Arc<dyn Agent>>,
    /// Per group: the last probe, `None` once we start or stop it.
    probes: Vec<Option<Probe>>,
    /// A group we do not run is probed (its resources' `status`) this
    /// often, so a takeover need not ask before its first start script;
    /// a probe twice this old is not trusted. Zero: never probe.
    probe_interval: Nanos,
}

/// What the manager needs beyond the cluster and the executor.
pub struct Side {
    pub node: String,
    pub peer: String,
    pub run_dir: PathBuf,
    pub fence: Option<(FenceCommand, Duration)>,
    /// The environment the fence command inherits (Heartbeat's HA_*).
    pub env: ScriptEnv,
}

/// Bound on one re-announcement (a netlink round trip and the first ARP).
const REANNOUNCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// With `realtime on`, the takeover process and its workers run SCHED_FIFO
/// just below the beat thread.
pub fn agent_priority(cfg: &Config) -> Option<i32> {
    cfg.hacf
        .realtime
        .value
        .then(|| (i32::from(cfg.hacf.realtime_priority.value) - 1).max(1))
}

impl Manager {
    pub fn new(
        cfg: &Config,
        cluster: Cluster,
        agent: Arc<dyn crate::resources::Agent>,
        policy: crate::resources::GroupPolicy,
        outbox: Writer<OutboxRecord>,
        side: Side,
    ) -> Self {
        Self {
            cluster,
            executor: GroupExecutor::new(agent, policy).with_realtime(agent_priority(cfg)),
            groups: cfg.groups.clone(),
            probes: vec![None; cfg.groups.len()],
            probe_interval: u64::try_from(cfg.hacf.takeover.probe_interval.value.as_nanos())
                .unwrap_or(u64::MAX),
            outbox,
            deferred: VecDeque::new(),
            announced: None,
            awaiting_ack: AwaitingAck::default(),
            stop_failed: None,
            unclean_recorded: false,
            side,
            ip_reannounce: None,
        }
    }

    /// A restarted takeover process: waits for its predecessor's actions
    /// still running (at most `leftover_limit`), asks every group's status
    /// (at most `status_limit` in all), adopts what runs and restores the
    /// unclean mark. Call before any other input.
    pub fn recover(
        &mut self,
        now_fn: impl Fn() -> Nanos,
        leftover_limit: Duration,
        status_limit: Duration,
    ) {
        recovery::wait_for_leftovers(&self.side.run_dir, leftover_limit);
        let reports = self.executor.reports().clone();
        let mut asked = 0;
        for i in 0..self.groups.len() {
            if let Some(g) = self.groups.get(i).cloned() {
                match self.executor.submit(GroupOp::Status, g) {
                    Ok(_) => asked += 1,
                    Err(e) => tracing::error!("status of a group not asked: {e}"),
                }
            }
        }
        let mut running = GroupMask::EMPTY;
        let mut partial = GroupMask::EMPTY;
        let deadline = std::time::Instant::now() + status_limit;
        for _ in 0..asked {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(report) = reports.recv_timeout(left) else {
                tracing::error!(
                    "group status checks did not all answer within {status_limit:?};                                  the groups not heard from count as stopped"
                );
                break;
            };
            let Some(i) = self.group_index(&report.group) else {
                continue;
            };
            let found = recovery::judge(&report.outcome);
            tracing::info!("recovery: group {} is {found:?} here", report.group);
            match found {
                Found::Running => running.insert(i),
                Found::Partial => partial.insert(i),
                Found::Stopped => {}
            }
        }
        let now = now_fn();
        self.cluster.adopt(now, running, partial);
        if let Some(group) = recovery::read_unclean(&self.side.run_dir) {
            tracing::error!(
                "this node is unclean: group {group} would not stop before this takeover process                  started; `twinbeat clear-unclean` once it is gone"
            );
            self.unclean_recorded = true;
            self.cluster.mark_unclean(now);
        }
        self.pump(now);
    }

    /// An operator's request from `agent.sock`.
    pub fn on_operator(&mut self, now: Nanos, call: OperatorCall) {
        let OperatorCall { request, reply } = call;
        let answer = |r: Response| {
            let _ = reply.send(r);
        };
        let peer = self.side.peer.clone();
        match request {
            Request::Standby { scope } => match self.cluster.standby(now, cluster_scope(scope)) {
                Ok(groups) => {
                    let what = format!(
                        "standby: {} offered to {peer}",
                        self.describe_groups(groups)
                    );
                    self.awaiting_ack.push(Kind::Offer, what, reply, now);
                }
                Err(refusal) => answer(Response::Error {
                    message: format!("standby refused: {refusal}"),
                }),
            },
            Request::Takeover { scope } => {
                let peer_alive = self.cluster.peer_alive();
                match self.cluster.takeover(now, cluster_scope(scope)) {
                    Ok(groups) if peer_alive => {
                        let what = format!(
                            "takeover: {} requested from {peer}",
                            self.describe_groups(groups)
                        );
                        self.awaiting_ack.push(Kind::Request, what, reply, now);
                    }
                    Ok(groups) => answer(Response::Done {
                        message: format!(
                            "takeover: {peer} is not up; taking {} where nobody holds them",
                            self.describe_groups(groups)
                        ),
                    }),
                    Err(refusal) => answer(Response::Error {
                        message: format!("takeover refused: {refusal}"),
                    }),
                }
            }
            Request::ClearUnclean => {
                let was = self.cluster.is_unclean();
                self.cluster.clear_unclean(now);
                answer(Response::Done {
                    message: if was {
                        "unclean mark cleared: this node may claim groups again".into()
                    } else {
                        "this node was not unclean; failed starts are forgotten and may be retried"
                            .into()
                    },
                });
            }
            Request::Status => answer(Response::Error {
                message: "the takeover process has no status of its own; ask the daemon".into(),
            }),
        }
        self.pump(now);
    }

    fn describe_groups(&self, groups: GroupMask) -> String {
        let names: Vec<String> = groups
            .iter()
            .filter_map(|i| self.groups.get(i).map(ResourceGroup::key))
            .collect();
        if names.is_empty() {
            "no group (none in that scope)".into()
        } else {
            format!("groups {}", names.join(", "))
        }
    }

    /// When a split brain resolves in our favour, the peer's gratuitous
    /// ARPs still point the segment at its MAC and its stop tells nobody:
    /// `agent` (the built-in IPaddr, whose start is idempotent and always
    /// announces) announces the kept group's addresses again.
    pub fn with_ip_reannounce(mut self, agent: Arc<dyn Agent>) -> Self {
        self.ip_reannounce = Some(agent);
        self
    }

    fn reannounce(&self, group: usize) {
        let (Some(agent), Some(g)) = (&self.ip_reannounce, self.groups.get(group)) else {
            return;
        };
        for r in g.resources.iter().filter(|r| r.ip.is_some()) {
            match agent.run(r, ResourceAction::Start, REANNOUNCE_TIMEOUT) {
                Outcome::Done => tracing::info!(
                    target: "twinbeat::cluster",
                    "group {group}: {r} announced again, the peer held it during the split brain"
                ),
                other => {
                    tracing::error!("group {group}: {r} could not be announced again: {other:?}")
                }
            }
        }
    }

    /// Group workers poll for their next job until `until` (monotonic ns):
    /// a verdict may be near (see [`super::alert`]).
    pub fn stay_awake_until(&self, until: Nanos) {
        self.executor.stay_awake_until(until);
    }

    /// Whether a peer-dead verdict would start a group here: only then is a
    /// near verdict worth polling for.
    pub fn verdict_would_start(&self) -> bool {
        self.cluster.verdict_would_start()
    }

    /// The verdict did not come: group workers go back to sleeping.
    pub fn stop_staying_awake(&self) {
        self.executor.sleep_now();
    }

    pub fn reports(&self) -> crossbeam::channel::Receiver<GroupReport> {
        self.executor.reports().clone()
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// A detector event from the daemon: acted on at once (group jobs
    /// submitted, messages queued); its decisions are logged and our state
    /// announced by the next [`Manager::report`] (or any later input), so
    /// the caller logs the event, and those, after the takeover is under
    /// way. True when it gave a group worker a job.
    pub fn on_event(&mut self, now: Nanos, ev: &Event) -> bool {
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
        self.act(now) > 0
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
                    self.stop_failed = Some(i);
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
                self.stop_failed = Some(i);
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
            let _ = self.submit(now, op, i);
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
        self.awaiting_ack.expire(now, &self.side.peer);
        self.refresh_probes(now);
    }

    /// Probes the groups we do not run whose last probe is stale, one
    /// status action per group at a time, never a group that is busy.
    fn refresh_probes(&mut self, now: Nanos) {
        if self.probe_interval == 0 {
            return;
        }
        for i in 0..self.groups.len() {
            let stale = self.probes[i]
                .as_ref()
                .is_none_or(|p| now.saturating_sub(p.at) >= self.probe_interval);
            let idle = matches!(self.cluster.owner(i), Owner::Peer | Owner::None)
                && !self.executor.is_busy(&self.groups[i].key())
                && !self.deferred.iter().any(|&(_, g)| g == i);
            if stale && idle {
                let _ = self.submit(now, GroupOp::Status, i);
            }
        }
    }

    /// True when a worker has the job now (not deferred, not refused).
    fn submit(&mut self, now: Nanos, op: GroupOp, i: usize) -> bool {
        let Some(group) = self.groups.get(i).cloned() else {
            return false;
        };
        let known_stopped = match op {
            GroupOp::Status => Vec::new(),
            // Anything we run on the group makes the last probe stale.
            GroupOp::Start | GroupOp::Stop => match self.probes.get_mut(i).and_then(Option::take) {
                Some(p)
                    if op == GroupOp::Start
                        && now.saturating_sub(p.at) < self.probe_interval.saturating_mul(2) =>
                {
                    p.stopped
                }
                _ => Vec::new(),
            },
        };
        match self.executor.submit_probed(op, group, known_stopped) {
            Ok(_) => true,
            Err(SubmitError::Busy(_)) => {
                self.deferred.push_back((op, i));
                false
            }
            Err(e) => {
                tracing::error!("{e}");
                false
            }
        }
    }

    /// Carries out every pending action, then logs the decisions and
    /// announces our state.
    fn pump(&mut self, now: Nanos) {
        let _ = self.act(now);
        self.report();
    }

    /// Carries out every pending action; how many group jobs it submitted.
    fn act(&mut self, now: Nanos) -> usize {
        let mut submitted = 0;
        while let Some(action) = self.cluster.poll_action() {
            match action {
                ClusterAction::StartGroup(i) => {
                    submitted += usize::from(self.submit(now, GroupOp::Start, i));
                }
                ClusterAction::StopGroup(i) => {
                    submitted += usize::from(self.submit(now, GroupOp::Stop, i));
                }
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
                ClusterAction::RunFence => self.fence(),
            }
        }
        submitted
    }

    /// Logs the decisions taken since the last report (and does what they
    /// ask of the manager) and announces our state.
    pub fn report(&mut self) {
        for d in self.cluster.take_decisions() {
            tracing::info!(target: "twinbeat::cluster", "{}", d.what);
            if let Why::SplitBrainResolved {
                group,
                we_keep: true,
            } = d.what
            {
                self.reannounce(group);
            }
            if let Why::PeerAcked { kind } = d.what {
                self.awaiting_ack.acked(kind);
            }
        }
        self.record_unclean();
        self.announce();
    }

    fn fence(&mut self) {
        let group = self
            .stop_failed
            .and_then(|i| self.groups.get(i))
            .map_or_else(|| "?".to_string(), ResourceGroup::key);
        match &self.side.fence {
            Some((cmd, timeout)) => fence::spawn(
                cmd,
                *timeout,
                &self.side.env,
                FenceRequest {
                    node: self.side.node.clone(),
                    peer: self.side.peer.clone(),
                    group,
                },
            ),
            None => tracing::error!(
                "group {group} would not stop: no fence_command in ha.cf, nothing is fenced"
            ),
        }
    }

    /// Keeps the run dir's unclean record in step with the cluster, so a
    /// restarted takeover process stays unclean too.
    fn record_unclean(&mut self) {
        let unclean = self.cluster.is_unclean();
        if unclean == self.unclean_recorded {
            return;
        }
        if unclean {
            let group = self
                .stop_failed
                .and_then(|i| self.groups.get(i))
                .map_or_else(|| "?".to_string(), ResourceGroup::key);
            recovery::record_unclean(&self.side.run_dir, &group);
        } else {
            recovery::clear_unclean(&self.side.run_dir);
        }
        self.unclean_recorded = unclean;
    }

    pub fn awaiting_ack(&self) -> bool {
        !self.awaiting_ack.is_empty()
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
        let verdict_acts = self.cluster.verdict_would_start();
        if self.announced == Some((status, hold, verdict_acts)) {
            return;
        }
        if let Some(rec) = OutboxRecord::new(Outgoing::State {
            status,
            hold,
            verdict_acts,
        }) && self.outbox.push(&rec)
        {
            self.announced = Some((status, hold, verdict_acts));
        }
    }
}

fn cluster_scope(scope: crate::control::Scope) -> Scope {
    match scope {
        crate::control::Scope::All => Scope::All,
        crate::control::Scope::Local => Scope::Local,
        crate::control::Scope::Foreign => Scope::Foreign,
    }
}
