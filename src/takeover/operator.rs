//! Operator requests inside the takeover process: `RUN_DIR/agent.sock`
//! (mode 0600), served by a thread of its own that hands each request to
//! the main loop over a channel and waits for the answer; and the
//! bookkeeping of requests waiting for the peer's acknowledgement.
//!
//! The main loop looks at the channel at least every 2 ms. A standby or
//! takeover is answered once the peer acknowledged the Offer / Request
//! ("acknowledged by both nodes"), at once when the cluster refuses it,
//! and with an error naming the peer when no acknowledgement came within
//! [`OPERATOR_PEER_WAIT`].

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Sender};

use crate::cluster::Kind;
use crate::control::{AGENT_SOCKET_NAME, ControlServer, OPERATOR_PEER_WAIT, Request, Response};
use crate::time::Nanos;

/// One request from the socket thread, with where its answer goes.
pub struct OperatorCall {
    pub request: Request,
    pub reply: Sender<Response>,
}

/// Binds `RUN_DIR/agent.sock` and serves it on a new thread until `stop`.
pub fn serve(run_dir: &Path, stop: Arc<AtomicBool>) -> std::io::Result<Receiver<OperatorCall>> {
    let server = ControlServer::bind_named(run_dir, AGENT_SOCKET_NAME)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let (tx, rx) = channel::bounded::<OperatorCall>(4);
    // A little longer than the main loop waits for the peer, so the main
    // loop's own timeout answer is the one the operator sees.
    let wait = OPERATOR_PEER_WAIT + Duration::from_millis(300);
    crate::engine::realtime::thread_named("operator").spawn(move || {
        let handler = move |request: Request| {
            let (reply, answer) = channel::bounded(1);
            if tx.try_send(OperatorCall { request, reply }).is_err() {
                return Response::Error {
                    message: "the takeover process is busy with other operator requests".into(),
                };
            }
            answer
                .recv_timeout(wait)
                .unwrap_or_else(|_| Response::Error {
                    message: format!(
                        "the takeover process's main loop did not answer within {} ms",
                        wait.as_millis()
                    ),
                })
        };
        if let Err(e) = server.serve(handler, stop) {
            tracing::error!("operator socket: {e}");
        }
    })?;
    Ok(rx)
}

/// A standby / takeover sent to the peer, waiting for its ack.
struct Waiting {
    kind: Kind,
    /// What was asked, for the answer ("standby: offering ... to bravo").
    what: String,
    reply: Sender<Response>,
    deadline: Nanos,
}

/// Requests whose Offer / Request the peer has not acknowledged yet, in
/// the order they were sent (the cluster delivers its messages in order).
#[derive(Default)]
pub struct AwaitingAck {
    queue: VecDeque<Waiting>,
}

impl AwaitingAck {
    pub fn push(&mut self, kind: Kind, what: String, reply: Sender<Response>, now: Nanos) {
        let wait = u64::try_from(OPERATOR_PEER_WAIT.as_nanos()).unwrap_or(u64::MAX);
        self.queue.push_back(Waiting {
            kind,
            what,
            reply,
            deadline: now.saturating_add(wait),
        });
    }

    /// The peer acknowledged our `kind`: answers the oldest such request.
    pub fn acked(&mut self, kind: Kind) {
        if let Some(pos) = self.queue.iter().position(|w| w.kind == kind)
            && let Some(w) = self.queue.remove(pos)
        {
            let _ = w.reply.send(Response::Done {
                message: format!("{}: acknowledged by both nodes", w.what),
            });
        }
    }

    /// Answers, with an error naming `peer`, every request past its wait.
    pub fn expire(&mut self, now: Nanos, peer: &str) {
        while let Some(w) = self.queue.front() {
            if w.deadline > now {
                break;
            }
            if let Some(w) = self.queue.pop_front() {
                let _ = w.reply.send(Response::Error {
                    message: format!(
                        "{}: the peer {peer} did not acknowledge within {} ms \
                         (the request stays queued and is resent until it does)",
                        w.what,
                        OPERATOR_PEER_WAIT.as_millis()
                    ),
                });
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    #[test]
    fn acks_answer_in_order_by_kind_and_the_rest_time_out_naming_the_peer() {
        let mut a = AwaitingAck::default();
        let (tx1, rx1) = channel::bounded(1);
        let (tx2, rx2) = channel::bounded(1);
        let (tx3, rx3) = channel::bounded(1);
        a.push(Kind::Offer, "standby one".into(), tx1, 0);
        a.push(Kind::Request, "takeover".into(), tx2, 0);
        a.push(Kind::Offer, "standby two".into(), tx3, S);
        a.acked(Kind::Request);
        assert_eq!(
            rx2.try_recv().unwrap(),
            Response::Done {
                message: "takeover: acknowledged by both nodes".into()
            }
        );
        a.acked(Kind::Offer);
        assert!(
            matches!(rx1.try_recv().unwrap(), Response::Done { message } if message.starts_with("standby one"))
        );
        a.expire(S, "bravo");
        assert!(rx3.try_recv().is_err(), "not due yet");
        a.expire(5 * S, "bravo");
        match rx3.try_recv().unwrap() {
            Response::Error { message } => {
                assert!(message.contains("bravo did not acknowledge"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(a.is_empty());
    }
}
