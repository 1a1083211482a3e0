//! Which connection serves which AGV id, and the path from the API to an AGV's session: each
//! connection task owns its `RcsSession` and takes orders through a small bounded queue, so
//! the API never touches a session directly and a slow AGV only fills its own queue.
//!
//! Takeover rule (docs/operations.md): a second connection claiming an AGV id that is already
//! connected is refused unless it authenticated as that AGV (secure mode with the enrolled
//! key); then the old connection is closed with `Replaced` and the new one takes over.

use std::sync::Mutex;
use std::time::Duration;

use protocol::message::Message;
use protocol::types::CloseReason;
use tokio::sync::{mpsc, oneshot};

/// How many orders may wait for one connection.
pub const QUEUE: usize = 32;

/// An order for a connection task.
#[derive(Debug)]
pub enum Order {
    /// Send a command and report its answer.
    Command {
        /// The command (boxed: orders are rare, the queue stays small).
        message: Box<Message>,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<Message, CommandError>>,
        /// Its number among the commands issued to this connection (1, 2, ...): a status
        /// report received once every command up to `n` was answered describes the AGV after
        /// them ([`Connections::issued`]).
        generation: u64,
    },
    /// Close the session.
    Close(CloseReason),
}

/// Why a command got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No session serves the AGV.
    #[error("the AGV is offline")]
    Offline,
    /// The AGV's session is not registered yet.
    #[error("the AGV has not registered")]
    NotRegistered,
    /// Its order queue or its session's pending-command window is full.
    #[error("the AGV's command queue is full")]
    Busy,
    /// The AGV did not answer after every retransmission, or not within the wait.
    #[error("the AGV did not answer in time")]
    Timeout,
    /// The session closed before the answer came.
    #[error("the AGV disconnected before answering")]
    Disconnected,
    /// The command was made for an earlier session of the AGV (one that has ended since): it
    /// was not handed to the session serving the AGV now, which never had what it relies on.
    #[error("the command was made for an earlier session of the AGV")]
    OtherSession,
    /// The AGV answered with an error report.
    #[error("the AGV answered with error {0:?}")]
    Refused(protocol::types::ErrorCode),
}

#[derive(Debug, Clone)]
struct Entry {
    session_id: u32,
    secure: bool,
    orders: mpsc::Sender<Order>,
    /// Commands handed to this connection so far.
    issued: u64,
}

/// Why a claim on an AGV id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("AGV id already connected in session {0}")]
pub struct Claimed(pub u32);

/// The connection registry.
#[derive(Debug, Default)]
pub struct Connections {
    by_agv: Mutex<crate::state::ByAgv<Entry>>,
}

impl Connections {
    /// Claims `agv_id` for a session that was just granted access. Secure (authenticated)
    /// sessions replace an existing one, which is told to close; normal ones are refused while
    /// another session holds the id.
    pub fn claim(
        &self,
        agv_id: u32,
        session_id: u32,
        secure: bool,
        orders: mpsc::Sender<Order>,
    ) -> Result<(), Claimed> {
        let mut map = self.by_agv.lock().expect("not poisoned");
        if let Some(old) = map.get(&agv_id)
            && old.session_id != session_id
        {
            if !secure {
                return Err(Claimed(old.session_id));
            }
            // The old task may be stuck; it also closes on its own liveness timeout.
            let _ = old.orders.try_send(Order::Close(CloseReason::Replaced));
        }
        map.insert(
            agv_id,
            Entry {
                session_id,
                secure,
                orders,
                issued: 0,
            },
        );
        Ok(())
    }

    /// Releases `agv_id` if `session_id` still holds it; returns whether it did.
    pub fn release(&self, agv_id: u32, session_id: u32) -> bool {
        let mut map = self.by_agv.lock().expect("not poisoned");
        if map.get(&agv_id).is_some_and(|e| e.session_id == session_id) {
            map.remove(&agv_id);
            true
        } else {
            false
        }
    }

    /// Releases whatever AGV id session `session_id` holds (a connection that could not
    /// release it itself); returns that id.
    pub fn release_session(&self, session_id: u32) -> Option<u32> {
        let mut map = self.by_agv.lock().expect("not poisoned");
        let agv_id = map
            .iter()
            .find_map(|(id, e)| (e.session_id == session_id).then_some(*id))?;
        map.remove(&agv_id);
        Some(agv_id)
    }

    /// How many AGV ids a session holds.
    pub fn len(&self) -> usize {
        self.by_agv.lock().expect("not poisoned").len()
    }

    /// Whether no session holds an AGV id.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a session serves `agv_id`, and whether it is secure.
    pub fn session(&self, agv_id: u32) -> Option<(u32, bool)> {
        let map = self.by_agv.lock().expect("not poisoned");
        map.get(&agv_id).map(|e| (e.session_id, e.secure))
    }

    /// How many commands were handed to the session serving `agv_id` (none: offline). A status
    /// report that covers fewer ([`crate::fleet::AgvView::covers`]) may predate one of them:
    /// the AGV may already be moving on a command it had not yet received when it reported.
    pub fn issued(&self, agv_id: u32) -> Option<u64> {
        let map = self.by_agv.lock().expect("not poisoned");
        map.get(&agv_id).map(|e| e.issued)
    }

    /// How many commands were handed to session `session_id`, if it is the one serving
    /// `agv_id` (else `None`): [`Self::session`] and [`Self::issued`] in one look, for the
    /// status path.
    pub fn issued_to(&self, agv_id: u32, session_id: u32) -> Option<u64> {
        let map = self.by_agv.lock().expect("not poisoned");
        map.get(&agv_id)
            .filter(|e| e.session_id == session_id)
            .map(|e| e.issued)
    }

    /// Sends `message` as a command to `agv_id` and waits up to `wait` for its answer.
    pub async fn command(
        &self,
        agv_id: u32,
        message: Message,
        wait: Duration,
    ) -> Result<Message, CommandError> {
        let answer = self.start_command(agv_id, message)?;
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(CommandError::Disconnected),
            Err(_) => Err(CommandError::Timeout),
        }
    }

    /// Hands `message` to the connection serving `agv_id` at once, without waiting: the
    /// receiver gets its answer (or why there was none).
    pub fn start_command(
        &self,
        agv_id: u32,
        message: Message,
    ) -> Result<oneshot::Receiver<Result<Message, CommandError>>, CommandError> {
        self.start(agv_id, None, message)
    }

    /// [`Self::start_command`], only to session `session_id`: a command made for one session
    /// of an AGV (a motion relying on space the RCS held for what that session was released)
    /// is never handed to a later one, whose AGV forgot that release on its link loss
    /// ([`CommandError::OtherSession`]).
    pub fn start_command_in(
        &self,
        agv_id: u32,
        session_id: u32,
        message: Message,
    ) -> Result<oneshot::Receiver<Result<Message, CommandError>>, CommandError> {
        self.start(agv_id, Some(session_id), message)
    }

    fn start(
        &self,
        agv_id: u32,
        session_id: Option<u32>,
        message: Message,
    ) -> Result<oneshot::Receiver<Result<Message, CommandError>>, CommandError> {
        // Counted and queued under the lock, so generations reach the connection in order.
        let mut map = self.by_agv.lock().expect("not poisoned");
        let entry = map.get_mut(&agv_id).ok_or(CommandError::Offline)?;
        if session_id.is_some_and(|s| s != entry.session_id) {
            return Err(CommandError::OtherSession);
        }
        let (reply, answer) = oneshot::channel();
        entry
            .orders
            .try_send(Order::Command {
                message: Box::new(message),
                reply,
                generation: entry.issued + 1,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => CommandError::Busy,
                mpsc::error::TrySendError::Closed(_) => CommandError::Offline,
            })?;
        entry.issued += 1;
        Ok(answer)
    }

    /// Asks the session serving `agv_id` to close; returns whether one did.
    pub fn close(&self, agv_id: u32, reason: CloseReason) -> bool {
        let map = self.by_agv.lock().expect("not poisoned");
        map.get(&agv_id)
            .is_some_and(|e| e.orders.try_send(Order::Close(reason)).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use protocol::message::{Message, TaskControl, TaskOp};
    use tokio::sync::mpsc;

    use super::{CommandError, Connections, Order};

    fn cancel() -> Message {
        TaskControl {
            task_id: 9,
            op: TaskOp::Cancel,
        }
        .into()
    }

    /// A command made for one session of an AGV is never handed to a later session of it,
    /// nor counted there (a report of the later session would otherwise wait for its answer,
    /// or a later session would drive a path it never had).
    #[test]
    fn a_command_for_an_earlier_session_is_not_handed_to_a_later_one() {
        let c = Connections::default();
        let (tx1, mut rx1) = mpsc::channel(4);
        c.claim(7, 1, false, tx1).unwrap();
        let _answer = c
            .start_command_in(7, 1, cancel())
            .expect("handed to session 1");
        assert!(matches!(
            rx1.try_recv(),
            Ok(Order::Command { generation: 1, .. })
        ));
        // session 1 ends, session 2 of the same AGV comes
        assert!(c.release(7, 1));
        assert_eq!(
            c.start_command_in(7, 1, cancel()).err(),
            Some(CommandError::Offline)
        );
        let (tx2, mut rx2) = mpsc::channel(4);
        c.claim(7, 2, false, tx2).unwrap();
        assert_eq!(
            c.start_command_in(7, 1, cancel()).err(),
            Some(CommandError::OtherSession)
        );
        assert!(rx2.try_recv().is_err(), "handed to the later session");
        assert_eq!(c.issued(7), Some(0), "counted in the later session");
        // its own commands go
        let _answer = c
            .start_command_in(7, 2, cancel())
            .expect("handed to session 2");
        assert!(matches!(
            rx2.try_recv(),
            Ok(Order::Command { generation: 1, .. })
        ));
        // (commands not bound to a session, the API's, go to whichever serves the AGV)
        let _answer = c.start_command(7, cancel()).expect("handed");
        assert_eq!(c.issued(7), Some(2));
        // what a report of each session is measured against: only the serving one's count
        assert_eq!(c.issued_to(7, 2), Some(2));
        assert_eq!(c.issued_to(7, 1), None, "session 1 no longer serves AGV 7");
        assert_eq!(c.issued_to(8, 2), None);
    }
}
