//! The Rust side's errors, and the [`RcsStatus`] each is reported to C as.

use protocol::session::SessionError;

use crate::types::RcsStatus;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A required pointer was NULL.
    #[error("{0} is NULL")]
    Null(&'static str),
    /// An argument out of range.
    #[error("{0}")]
    Invalid(String),
    /// The caller's buffer cannot hold the next frame.
    #[error("the buffer holds {have} bytes, the next frame needs {need}")]
    BufferTooSmall {
        /// The buffer's size.
        have: usize,
        /// The frame's.
        need: usize,
    },
    /// The session is not established.
    #[error("the session is not established")]
    NotEstablished,
    /// Too many requests await an answer.
    #[error("too many requests await an answer")]
    Busy,
    /// A secure-mode key is not valid.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// The call does not fit the session's state.
    #[error("{0}")]
    State(&'static str),
    /// A panic was caught at the boundary (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The status C sees.
    pub fn status(&self) -> RcsStatus {
        match self {
            Error::Null(_) => RcsStatus::NullPointer,
            Error::Invalid(_) => RcsStatus::InvalidArgument,
            Error::BufferTooSmall { .. } => RcsStatus::BufferTooSmall,
            Error::NotEstablished => RcsStatus::NotEstablished,
            Error::Busy => RcsStatus::Busy,
            Error::InvalidKey(_) => RcsStatus::InvalidKey,
            Error::State(_) => RcsStatus::State,
            Error::Internal(_) => RcsStatus::Internal,
        }
    }
}

impl From<SessionError> for Error {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotEstablished => Error::NotEstablished,
            SessionError::Busy => Error::Busy,
            SessionError::Encode(e) => Error::Invalid(format!("the message cannot be sent: {e}")),
        }
    }
}

/// A wire enumeration from its C integer, or `Invalid` naming the field.
macro_rules! wire {
    ($ty:ty, $value:expr, $field:literal) => {{
        let value = $value;
        <$ty>::from_raw(value).ok_or_else(|| {
            $crate::error::Error::Invalid(format!(
                "{}: {} is not a defined {} value",
                $field,
                value,
                <$ty>::NAME
            ))
        })
    }};
}
pub(crate) use wire;
