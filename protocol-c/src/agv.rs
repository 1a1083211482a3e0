//! The session behind an `RcsAgv *`: a `protocol::session::AgvSession` in normal or secure mode,
//! the frame that did not fit the caller's buffer, the memory of the current event and the last
//! error's text. Safe Rust: the C boundary is `ffi`.

use std::ffi::CString;
use std::sync::Arc;

use bytes::Bytes;
use crypto::session::AgvHandshake;
use crypto::sign::{CachedVerifier, SigningKey, VerifyingKey};
use protocol::message::{AccessMode, Message, RegisterRequest, SecureProfile};
use protocol::session::{AgvSession, NoCrypto, SessionConfig};
use protocol::types::CloseReason;

use crate::error::Error;
use crate::event::EventStore;
use crate::types::RcsAgvEvent;

/// The secure mode's handshake, with the operating system's random number generator.
type Secure = AgvHandshake<rand_core::UnwrapErr<getrandom::SysRng>>;

/// The session in the mode it was created for.
#[derive(Debug)]
enum Inner {
    Normal(Box<AgvSession<NoCrypto>>),
    Secure(Box<AgvSession<Secure>>),
    Callbacks(Box<AgvSession<crate::hsm::Callbacks>>),
}

/// Runs `$body` with `$s` bound to the session, whichever its mode.
macro_rules! session {
    ($inner:expr, $s:ident => $body:expr) => {
        match $inner {
            Inner::Normal($s) => $body,
            Inner::Secure($s) => $body,
            Inner::Callbacks($s) => $body,
        }
    };
}

/// The cryptography of a secure session.
pub enum Crypto {
    /// Keys given as bytes, the `crypto` crate's SM2/SM3/SM4.
    Keys(Keys),
    /// C callbacks (a hardware security module).
    Callbacks(crate::hsm::Callbacks),
}

/// The keys of a secure session, checked.
pub struct Keys {
    own: Arc<SigningKey>,
    id: Vec<u8>,
    rcs: Arc<CachedVerifier>,
}

impl Keys {
    /// The AGV's private key (32 bytes, big-endian), the RCS's public key (65 bytes SEC1
    /// uncompressed) and the identifier of both (empty: the default).
    pub fn new(private: &[u8; 32], rcs: &[u8; 65], id: &[u8]) -> Result<Self, Error> {
        let id = if id.is_empty() {
            crypto::DEFAULT_ID
        } else {
            id
        };
        let secret = crypto::SecretKey::from_slice(private)
            .map_err(|_| Error::InvalidKey("agv_private_key is not an SM2 private key"))?;
        let own = SigningKey::new(id, secret)
            .map_err(|_| Error::InvalidKey("agv_private_key is not an SM2 private key"))?;
        let rcs = VerifyingKey::from_sec1(id, rcs)
            .map_err(|_| Error::InvalidKey("rcs_public_key is not an SM2 public key"))?;
        Ok(Self {
            own: Arc::new(own),
            id: id.to_vec(),
            rcs: Arc::new(CachedVerifier::new(rcs)),
        })
    }
}

/// One AGV session as C holds it (opaque: C sees `RcsAgv *`).
#[derive(Debug)]
pub struct RcsAgv {
    inner: Inner,
    /// A frame taken from the session that did not fit the caller's buffer: sent next.
    pending: Option<Bytes>,
    events: EventStore,
    last_error: CString,
    /// A panic was caught in a call on this session: it refuses every call from then on.
    pub(crate) poisoned: bool,
}

impl RcsAgv {
    /// A session for AGV `agv_id`: normal mode without `crypto`, secure mode with it.
    pub fn new(
        config: SessionConfig,
        agv_id: u32,
        profile: SecureProfile,
        crypto: Option<Crypto>,
        registration: RegisterRequest,
        now: u64,
    ) -> Self {
        let inner = match crypto {
            None => Inner::Normal(Box::new(AgvSession::new(
                config,
                agv_id,
                AccessMode::Normal,
                profile,
                None,
                registration,
                now,
            ))),
            Some(Crypto::Callbacks(callbacks)) => Inner::Callbacks(Box::new(AgvSession::new(
                config,
                agv_id,
                AccessMode::Secure,
                profile,
                Some(callbacks),
                registration,
                now,
            ))),
            Some(Crypto::Keys(keys)) => {
                let handshake =
                    AgvHandshake::new(keys.own, &keys.id, keys.rcs, crypto::system_rng());
                Inner::Secure(Box::new(AgvSession::new(
                    config,
                    agv_id,
                    AccessMode::Secure,
                    profile,
                    Some(handshake),
                    registration,
                    now,
                )))
            }
        };
        Self {
            inner,
            pending: None,
            events: EventStore::default(),
            last_error: CString::default(),
            poisoned: false,
        }
    }

    /// Starts the session (queues the access request).
    pub fn connect(&mut self, now: u64) -> Result<(), Error> {
        session!(&mut self.inner, s => s.connect(now))
            .map_err(|_| Error::State("the session was already connected"))
    }

    /// Bytes received from the RCS.
    pub fn handle_input(&mut self, now: u64, bytes: &[u8]) {
        session!(&mut self.inner, s => s.handle_input(now, bytes))
    }

    /// The time from `poll_timeout` has come.
    pub fn handle_timeout(&mut self, now: u64) {
        session!(&mut self.inner, s => s.handle_timeout(now))
    }

    /// Copies the next frame to transmit into `buf`: its length, or `None` when there is none.
    /// A frame that does not fit stays queued ([`Error::BufferTooSmall`] says the size).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        let frame = match self.pending.take() {
            Some(frame) => frame,
            None => match session!(&mut self.inner, s => s.poll_transmit()) {
                Some(frame) => frame,
                None => return Ok(None),
            },
        };
        let Some(out) = buf.get_mut(..frame.len()) else {
            let need = frame.len();
            self.pending = Some(frame);
            return Err(Error::BufferTooSmall {
                have: buf.len(),
                need,
            });
        };
        out.copy_from_slice(&frame);
        Ok(Some(frame.len()))
    }

    /// The next event, its pointers into this session's memory.
    pub fn poll_event(&mut self) -> Option<RcsAgvEvent> {
        let event = session!(&mut self.inner, s => s.poll_event())?;
        let (event, message) = self.events.convert(event);
        if let Some(message) = message {
            session!(&mut self.inner, s => s.recycle(message));
        }
        Some(event)
    }

    /// When `handle_timeout` is due (UTC ms), or `None` before connect and after close.
    pub fn poll_timeout(&self) -> Option<u64> {
        session!(&self.inner, s => s.poll_timeout())
    }

    /// Whether access and registration are done.
    pub fn is_established(&self) -> bool {
        session!(&self.inner, s => s.is_established())
    }

    /// Whether the session ended.
    pub fn is_closed(&self) -> bool {
        session!(&self.inner, s => s.is_closed())
    }

    /// Sends a message of this AGV; with `ack_requested` it is resent until answered (a status
    /// report never is; one asks by itself when the AGV has heard nothing for three quarters
    /// of a heartbeat period). Returns its sequence number.
    pub fn send(&mut self, now: u64, message: Message, ack_requested: bool) -> Result<u32, Error> {
        Ok(session!(&mut self.inner, s => s.send(now, message, ack_requested))?)
    }

    /// Answers a command of the RCS.
    pub fn respond(&mut self, now: u64, message: Message) -> Result<(), Error> {
        Ok(session!(&mut self.inner, s => s.respond(now, message))?)
    }

    /// Closes the session.
    pub fn close(&mut self, now: u64, reason: CloseReason) {
        session!(&mut self.inner, s => s.close(now, reason))
    }

    /// Remembers the text of the last error.
    pub(crate) fn set_error(&mut self, error: &Error) {
        self.last_error = CString::new(error.to_string().replace('\0', "")).unwrap_or_default();
    }

    /// The text of the last error ("" when none).
    pub(crate) fn last_error(&self) -> &CString {
        &self.last_error
    }
}
