//! The AGV listener and the per-connection driver: one tokio task per connection (no thread per
//! AGV) feeding an `RcsSession` with what it reads, writing what it transmits, and taking
//! orders (commands from the API, close) through a bounded queue. The state the connections
//! share with everything else is [`crate::state::Shared`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crypto::session::RcsHandshake;
use futures_util::FutureExt;
use protocol::message::{AccessMode, Message, MessageType, StatusReport};
use protocol::session::{CloseCause, RcsEvent, RcsSession};
use protocol::types::{CloseReason, ErrorCode, ResultCode};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::connections::{CommandError, Order, QUEUE};
use crate::keys::EnrolledKeys;
use crate::metrics::kind;
use crate::state::{Shared, now_ms};

/// A write that takes longer than this closes the connection (the AGV stopped reading).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// After the server sent its last frame (a `Close`), how long it keeps reading and discarding
/// what the AGV still sends before it closes the socket, and how much at most: closing a socket
/// with unread input resets the connection, and the AGV could lose the `Close`.
pub const LINGER: Duration = Duration::from_secs(1);
/// See [`LINGER`].
pub const LINGER_BYTES: usize = 64 * 1024;

/// The most a connection reads at once (a status frame is 146 bytes; a read takes whatever
/// the socket holds up to this).
const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    /// The buffer connections read into: one per worker thread, not one per connection (it
    /// was 8 KiB of each connection's 24). A connection waits holding no buffer, reads into
    /// this one and hands the bytes to its session at once (which keeps only a partial frame).
    static READ_BUF: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; READ_CHUNK].into_boxed_slice());
}

/// What a read came to.
enum Read {
    /// Bytes handed to the session at this time (UTC ms: the clock is read once a read, and
    /// what the bytes bring is handled at this reading).
    Input(u64),
    /// End of stream or an error.
    Closed,
}

/// Reads what the socket holds into the worker's buffer and hands it to the session (tokio's
/// `poll_read`, which takes a short read to mean the socket is drained: one `recv` per frame
/// as before, where waiting for readiness and `try_read` would take a second that fails).
fn poll_read_into(
    cx: &mut std::task::Context<'_>,
    stream: &mut TcpStream,
    session: &mut Session,
) -> std::task::Poll<Read> {
    use std::task::Poll;
    READ_BUF.with_borrow_mut(|buf| {
        let mut read = tokio::io::ReadBuf::new(buf);
        match std::pin::Pin::new(stream).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                let now = now_ms();
                session.handle_input(now, read.filled());
                Poll::Ready(Read::Input(now))
            }
            Poll::Ready(_) => Poll::Ready(Read::Closed),
        }
    })
}

/// For how long after a command went out its connection reads the socket without waiting for
/// the runtime to report it readable ([`read_now`]): 1, 2, 4, 8 ... ms after it went out, eight
/// reads at most (an answer later than this is read when the socket's turn comes).
const PEEK_FOR_MS: u64 = 200;

/// Reads what the socket holds now and hands it to the session, `Some` with the time (UTC ms)
/// when it read something. A loaded server takes sockets' readiness from the kernel a few
/// dozen at a time (`crate::runtime`), oldest first, so an AGV's answer to a command could
/// wait behind every status report that arrived before it; a connection waiting for an
/// answer looks for it on its own timer instead. The runtime still reports the socket
/// readable later: its read then finds nothing and waits again. Nothing read (`WouldBlock`),
/// the end of the stream or an error is `None`, and left to the connection's read, which
/// sees it too.
fn read_now(stream: &TcpStream, session: &mut Session) -> Option<u64> {
    read_now_into(stream, |now, input| session.handle_input(now, input))
}

/// [`read_now`], handing what it read to `take` (with the time it read it).
fn read_now_into(stream: &TcpStream, take: impl FnOnce(u64, &[u8])) -> Option<u64> {
    use std::io::Read as _;
    let socket = socket2::SockRef::from(stream);
    READ_BUF.with_borrow_mut(|buf| match (&*socket).read(buf) {
        Ok(n) if n > 0 => {
            let now = now_ms();
            take(now, &buf[..n]);
            Some(now)
        }
        _ => None,
    })
}

/// When a command went out `elapsed` ms ago, in how many ms its connection next reads for
/// the answer: at the next power of two ms after it went out, none from [`PEEK_FOR_MS`] on.
fn next_peek(elapsed: u64) -> Option<u64> {
    let at = (elapsed + 1).next_power_of_two();
    (at <= PEEK_FOR_MS).then(|| at - elapsed)
}

/// `poll`, noting in `waiting` whether it is pending: a wait that is pending holds the task's
/// waker and is woken when it has something (the connection's stop signal, its order queue,
/// its timer), so until then the connection looks at it (an atomic load) instead of polling
/// it. The look is made at every poll of the connection's `select!`, never in a branch's
/// precondition: a precondition is evaluated once per `select!`, and a wake-up for a branch
/// disabled by it would be lost until another branch ended that `select!` (an order stuck in
/// the queue while its AGV stood:
/// `rcs-server/tests/safety/held.rs::a_report_from_before_a_motion_does_not_count_as_standing`).
/// The three are polled outside tokio's cooperative budget (`unconstrained`): with the task's
/// budget spent, tokio's waits answer `Pending` without taking the waker. The socket's read
/// stays within the budget, so the task still yields.
fn noting<T>(poll: std::task::Poll<T>, waiting: &mut bool) -> std::task::Poll<T> {
    *waiting = poll.is_pending();
    poll
}

/// What a status report can tell, given the commands still waiting for an answer (each
/// `(generation, _, _)`) and the generation taken last: the AGV after every command answered
/// before it.
fn covers<T, I>(waiting: &HashMap<u32, (u64, T, I)>, taken: u64) -> u64 {
    waiting
        .values()
        .map(|(g, _, _)| g - 1)
        .min()
        .unwrap_or(taken)
}

/// A status report from the AGV `agv_id` of session `session_id`: checked (a report that is
/// not valid is refused, `Err` with the reason, and nothing of it is used: it never held
/// space), then taken into the fleet. `status` comes back holding the report it replaced: the
/// session decodes the next report into it (no allocation per report).
fn take_report(
    shared: &Shared,
    agv_id: u32,
    session_id: u32,
    now: u64,
    covers: u64,
    status: &mut StatusReport,
) -> Result<(), String> {
    crate::agv_link::admit_status(shared, agv_id, status)?;
    crate::agv_link::take_status(shared, agv_id, session_id, now, covers, status, None);
    Ok(())
}

/// Accepts connections until the stop signal; each runs in its own task. At the connection
/// limit, new connections wait in the listen backlog. A connection from an address that
/// already has `--max-pending-per-peer` connections without access is closed at once.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.stop_signal();
    loop {
        let permit = tokio::select! {
            p = shared.permits().acquire_owned() => p.expect("never closed"),
            _ = stop.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // e.g. out of file descriptors: do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let limit = shared.config.max_pending_per_peer;
            let Some(pending) = shared.admission.admit(peer.ip(), limit) else {
                shared.metrics.refused_connections.inc();
                tracing::debug!(%peer, limit, "closed: too many connections from this address without access");
                drop(stream);
                drop(permit);
                return;
            };
            shared.metrics.connections.inc();
            let session_id = shared.next_session_id();
            // A bug in this one connection's handling must not leave its AGV id claimed for
            // ever (the AGV could never come back) nor take the fleet down: the panic is
            // logged and counted, and the session ends as if the link was lost.
            let run = std::panic::AssertUnwindSafe(Connection::run(
                peer, &shared, pending, session_id, stream,
            ))
            .catch_unwind();
            if let Err(panic) = run.await {
                tracing::error!(
                    session_id,
                    %peer,
                    "connection task panicked ({}): session closed",
                    crate::supervise::message(&*panic)
                );
                crate::supervise::count(&shared, "connection");
                Box::pin(after_panic(&shared, session_id)).await;
            }
            shared.metrics.connections.dec();
            drop(permit);
        });
    }
}

type Session = RcsSession<RcsHandshake<EnrolledKeys, crate::keys::Rng>>;
type Reply = oneshot::Sender<Result<Message, CommandError>>;

/// One AGV connection.
struct Connection<'a> {
    shared: &'a Shared,
    peer: SocketAddr,
    session_id: u32,
    session: Session,
    /// The AGV id once access is granted and the id claimed.
    agv_id: u32,
    orders_tx: mpsc::Sender<Order>,
    orders: mpsc::Receiver<Order>,
    /// Commands waiting for their answer (the API's, the dispatcher's motions, safety stops:
    /// all come as [`Order::Command`]), by the seq `send_command` returned, with their
    /// generation and when they went into the session.
    waiting: HashMap<u32, (u64, Reply, Instant)>,
    /// The generation of the last command taken from the queue.
    taken: u64,
    /// Counts this connection as pending for its address until access completes.
    pending: Option<crate::admission::PendingGuard<'a>>,
    /// When access must be complete, UTC ms.
    access_deadline: u64,
    /// Frames the session dropped for the rate limit, as last counted in the metrics.
    rate_limited: u64,
}

impl<'a> Connection<'a> {
    /// Runs a new connection to its end. (The connection is made here and driven by
    /// reference: an `async fn` keeps an argument taken by value twice in its future, and
    /// this future is part of every connection's task for its life: 5.3 KiB with the
    /// connection moved in, 3.1 with it made here.)
    async fn run(
        peer: SocketAddr,
        shared: &'a Arc<Shared>,
        pending: crate::admission::PendingGuard<'a>,
        session_id: u32,
        stream: TcpStream,
    ) {
        let mut connection = Self::new(peer, shared, pending, session_id);
        connection.drive(stream).await;
    }

    fn new(
        peer: SocketAddr,
        shared: &'a Arc<Shared>,
        pending: crate::admission::PendingGuard<'a>,
        session_id: u32,
    ) -> Self {
        let policy = shared
            .config
            .secure
            .session_policy(shared.config.allow_fast);
        let handshake = RcsHandshake::new(
            shared.server_key.clone(),
            crypto::DEFAULT_ID,
            shared.keys.clone(),
            crypto::system_rng(),
        );
        let mut session = RcsSession::new(
            shared.session_config(),
            policy,
            handshake,
            shared.config_push(),
            session_id,
            now_ms(),
        );
        let gate = Arc::clone(shared);
        session.set_access_check(move |agv_id| refuse_taken(&gate, agv_id, peer));
        let (orders_tx, orders) = mpsc::channel(QUEUE);
        Self {
            shared,
            peer,
            session_id,
            session,
            agv_id: 0,
            orders_tx,
            orders,
            waiting: HashMap::new(),
            taken: 0,
            pending: Some(pending),
            access_deadline: now_ms().saturating_add(shared.config.access_timeout_ms),
            rate_limited: 0,
        }
    }

    async fn drive(&mut self, mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let mut stop = self.shared.stop_signal();
        // The stop signal's wait, made once for the connection's life: made afresh at every
        // wait, it registered with the signal's waiters (a lock shared by every connection)
        // and left them again, per frame (docs/performance.md, "The connection's wait"). Once
        // it waits it holds the task's waker, so it is polled again only when the signal has
        // changed (`probe`, an atomic load), not at every wake-up; the order queue likewise
        // when it holds an order, and the timer when it has fired ([`noting`]).
        let probe = stop.clone();
        let stopped = stop.changed();
        tokio::pin!(stopped);
        let (mut stopping, mut stop_waiting, mut orders_waiting) = (false, false, false);
        let mut timer_waiting = false;
        // One timer for the connection's life. It is moved only to an earlier deadline: each
        // frame received pushes the session's liveness deadline later, and the timer set for
        // the earlier one fires, finds nothing due (the session checks its deadlines) and is
        // set again, once a liveness period instead of once a frame.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        // The deadline (UTC ms) the timer is set for; none before the first wait.
        let mut armed: Option<u64> = None;
        // The clock as last read (UTC ms): once a read on the hot path, the status report and
        // the session's deadline taken at that reading.
        let mut now = now_ms();
        loop {
            // A status report (nearly every frame) is read where the session decoded it, lent
            // rather than moved out (the session then decodes the next one into it).
            if let Some((seq, ack_requested, Message::StatusReport(status))) =
                self.session.peek_message()
            {
                let covers = covers(&self.waiting, self.taken);
                let (shared, agv, session) = (self.shared, self.agv_id, self.session_id);
                let verdict = take_report(shared, agv, session, now, covers, status);
                self.session.consume_message();
                self.answer_report(now, seq, ack_requested, verdict);
            }
            // Events first: answering them queues frames, which must go out before we wait.
            while let Some(mut event) = self.session.poll_event() {
                // Status reports (nearly every frame) are handled in place, without the
                // asynchronous handler (which moves the event through its future).
                if let RcsEvent::Message {
                    seq,
                    ack_requested,
                    message: Message::StatusReport(status),
                } = &mut event
                {
                    self.on_status(now, *seq, *ack_requested, status);
                    if let RcsEvent::Message { message, .. } = event {
                        self.session.recycle(message);
                    }
                    continue;
                }
                // boxed: never in the steady state (status reports are handled above), and
                // inline its future would make every connection's task several KiB larger
                Box::pin(self.handle_event(event)).await;
                now = now_ms();
            }
            while let Some(frame) = self.session.poll_transmit() {
                let write = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&frame)).await;
                if !matches!(write, Ok(Ok(()))) {
                    tracing::warn!(agv_id = self.agv_id, peer = %self.peer, "write failed or stalled: closing");
                    Box::pin(self.finish()).await;
                    return;
                }
            }
            if self.session.is_closed() {
                // Events of the close (Closed, LinkLost) were handled above; the Close is sent.
                Box::pin(self.finish()).await;
                self.pending = None;
                Box::pin(linger(&mut stream)).await;
                return;
            }
            let mut wake = self.session.poll_timeout().unwrap_or(now + 1000);
            if self.pending.is_some() {
                wake = wake.min(self.access_deadline);
            }
            if let Some(peek) = self.next_peek() {
                wake = wake.min(now + peek);
            }
            if armed.is_none_or(|armed| wake < armed) {
                // rare (see the timer above; and at most eight times a command, to read for
                // its answer): the clock read afresh, writes may have waited
                let sleep = Duration::from_millis(wake.saturating_sub(now_ms()));
                timer.as_mut().reset(tokio::time::Instant::now() + sleep);
                armed = Some(wake);
                timer_waiting = false;
            }
            tokio::select! {
                r = std::future::poll_fn(|cx| poll_read_into(cx, &mut stream, &mut self.session)) => match r {
                    Read::Closed => {
                        tracing::info!(agv_id = self.agv_id, peer = %self.peer, "connection closed by the peer");
                        break;
                    }
                    Read::Input(at) => {
                        now = at;
                        self.count_rate_limited();
                    }
                },
                () = tokio::task::unconstrained(std::future::poll_fn(|cx| {
                    if timer_waiting && !timer.is_elapsed() {
                        return std::task::Poll::Pending;
                    }
                    noting(timer.as_mut().poll(cx), &mut timer_waiting)
                })) => {
                    // fired: set again at the next wait (the session's deadline may be later,
                    // or the same if the clock ran behind the timer)
                    armed = None;
                    now = now_ms();
                    if !self.waiting.is_empty()
                        && let Some(at) = read_now(&stream, &mut self.session)
                    {
                        now = at;
                        self.count_rate_limited();
                    }
                    if self.pending.is_some() && now >= self.access_deadline {
                        tracing::debug!(peer = %self.peer, "access not completed in time: closing");
                        self.session.close(now, CloseReason::LivenessTimeout);
                    } else {
                        self.session.handle_timeout(now);
                    }
                }
                Some(order) = tokio::task::unconstrained(std::future::poll_fn(|cx| {
                    if orders_waiting && self.orders.is_empty() {
                        return std::task::Poll::Pending;
                    }
                    noting(self.orders.poll_recv(cx), &mut orders_waiting)
                })) => {
                    now = now_ms();
                    self.order(now, order);
                }
                _ = tokio::task::unconstrained(std::future::poll_fn(|cx| {
                    if stop_waiting && !probe.has_changed().unwrap_or(true) {
                        return std::task::Poll::Pending;
                    }
                    noting(stopped.as_mut().poll(cx), &mut stop_waiting)
                })), if !stopping => {
                    stopping = true;
                    now = now_ms();
                    self.session.close(now, CloseReason::Shutdown);
                }
            }
        }
        Box::pin(self.finish()).await;
    }

    /// In how many ms the socket is next read for an answer ([`read_now`]), when a command
    /// waits for one and went out less than [`PEEK_FOR_MS`] ago.
    fn next_peek(&self) -> Option<u64> {
        if self.waiting.is_empty() {
            return None;
        }
        self.waiting
            .values()
            .filter_map(|(_, _, sent)| next_peek(sent.elapsed().as_millis() as u64))
            .min()
    }

    /// Counts the frames the session dropped for the rate limit since the last look.
    fn count_rate_limited(&mut self) {
        let dropped = self.session.rate_limited();
        if dropped > self.rate_limited {
            self.shared
                .metrics
                .rate_limited_frames
                .inc_by(dropped - self.rate_limited);
            if self.rate_limited == 0 {
                tracing::warn!(agv_id = self.agv_id, peer = %self.peer, "over the frame rate limit: frames dropped");
            }
            self.rate_limited = dropped;
        }
    }

    /// Takes an order from the API.
    fn order(&mut self, now: u64, order: Order) {
        match order {
            Order::Command {
                message,
                reply,
                generation,
            } => {
                self.taken = generation;
                match self.session.send_command(now, *message) {
                    Ok(seq) => {
                        self.waiting
                            .insert(seq, (generation, reply, Instant::now()));
                    }
                    Err(protocol::session::SessionError::Busy) => {
                        let _ = reply.send(Err(CommandError::Busy));
                    }
                    Err(_) => {
                        let _ = reply.send(Err(CommandError::NotRegistered));
                    }
                }
            }
            Order::Close(reason) => self.session.close(now, reason),
        }
    }

    /// The connection is over: the AGV goes offline (if this session still owns its id).
    async fn finish(&mut self) {
        for (_, (_, reply, _)) in self.waiting.drain() {
            let _ = reply.send(Err(CommandError::Disconnected));
        }
        if self.agv_id == 0 {
            return;
        }
        let agv_id = self.agv_id;
        if self.shared.connections.release(agv_id, self.session_id) {
            crate::agv_link::went_offline(self.shared, agv_id, self.session_id).await;
        }
        crate::agv_link::close_session_row(self.shared, self.session_id, "closed");
        self.agv_id = 0;
    }

    /// A status report out of its event (when it was not lent: a frame came after it in the
    /// same read): the hot path, synchronous, the report used where it lies in its event and
    /// swapped with the fleet's. On return `status` holds what the caller gives back to the
    /// session (`recycle`). One that asks for an answer (`ack_requested`: an AGV streaming
    /// reports asks about once a heartbeat period instead of sending a Heartbeat,
    /// docs/protocol.md 4.1) is answered with an Ack once taken.
    fn on_status(&mut self, now: u64, seq: u32, ack_requested: bool, status: &mut StatusReport) {
        let covers = covers(&self.waiting, self.taken);
        let (shared, agv, session) = (self.shared, self.agv_id, self.session_id);
        let verdict = take_report(shared, agv, session, now, covers, status);
        self.answer_report(now, seq, ack_requested, verdict);
    }

    /// Answers a status report [`take_report`] took (an Ack when the AGV asked) or refused.
    fn answer_report(
        &mut self,
        now: u64,
        seq: u32,
        ack_requested: bool,
        verdict: Result<(), String>,
    ) {
        match verdict {
            Err(detail) => self
                .session
                .reject(now, seq, ErrorCode::InvalidField, detail),
            Ok(()) if ack_requested => {
                let _ = self
                    .session
                    .ack(now, seq, MessageType::STATUS_REPORT, ResultCode::Ok);
            }
            Ok(()) => {}
        }
    }

    async fn handle_event(&mut self, event: RcsEvent) {
        let now = now_ms();
        let shared = self.shared;
        match event {
            RcsEvent::AccessGranted {
                agv_id: id,
                mode,
                profile,
            } => {
                let secure = mode == AccessMode::Secure;
                if let Err(claimed) =
                    shared
                        .connections
                        .claim(id, self.session_id, secure, self.orders_tx.clone())
                {
                    tracing::warn!(agv_id = id, peer = %self.peer, "refused: {claimed}");
                    shared.metrics.refused_claims.inc();
                    shared.events.publish(
                        "agv.refused",
                        Some(id),
                        "server",
                        json!({ "reason": "already connected", "peer": self.peer.to_string() }),
                    );
                    self.session.close(now, CloseReason::AccessDenied);
                    return;
                }
                self.agv_id = id;
                // No longer pending for its address.
                self.pending = None;
                tracing::info!(agv_id = id, peer = %self.peer, ?mode, ?profile, "access granted");
                let link = crate::agv_link::LinkInfo {
                    mode,
                    profile,
                    protocol: crate::fleet::Protocol::Guide,
                    peer: self.peer.to_string(),
                };
                crate::agv_link::came_online(shared, id, self.session_id, &link).await;
            }
            RcsEvent::RegistrationRequested(req) => {
                use crate::agv_link::RegisterError;
                match crate::agv_link::register(shared, self.agv_id, self.session_id, &req).await {
                    Ok(()) => {
                        let _ = self.session.accept_registration(now, ResultCode::Ok);
                    }
                    Err(e @ RegisterError::Footprint { .. }) => {
                        let _ = self.session.refuse_registration(now, e.to_string());
                    }
                    Err(RegisterError::Storage(_)) => {
                        let _ = self
                            .session
                            .accept_registration(now, ResultCode::InternalError);
                    }
                }
            }
            RcsEvent::Message {
                seq,
                ack_requested,
                message: Message::StatusReport(mut status),
            } => {
                self.on_status(now, seq, ack_requested, &mut status);
                self.session.recycle(Message::StatusReport(status));
            }
            RcsEvent::Message {
                seq,
                message: Message::SpaceRequest(req),
                ..
            } => {
                let answer = crate::grants::on_request(shared, self.agv_id, seq, req).await;
                let _ = self.session.respond(now_ms(), answer);
            }
            RcsEvent::Message {
                seq,
                message: Message::SpaceRelease(rel),
                ..
            } => {
                let result = crate::grants::on_release(shared, self.agv_id, &rel).await;
                let _ = self
                    .session
                    .ack(now_ms(), seq, MessageType::SPACE_RELEASE, result);
            }
            RcsEvent::Message {
                seq,
                ack_requested,
                message,
            } => {
                shared.fleet.update(self.agv_id, |v| v.last_seen_ms = now);
                if ack_requested {
                    // Requests this server does not serve are refused, never left unanswered:
                    // the AGV holds.
                    let _ =
                        self.session
                            .ack(now, seq, message.message_type(), ResultCode::Unsupported);
                }
            }
            RcsEvent::Response {
                request_seq,
                message,
            } => {
                if let Some((_, reply, sent)) = self.waiting.remove(&request_seq) {
                    let answered = sent.elapsed().as_secs_f64();
                    shared.metrics.command_answer_seconds.observe(answered);
                    let _ = reply.send(Ok(message));
                }
            }
            RcsEvent::Unanswered { seq, message_type } => {
                tracing::warn!(agv_id = self.agv_id, ?message_type, "command unanswered");
                if let Some((_, reply, _)) = self.waiting.remove(&seq) {
                    let _ = reply.send(Err(CommandError::Timeout));
                }
            }
            RcsEvent::PeerError { code, request_seq } => {
                tracing::warn!(
                    agv_id = self.agv_id,
                    ?code,
                    request_seq,
                    "AGV reported an error"
                );
                if let Some((_, reply, sent)) = self.waiting.remove(&request_seq) {
                    let answered = sent.elapsed().as_secs_f64();
                    shared.metrics.command_answer_seconds.observe(answered);
                    let _ = reply.send(Err(CommandError::Refused(code)));
                }
                shared
                    .metrics
                    .protocol_errors
                    .get_or_create(&kind("kind", format!("peer:{code:?}")))
                    .inc();
            }
            RcsEvent::LinkLost => {
                if self.agv_id != 0 {
                    tracing::warn!(agv_id = self.agv_id, "link lost: AGV offline");
                    shared
                        .events
                        .publish("agv.link_lost", Some(self.agv_id), "server", json!({}));
                } else {
                    // Never an AGV of the fleet: nothing went offline.
                    tracing::debug!(peer = %self.peer, "link lost before access");
                }
            }
            RcsEvent::Closed(cause) => {
                let quiet = matches!(cause, CloseCause::Peer(_) | CloseCause::Local(_));
                if quiet {
                    tracing::info!(agv_id = self.agv_id, ?cause, "session closed");
                } else if self.agv_id == 0 {
                    tracing::debug!(peer = %self.peer, ?cause, "connection closed before access");
                } else {
                    tracing::warn!(agv_id = self.agv_id, peer = %self.peer, ?cause, "session closed");
                }
                let label = match cause {
                    CloseCause::Local(r) => format!("local:{r:?}"),
                    CloseCause::Peer(r) => format!("peer:{r:?}"),
                    CloseCause::Refused(r) => format!("refused:{r:?}"),
                    other => format!("{other:?}"),
                };
                shared
                    .metrics
                    .closes
                    .get_or_create(&kind("cause", label))
                    .inc();
            }
        }
    }
}

/// The task of session `session_id` panicked: whatever AGV id it held is released and goes
/// offline, exactly as when its link is lost, so the AGV can connect again.
async fn after_panic(shared: &Shared, session_id: u32) {
    if let Some(agv_id) = shared.connections.release_session(session_id) {
        tracing::warn!(
            agv_id,
            session_id,
            "link lost: AGV offline (its connection task failed)"
        );
        crate::agv_link::went_offline(shared, agv_id, session_id).await;
    }
    crate::agv_link::close_session_row(shared, session_id, "failed");
}

/// Refuses a normal-mode access request for `agv_id` while another connection holds the id
/// (docs/operations.md, "Takeover"): answered `Rejected` in the access response itself.
fn refuse_taken(shared: &Shared, agv_id: u32, peer: SocketAddr) -> Result<(), ResultCode> {
    let Some((session_id, _)) = shared.connections.session(agv_id) else {
        return Ok(());
    };
    tracing::warn!(agv_id, %peer, "access refused: AGV id already connected in session {session_id}");
    shared.metrics.refused_claims.inc();
    shared.events.publish(
        "agv.refused",
        Some(agv_id),
        "server",
        json!({ "reason": "already connected", "peer": peer.to_string() }),
    );
    Err(ResultCode::Rejected)
}

/// After the last frame: shuts the write side (the AGV reads the `Close`, then end of stream)
/// and discards what the AGV still sends, until it closes, [`LINGER`] passes or
/// [`LINGER_BYTES`] were read, so that closing the socket does not reset the connection under
/// the `Close`.
async fn linger(stream: &mut TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut scratch = [0u8; 4096];
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER, async {
        while left > 0 {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    /// Reads with [`read_now_into`], returning what it read.
    fn peek(stream: &TcpStream) -> Option<Vec<u8>> {
        let mut read = None;
        read_now_into(stream, |_, input| read = Some(input.to_vec()))?;
        read
    }

    /// Waits (a few ms at most on loopback) until the kernel holds what was written.
    async fn until_readable(stream: &TcpStream) {
        tokio::time::timeout(Duration::from_secs(5), stream.readable())
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn a_commands_connection_reads_for_its_answer_eight_times_ever_less_often() {
        let mut reads = Vec::new();
        let mut elapsed = 0;
        while let Some(wait) = next_peek(elapsed) {
            assert!(wait > 0, "at {elapsed} ms");
            elapsed += wait;
            reads.push(elapsed);
        }
        assert_eq!(reads, [1, 2, 4, 8, 16, 32, 64, 128]);
        // a timer that fires late reads at the next step, not at every ms in between
        assert_eq!(next_peek(5), Some(3));
        assert_eq!(next_peek(128), None);
        assert_eq!(next_peek(PEEK_FOR_MS + 1), None);
    }

    #[tokio::test]
    async fn a_read_outside_the_runtime_takes_what_is_there_and_leaves_the_runtimes_read_working() {
        let (mut agv, mut server) = pair().await;
        assert_eq!(peek(&server), None, "nothing written yet");

        agv.write_all(b"answer").await.unwrap();
        until_readable(&server).await;
        assert_eq!(peek(&server).as_deref(), Some(&b"answer"[..]));
        assert_eq!(peek(&server), None, "the socket was drained");

        // The runtime had seen the socket readable: its read finds nothing and waits again,
        // and still wakes for what comes next.
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_millis(50), server.read(&mut buf)).await;
        assert!(read.is_err(), "the runtime's read must wait: {read:?}");
        agv.write_all(b"next").await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), server.read(&mut buf))
            .await
            .expect("the runtime's read must wake for new input")
            .unwrap();
        assert_eq!(&buf[..n], b"next");

        // The end of the stream is left to the runtime's read, which sees it.
        drop(agv);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(peek(&server), None);
        let n = tokio::time::timeout(Duration::from_secs(5), server.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0);
    }
}
