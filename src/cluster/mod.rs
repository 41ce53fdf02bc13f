//! Who holds which resource group: the sans-IO state machine of a pair
//! (this node and one peer).
//!
//! The engine feeds it inputs with the current time — the peer's liveness
//! ([`PeerEvent`], mapped from the detector), the peer's resource-protocol
//! messages ([`Cluster::receive`]), the results of our own start/stop
//! actions, operator requests, ping reach, and ticks — and polls out
//! [`Action`]s (start/stop a group, send a message, run the fence command).
//! Every choice is also recorded as a [`Decision`] with its reason.
//!
//! # Startup protocol
//!
//! A node starts in *waiting* and claims nothing. When the detector reports
//! the peer alive, it sends an Announce (every message carries the sender's
//! [`NodeState`]: held groups, failed starts, declined groups, stable flag,
//! ping reach). On the first message from the peer it leaves waiting and
//! takes the groups it is *designated* for that the peer does not hold:
//! its home groups, normally. If initdead passes without the peer ever
//! being alive, it takes every group; if the peer was alive but sent no
//! usable state (different haresources), only its home groups. Because two
//! nodes starting together each take only their own home groups, they end
//! with each group on exactly one node.
//!
//! # Designation
//!
//! A node is a *candidate* for a group when it is eligible by ping reach
//! (it does not reach fewer ping nodes than its peer last reported), is not
//! unclean, did not fail to start the group and is not leaving. Of two
//! candidates, one that does not decline the group (standby) is designated,
//! else the group's home node; of one candidate, that one. With ping nodes
//! configured, a node whose own reach is not measured yet claims no group
//! while its peer is up, and no group is handed to a peer whose reach is
//! not measured yet: the prober measures within `deadping`, and acting
//! before would let a node that cannot reach the ping nodes claim a group
//! and give it back a moment later (or fail a group back into a gap). A
//! free group (held by neither)
//! is started only by its designated node. A held group is given up
//! (stopped, the new state announced, the peer then starts it) when the peer
//! is a candidate and we are not eligible by ping, or we decline it, or
//! auto_failback is `on`, the group's home is the peer and the peer is
//! stable. With `legacy`, the home node sends a Request for its groups at
//! comm-up instead; with `off`, groups stay. A dead peer (or one that never
//! appeared, or that left) makes us take every group, whatever the ping
//! reach and standby say; only `unclean` stops us — ours, or the peer's: a
//! group the peer held while it said it was unclean (a stop failed there)
//! may still run there after it died or left, so it is not taken
//! ([`Why::PeerUncleanHeld`]) until the peer, back, says it no longer holds
//! it, or an operator clears the unclean mark on this node.
//!
//! # Split-brain rule
//!
//! When every link is cut both nodes declare the other dead and both take
//! everything (recorded as [`Why::PeerDead`], loudly). When messages flow
//! again and both nodes hold the same group (starting or running), the
//! group stays on its **home node**; if haresources names neither node of
//! the pair as home, the node whose name sorts lower keeps it. The other
//! node stops it ([`Why::SplitBrainResolved`]). The rule depends only on
//! configuration, so both nodes reach the same verdict; the same rule
//! resolves the brief double claim that stale state can cause outside a
//! partition. A node that finds a conflict announces its state once: when
//! only one side declared the other dead (the other hung, or was cut one
//! way), only that side forgot the peer's holdings, and the keeper's state
//! did not change, so without that announce it would never learn them.
//!
//! # Messages
//!
//! [`message`] defines the layout. Our messages are delivered in order, one
//! in flight, resent every `retransmit` until acked ([`outbox`]); the peer
//! processes each id once. Messages from another haresources (hash
//! mismatch) are acknowledged but never acted on, and reported once.
//!
//! # A restarted takeover process
//!
//! The takeover process can die and be restarted by its daemon while the
//! daemon (and so the incarnation the peer knows) lives on. The new process
//! builds a [`Cluster`] with [`Cluster::with_agent_epoch`] (a later epoch
//! in its message ids, so the peer does not drop its messages as
//! duplicates) and reports what the resources' `status` found with
//! [`Cluster::adopt`] before anything else. The peer, seeing a later epoch
//! from the same incarnation, re-announces its state
//! ([`Why::PeerAgentRestarted`]), which ends the new process's startup
//! wait. A group found *partly* running (some resources run, some do not)
//! is adopted as starting and started again: a group start skips resources
//! whose status says they run, so the rest is started and nothing twice.
//! Stopping it instead would move a service that was meant to run here.

pub mod config;
pub mod mask;
pub mod message;
mod outbox;
pub mod output;

use std::collections::VecDeque;

pub use config::{ClusterConfig, ClusterConfigError, GroupSpec, Home, haresources_hash};
pub use mask::{GroupMask, MAX_GROUPS};
pub use message::{DecodeError, Kind, Message, NodeState};
pub use output::{Action, Decision, Owner, Refusal, RscStatus, Scope, Why};

use crate::config::AutoFailback;
use crate::time::Nanos;
use outbox::{Outbox, Stamp};

/// The peer's liveness, as the engine maps it from the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerEvent {
    /// Heard (first time, again after dead, or with a new generation).
    Alive {
        generation: u32,
    },
    Dead,
    /// Its keepalives say it is shutting down.
    Leaving,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting { until: Nanos },
    Running,
    Leaving,
    Left,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Unknown,
    Alive,
    Dead,
    /// Never heard by initdead.
    Absent,
    /// Told us it left.
    Left,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Local {
    Stopped,
    /// `then_stop`: stop as soon as the start completes (lost a conflict,
    /// or shutting down).
    Starting {
        then_stop: bool,
    },
    Running,
    Stopping,
    /// The stop failed and the resource still runs.
    StopFailed,
}

#[derive(Debug, Clone)]
struct PeerTrack {
    life: Life,
    generation: Option<u32>,
    /// Its keepalives announce Leaving.
    leaving_status: bool,
    incarnation: Option<u32>,
    /// The epoch of its takeover process's ids (see [`outbox`]).
    session: Option<u8>,
    last_id: u32,
    /// Its last state; `None` until a message arrives, and again after it
    /// was declared dead (what it held then is unknown).
    state: Option<NodeState>,
    mismatch_reported: bool,
}

/// The state machine. See the module documentation for the rules. `Clone`
/// lets a caller ask "what if" of a copy without touching the original.
#[derive(Debug, Clone)]
pub struct Cluster {
    cfg: ClusterConfig,
    hash: u64,
    incarnation: u32,
    phase: Phase,
    local: Vec<Local>,
    failed: GroupMask,
    declined: GroupMask,
    unclean: bool,
    ping_reach: Option<u16>,
    peer: PeerTrack,
    conflicts: GroupMask,
    /// Groups the peer held while it said it was unclean: a stop failed
    /// there, so they may still run there whatever becomes of the peer
    /// (dead, left). Never taken over until the peer says otherwise or an
    /// operator clears it here.
    peer_unclean_held: GroupMask,
    /// Of those, the ones already logged as not taken.
    unclean_held_reported: GroupMask,
    outbox: Outbox,
    last_state: NodeState,
    actions: VecDeque<Action>,
    decisions: Vec<Decision>,
}

impl Cluster {
    /// `incarnation` is this run's generation number (non-zero, different
    /// at every start): the one the peer's detector reports for us in
    /// [`PeerEvent::Alive`]. `now` starts the initdead wait.
    pub fn new(
        cfg: ClusterConfig,
        incarnation: u32,
        now: Nanos,
    ) -> Result<Cluster, ClusterConfigError> {
        cfg.validate()?;
        let n = cfg.groups.len();
        let until = now.saturating_add(cfg.initdead);
        let mut outbox = Outbox::new();
        outbox.announce();
        Ok(Cluster {
            hash: haresources_hash(&cfg.groups),
            cfg,
            incarnation,
            phase: Phase::Waiting { until },
            local: vec![Local::Stopped; n],
            failed: GroupMask::EMPTY,
            declined: GroupMask::EMPTY,
            unclean: false,
            ping_reach: None,
            peer: PeerTrack {
                life: Life::Unknown,
                generation: None,
                leaving_status: false,
                incarnation: None,
                session: None,
                last_id: 0,
                state: None,
                mismatch_reported: false,
            },
            conflicts: GroupMask::EMPTY,
            peer_unclean_held: GroupMask::EMPTY,
            unclean_held_reported: GroupMask::EMPTY,
            outbox,
            last_state: NodeState::default(),
            actions: VecDeque::with_capacity(2 * n + 8),
            decisions: Vec::with_capacity(64),
        })
    }

    /// Marks this run's messages with the takeover process's `epoch` (its
    /// start count within one daemon run, as the supervisor hands it over):
    /// a restarted process must use a later epoch than the one before, or
    /// the peer drops its messages as duplicates. Call before any input.
    pub fn with_agent_epoch(mut self, epoch: u8) -> Cluster {
        self.outbox.set_epoch(epoch);
        self
    }

    // ----- inputs -------------------------------------------------------

    /// A restarted takeover process found, by each group's `status`, the
    /// groups of `running` fully running here and those of `partial` partly
    /// running. Call once, before any other input: `running` groups are
    /// held as running (nothing is started again); `partial` ones are held
    /// as starting and a [`Action::StartGroup`] asks to complete them (the
    /// group start skips what runs). Groups not stopped here are ignored.
    pub fn adopt(&mut self, now: Nanos, running: GroupMask, partial: GroupMask) {
        let all = self.cfg.all();
        for i in running.and(all).iter() {
            if self.local.get(i) == Some(&Local::Stopped) {
                self.set(i, Local::Running);
                self.log(now, Why::Adopted { group: i });
            }
        }
        for i in partial.without(running).and(all).iter() {
            if self.local.get(i) == Some(&Local::Stopped) {
                self.set(i, Local::Starting { then_stop: false });
                self.actions.push_back(Action::StartGroup(i));
                self.log(now, Why::AdoptedPartial { group: i });
            }
        }
        self.reconcile(now);
    }

    /// Marks the node unclean without a stop having failed in this run: a
    /// restarted takeover process learns it from its predecessor's record.
    pub fn mark_unclean(&mut self, now: Nanos) {
        if !self.unclean {
            self.unclean = true;
            self.log(now, Why::UncleanRestored);
            self.reconcile(now);
        }
    }

    pub fn peer_event(&mut self, now: Nanos, event: PeerEvent) {
        match event {
            PeerEvent::Alive { generation } => {
                let restarted = self.peer.generation.is_some_and(|g| g != generation);
                if restarted {
                    self.forget_peer_session();
                }
                let new_contact = restarted || self.peer.life != Life::Alive;
                if new_contact && (restarted || self.peer.life != Life::Left) {
                    self.peer.life = Life::Alive;
                    self.outbox.drop_all();
                    self.log(
                        now,
                        Why::PeerAlive {
                            generation,
                            restarted,
                        },
                    );
                }
                self.peer.generation = Some(generation);
            }
            PeerEvent::Dead => {
                if self.peer.life != Life::Dead {
                    if self.peer.life != Life::Left {
                        self.log(now, Why::PeerDead);
                    }
                    self.peer.life = Life::Dead;
                    self.peer.state = None;
                    self.peer.leaving_status = false;
                    self.declined = GroupMask::EMPTY;
                    self.outbox.drop_all();
                }
                if matches!(self.phase, Phase::Waiting { .. }) {
                    self.phase = Phase::Running;
                }
            }
            PeerEvent::Leaving => self.peer.leaving_status = true,
        }
        self.reconcile(now);
    }

    /// A resource-protocol payload from the peer (already authenticated).
    pub fn receive(&mut self, now: Nanos, bytes: &[u8]) -> Result<(), DecodeError> {
        let msg = match Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.log(now, Why::BadMessage(e));
                return Err(e);
            }
        };
        self.handle(now, msg);
        Ok(())
    }

    /// As [`Cluster::receive`], for a message already decoded.
    pub fn handle(&mut self, now: Nanos, msg: Message) {
        if msg.to_incarnation != 0 && msg.to_incarnation != self.incarnation {
            return; // meant for an earlier run of this node
        }
        if msg.haresources_hash != self.hash {
            if !self.peer.mismatch_reported {
                self.peer.mismatch_reported = true;
                let why = Why::HaresourcesMismatch {
                    ours: self.hash,
                    peers: msg.haresources_hash,
                };
                self.log(now, why);
            }
            if msg.kind != Kind::Ack {
                self.send_ack(&msg);
            }
            return;
        }
        if msg.kind == Kind::Ack {
            if let Some(acked) = self.outbox.ack(msg.ack) {
                if matches!(acked.kind, Kind::Request | Kind::Offer) {
                    self.log(now, Why::PeerAcked { kind: acked.kind });
                }
            }
            self.reconcile(now);
            return;
        }
        if self.peer.life == Life::Dead {
            return; // late; the detector will say when it is back
        }
        if self.peer.generation.is_some_and(|g| g != msg.incarnation) {
            // From an earlier run of the peer still in flight, or from a new
            // run the detector has not reported yet (it will be resent).
            return;
        }
        if self.peer.incarnation != Some(msg.incarnation) {
            if self.peer.incarnation.is_some() {
                self.forget_peer_session();
            }
            self.peer.incarnation = Some(msg.incarnation);
        }
        if matches!(self.peer.life, Life::Unknown | Life::Absent) {
            self.peer.life = Life::Alive; // a message proves it
        }
        self.send_ack(&msg);
        let epoch = outbox::epoch_of(msg.id);
        match self.peer.session {
            Some(s) if s == epoch && msg.id <= self.peer.last_id => {
                return; // duplicate: acked again, not applied again
            }
            Some(s) if s == epoch => {}
            Some(s) if outbox::epoch_later(epoch, s) => {
                // Its takeover process restarted and knows nothing of what
                // we told the one before: tell it our state.
                self.outbox.announce();
                self.log(now, Why::PeerAgentRestarted { epoch });
            }
            Some(_) => return, // from its previous takeover process, late
            None => {}
        }
        self.peer.session = Some(epoch);
        self.peer.last_id = msg.id;
        let first_state = self.peer.state.is_none();
        let all = self.cfg.all();
        let mut state = msg.state;
        for m in [&mut state.held, &mut state.failed, &mut state.declined] {
            *m = m.and(all);
        }
        self.peer.state = Some(state);
        self.peer_unclean_held = if state.unclean {
            state.held
        } else {
            GroupMask::EMPTY
        };
        self.unclean_held_reported = self.unclean_held_reported.and(self.peer_unclean_held);
        let groups = msg.groups.and(all);
        match msg.kind {
            Kind::Request => {
                self.declined = self.declined.or(groups);
                self.log(now, Why::PeerRequested { groups: groups.0 });
            }
            Kind::Offer => {
                self.declined = self.declined.without(groups);
                self.log(now, Why::PeerOffered { groups: groups.0 });
            }
            Kind::Leaving => {
                self.peer.life = Life::Left;
                self.log(now, Why::PeerLeaving);
            }
            Kind::Announce | Kind::Ack => {}
        }
        if first_state {
            self.log(now, Why::PeerStateKnown);
            if matches!(self.phase, Phase::Waiting { .. }) {
                self.phase = Phase::Running;
            }
            if self.cfg.auto_failback == AutoFailback::Legacy && self.peer.life == Life::Alive {
                let ask = self.cfg.home_mine().and(state.held);
                if !ask.is_empty() {
                    self.declined = self.declined.without(ask);
                    self.outbox.push(Kind::Request, ask);
                    self.log(now, Why::Takeover { groups: ask.0 });
                }
            }
        }
        self.reconcile(now);
    }

    /// The result of a [`Action::StartGroup`]. On failure the runner has
    /// already stopped what it started.
    pub fn start_result(&mut self, now: Nanos, group: usize, ok: bool) {
        match self.local.get(group).copied() {
            Some(Local::Starting { then_stop }) => {
                if ok {
                    self.log(now, Why::Started { group });
                    self.set(group, Local::Running);
                    // While leaving, shutdown_step stops groups in reverse order.
                    if then_stop && self.phase != Phase::Leaving {
                        self.begin_stop(group);
                    }
                } else {
                    self.set(group, Local::Stopped);
                    self.failed.insert(group);
                    let peer_can_take = self.peer_is_up() && self.peer_candidate(group);
                    self.log(
                        now,
                        Why::StartFailed {
                            group,
                            peer_can_take,
                        },
                    );
                }
            }
            _ => self.log(now, Why::UnexpectedResult { group }),
        }
        self.reconcile(now);
    }

    /// The result of a [`Action::StopGroup`]; `ok == false` means the
    /// resource still runs after the runner's retries.
    pub fn stop_result(&mut self, now: Nanos, group: usize, ok: bool) {
        match self.local.get(group).copied() {
            Some(Local::Stopping) => {
                if ok {
                    self.set(group, Local::Stopped);
                    self.log(now, Why::Stopped { group });
                } else {
                    self.set(group, Local::StopFailed);
                    self.unclean = true;
                    self.log(now, Why::StopFailed { group });
                    if self.cfg.fence_on_stop_failure {
                        self.actions.push_back(Action::RunFence);
                    }
                }
            }
            _ => self.log(now, Why::UnexpectedResult { group }),
        }
        self.reconcile(now);
    }

    /// How many ping nodes / ping groups this node reaches now.
    pub fn set_ping_reach(&mut self, now: Nanos, reached: u16) {
        self.ping_reach = Some(reached);
        self.reconcile(now);
    }

    /// hb_standby: give the groups of `scope` to the peer.
    pub fn standby(&mut self, now: Nanos, scope: Scope) -> Result<GroupMask, Refusal> {
        if self.cfg.auto_failback == AutoFailback::Legacy {
            return Err(Refusal::LegacyStandby);
        }
        if self.phase != Phase::Running {
            return Err(Refusal::NotRunning);
        }
        if !self.peer_is_up() {
            return Err(Refusal::PeerNotUp);
        }
        let groups = self.scope_mask(scope);
        self.declined = self.declined.or(groups);
        self.outbox.push(Kind::Offer, groups);
        self.log(now, Why::Standby { groups: groups.0 });
        self.reconcile(now);
        Ok(groups)
    }

    /// hb_takeover: ask the peer for the groups of `scope` (and take those
    /// nobody holds).
    pub fn takeover(&mut self, now: Nanos, scope: Scope) -> Result<GroupMask, Refusal> {
        if self.phase != Phase::Running {
            return Err(Refusal::NotRunning);
        }
        let groups = self.scope_mask(scope);
        self.declined = self.declined.without(groups);
        if self.peer.life == Life::Alive {
            self.outbox.push(Kind::Request, groups);
        }
        self.log(now, Why::Takeover { groups: groups.0 });
        self.reconcile(now);
        Ok(groups)
    }

    /// The operator says the resources that failed to stop are gone and the
    /// failed starts may be retried.
    pub fn clear_unclean(&mut self, now: Nanos) {
        for i in 0..self.local.len() {
            if self.local.get(i) == Some(&Local::StopFailed) {
                self.set(i, Local::Stopped);
            }
        }
        self.unclean = false;
        self.failed = GroupMask::EMPTY;
        // The operator vouches for the peer's stuck groups too.
        self.peer_unclean_held = GroupMask::EMPTY;
        self.unclean_held_reported = GroupMask::EMPTY;
        self.log(now, Why::UncleanCleared);
        self.reconcile(now);
    }

    /// Planned shutdown: stop our groups in reverse order, then tell the
    /// peer (Leaving). Poll until [`Cluster::shutdown_complete`].
    pub fn shutdown(&mut self, now: Nanos) {
        if matches!(self.phase, Phase::Leaving | Phase::Left) {
            return;
        }
        self.phase = Phase::Leaving;
        self.log(now, Why::ShutdownStarted);
        self.reconcile(now);
    }

    /// Timers: the end of initdead and retransmissions.
    pub fn handle_timeout(&mut self, now: Nanos) {
        if let Phase::Waiting { until } = self.phase {
            if now >= until {
                let peer_heard = self.peer.life == Life::Alive;
                if self.peer.life == Life::Unknown {
                    self.peer.life = Life::Absent;
                }
                self.phase = Phase::Running;
                self.log(now, Why::InitDeadPassed { peer_heard });
            }
        }
        self.reconcile(now);
    }

    // ----- outputs ------------------------------------------------------

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Cluster::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        let wait = match self.phase {
            Phase::Waiting { until } => Some(until),
            _ => None,
        };
        let resend = if self.peer.life == Life::Alive {
            self.outbox.deadline()
        } else {
            None
        };
        match (wait, resend) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The decisions taken since the last call, oldest first.
    pub fn take_decisions(&mut self) -> Vec<Decision> {
        std::mem::take(&mut self.decisions)
    }

    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    pub fn owner(&self, group: usize) -> Owner {
        match self.local.get(group) {
            Some(Local::Starting { .. } | Local::Stopping) => Owner::Transition,
            Some(Local::Running | Local::StopFailed) => Owner::Us,
            Some(Local::Stopped) if self.peer_holds(group) => Owner::Peer,
            _ => Owner::None,
        }
    }

    pub fn rscstatus(&self) -> RscStatus {
        if self
            .local
            .iter()
            .any(|l| matches!(l, Local::Starting { .. } | Local::Stopping))
        {
            return RscStatus::Transition;
        }
        let held = self.held();
        let all = self.cfg.all();
        let local = !held.and(self.cfg.home_mine()).is_empty();
        let foreign = !held.without(self.cfg.home_mine()).is_empty();
        match (local, foreign) {
            _ if !held.is_empty() && held == all => RscStatus::All,
            (true, true) => RscStatus::All,
            (true, false) => RscStatus::Local,
            (false, true) => RscStatus::Foreign,
            (false, false) => RscStatus::None,
        }
    }

    /// Whether declaring the peer dead now would start a group here: the
    /// rules of `take` for a dead peer. When it would not (we hold every
    /// group, or are unclean, or leaving), a near verdict is not worth
    /// waiting for in earnest: the engine polls for it only when it would.
    pub fn verdict_would_start(&self) -> bool {
        !self.unclean
            && matches!(self.phase, Phase::Running | Phase::Waiting { .. })
            && (0..self.local.len())
                .any(|i| self.startable(i) && !self.peer_unclean_held.contains(i))
    }

    pub fn is_unclean(&self) -> bool {
        self.unclean
    }

    /// The detector says the peer is alive (and it has not left): an
    /// operator's request to it will be sent and acknowledged.
    pub fn peer_alive(&self) -> bool {
        self.peer.life == Life::Alive
    }

    /// What we tell the peer about ourselves.
    pub fn state(&self) -> NodeState {
        NodeState {
            held: self.held(),
            failed: self.failed,
            declined: self.declined,
            stable: self.phase == Phase::Running
                && !self
                    .local
                    .iter()
                    .any(|l| matches!(l, Local::Starting { .. } | Local::Stopping)),
            unclean: self.unclean,
            leaving: matches!(self.phase, Phase::Leaving | Phase::Left),
            ping_reach: self.ping_reach,
        }
    }

    /// The peer's last reported state, while it is up.
    pub fn peer_state(&self) -> Option<NodeState> {
        self.peer.state
    }

    /// Still waiting for the peer at startup.
    pub fn is_waiting(&self) -> bool {
        matches!(self.phase, Phase::Waiting { .. })
    }

    /// Shutdown finished: nothing left to stop, the peer told (or gone).
    pub fn shutdown_complete(&self) -> bool {
        self.phase == Phase::Left && (self.outbox.is_idle() || self.peer.life != Life::Alive)
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.cfg
    }

    // ----- rules --------------------------------------------------------

    fn reconcile(&mut self, now: Nanos) {
        if matches!(self.phase, Phase::Running | Phase::Leaving) {
            self.resolve_conflicts(now);
        }
        match self.phase {
            Phase::Leaving => self.shutdown_step(now),
            Phase::Running => {
                self.release(now);
                self.take(now);
            }
            Phase::Waiting { .. } | Phase::Left => {}
        }
        let state = self.state();
        if state != self.last_state {
            self.last_state = state;
            self.outbox.announce();
        }
        self.pump(now);
    }

    fn resolve_conflicts(&mut self, now: Nanos) {
        let peer_held = match (self.peer.life, self.peer.state) {
            (Life::Alive | Life::Left, Some(s)) => s.held,
            _ => GroupMask::EMPTY,
        };
        let mut claimed = GroupMask::EMPTY;
        for (i, l) in self.local.iter().enumerate() {
            if matches!(l, Local::Starting { then_stop: false } | Local::Running) {
                claimed.insert(i);
            }
        }
        let both = claimed.and(peer_held);
        self.conflicts = self.conflicts.and(both);
        for i in both.iter() {
            let we_keep = self.keeps_on_conflict(i);
            if !self.conflicts.contains(i) {
                self.conflicts.insert(i);
                self.log(now, Why::SplitBrainResolved { group: i, we_keep });
                // The peer may have forgotten what we hold (it declared us
                // dead while we never saw it go: a hung daemon, a one-way
                // cut). Keeping the group changes nothing in our state, so
                // nothing else would tell it: announce, so it applies the
                // same rule and stops its copy.
                self.outbox.announce();
            }
            if !we_keep {
                self.begin_stop(i);
            }
        }
    }

    /// The documented split-brain rule.
    fn keeps_on_conflict(&self, group: usize) -> bool {
        match self.cfg.home(group) {
            Home::Me => true,
            Home::Peer => false,
            Home::Other => self.cfg.me < self.cfg.peer,
        }
    }

    fn shutdown_step(&mut self, now: Nanos) {
        let mut busy = false;
        for i in 0..self.local.len() {
            match self.local.get(i).copied() {
                Some(Local::Starting { .. }) => {
                    self.set(i, Local::Starting { then_stop: true });
                    busy = true;
                }
                Some(Local::Stopping) => busy = true,
                _ => {}
            }
        }
        if busy {
            return;
        }
        if let Some(last) = self.local.iter().rposition(|l| *l == Local::Running) {
            self.begin_stop(last);
            return;
        }
        self.phase = Phase::Left;
        if self.peer.life == Life::Alive {
            self.outbox
                .push(Kind::Leaving, self.cfg.all().without(self.held()));
        }
        self.log(now, Why::ShutdownReleased);
    }

    fn release(&mut self, now: Nanos) {
        if !self.peer_is_up() {
            return;
        }
        for i in 0..self.local.len() {
            if self.local.get(i) != Some(&Local::Running)
                || !self.peer_able(i)
                || self.peer_unmeasured()
            {
                continue;
            }
            // Ping reach outranks standby: the better-connected peer takes
            // the group even if it declined it.
            let why = if let Some((ours, peers)) = self.ping_worse() {
                Why::ReleasePingWorse {
                    group: i,
                    ours,
                    peers,
                }
            } else if !self.peer_candidate(i) {
                continue;
            } else if self.declined.contains(i) {
                Why::ReleaseStandby { group: i }
            } else if self.cfg.auto_failback == AutoFailback::On
                && self.cfg.home(i) == Home::Peer
                && self.peer.state.is_some_and(|s| s.stable)
            {
                Why::ReleaseFailback { group: i }
            } else {
                continue;
            };
            self.log(now, why);
            self.begin_stop(i);
        }
    }

    /// Stopped here and not failed: a group `take` may start.
    fn startable(&self, group: usize) -> bool {
        self.local.get(group) == Some(&Local::Stopped) && !self.failed.contains(group)
    }

    fn take(&mut self, now: Nanos) {
        if self.unclean {
            return;
        }
        for i in 0..self.local.len() {
            if !self.startable(i) {
                continue;
            }
            if self.peer_unclean_held.contains(i) {
                if !self.unclean_held_reported.contains(i) {
                    self.unclean_held_reported.insert(i);
                    self.log(now, Why::PeerUncleanHeld { group: i });
                }
                continue;
            }
            let why = match self.peer.life {
                Life::Dead => Why::TakePeerDead { group: i },
                Life::Absent => Why::TakePeerAbsent { group: i },
                Life::Left if !self.peer_holds(i) => Why::TakePeerLeft { group: i },
                Life::Left => continue,
                Life::Alive | Life::Unknown => match self.peer.state {
                    None if self.cfg.home(i) == Home::Me && !self.declined.contains(i) => {
                        Why::TakeHome { group: i }
                    }
                    None => continue,
                    Some(s) if s.held.contains(i) => continue,
                    Some(_) if self.designated_here(i) => {
                        if self.cfg.home(i) == Home::Me {
                            Why::TakeHome { group: i }
                        } else {
                            Why::TakeFree { group: i }
                        }
                    }
                    Some(_) => continue,
                },
            };
            self.log(now, why);
            self.set(i, Local::Starting { then_stop: false });
            self.actions.push_back(Action::StartGroup(i));
        }
    }

    /// Of two nodes that can run the group, one that does not decline it
    /// is preferred; then the split-brain rule (home node) decides.
    fn designated_here(&self, group: usize) -> bool {
        if !self.my_able(group) {
            return false;
        }
        if !self.peer_able(group) {
            return true;
        }
        let ours = self.declined.contains(group);
        let theirs = self.peer.state.is_some_and(|s| s.declined.contains(group));
        match (ours, theirs) {
            (false, true) => true,
            (true, false) => false,
            _ => self.keeps_on_conflict(group),
        }
    }

    fn my_able(&self, group: usize) -> bool {
        self.phase == Phase::Running
            && !self.ping_below_peer()
            && !self.unclean
            && !self.failed.contains(group)
    }

    /// The peer can run the group and does not decline it.
    fn peer_candidate(&self, group: usize) -> bool {
        self.peer_able(group) && self.peer.state.is_some_and(|s| !s.declined.contains(group))
    }

    fn peer_able(&self, group: usize) -> bool {
        let Some(s) = self.peer.state else {
            return false;
        };
        let peer_worse = match (self.cfg.pings_configured, s.ping_reach, self.ping_reach) {
            (true, Some(theirs), Some(ours)) => theirs < ours,
            _ => false,
        };
        self.peer.life == Life::Alive
            && !self.peer.leaving_status
            && !s.leaving
            && !s.unclean
            && !peer_worse
            && !s.failed.contains(group)
    }

    /// `(ours, peer's)` when the peer reaches more ping nodes than we do.
    fn ping_worse(&self) -> Option<(u16, u16)> {
        let theirs = self.peer.state.and_then(|s| s.ping_reach);
        match (self.cfg.pings_configured, self.ping_reach, theirs) {
            (true, Some(ours), Some(theirs)) if ours < theirs && self.peer.life == Life::Alive => {
                Some((ours, theirs))
            }
            _ => None,
        }
    }

    /// We must not claim a group from a live peer: it reaches more ping
    /// nodes, or we have not measured our reach yet.
    fn ping_below_peer(&self) -> bool {
        self.ping_worse().is_some() || (self.cfg.pings_configured && self.ping_reach.is_none())
    }

    /// The peer's reach is not measured yet: nothing is handed to it.
    fn peer_unmeasured(&self) -> bool {
        self.cfg.pings_configured && self.peer.state.is_some_and(|s| s.ping_reach.is_none())
    }

    // ----- helpers ------------------------------------------------------

    fn peer_is_up(&self) -> bool {
        self.peer.life == Life::Alive && self.peer.state.is_some()
    }

    fn peer_holds(&self, group: usize) -> bool {
        matches!(self.peer.life, Life::Alive | Life::Left)
            && self.peer.state.is_some_and(|s| s.held.contains(group))
    }

    fn held(&self) -> GroupMask {
        let mut m = GroupMask::EMPTY;
        for (i, l) in self.local.iter().enumerate() {
            if *l != Local::Stopped {
                m.insert(i);
            }
        }
        m
    }

    fn scope_mask(&self, scope: Scope) -> GroupMask {
        match scope {
            Scope::All => self.cfg.all(),
            Scope::Local => self.cfg.home_mine(),
            Scope::Foreign => self.cfg.all().without(self.cfg.home_mine()),
        }
    }

    fn begin_stop(&mut self, group: usize) {
        match self.local.get(group).copied() {
            Some(Local::Running) => {
                self.set(group, Local::Stopping);
                self.actions.push_back(Action::StopGroup(group));
            }
            Some(Local::Starting { .. }) => self.set(group, Local::Starting { then_stop: true }),
            _ => {}
        }
    }

    fn set(&mut self, group: usize, to: Local) {
        if let Some(l) = self.local.get_mut(group) {
            *l = to;
        }
    }

    /// The peer restarted: what it knew and what we had in flight for it
    /// belong to its earlier run.
    fn forget_peer_session(&mut self) {
        self.outbox.drop_all();
        self.peer.incarnation = None;
        self.peer.session = None;
        self.peer.last_id = 0;
        self.peer.state = None;
        self.peer.leaving_status = false;
        self.peer.mismatch_reported = false;
        if self.peer.life == Life::Left {
            self.peer.life = Life::Alive;
        }
    }

    fn stamp(&self) -> Stamp {
        Stamp {
            incarnation: self.incarnation,
            to_incarnation: self.peer.incarnation.unwrap_or(0),
            hash: self.hash,
            state: self.state(),
        }
    }

    fn send_ack(&mut self, msg: &Message) {
        let ack = Message {
            kind: Kind::Ack,
            incarnation: self.incarnation,
            to_incarnation: msg.incarnation,
            id: 0,
            ack: msg.id,
            haresources_hash: self.hash,
            state: self.state(),
            groups: GroupMask::EMPTY,
        };
        self.actions.push_back(Action::Send(ack));
    }

    fn pump(&mut self, now: Nanos) {
        if self.peer.life != Life::Alive {
            return;
        }
        let stamp = self.stamp();
        if let Some(m) = self.outbox.poll(now, self.cfg.retransmit.max(1), &stamp) {
            self.actions.push_back(Action::Send(m));
        }
    }

    fn log(&mut self, at: Nanos, what: Why) {
        self.decisions.push(Decision { at, what });
    }
}
