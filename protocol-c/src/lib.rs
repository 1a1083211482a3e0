//! A C ABI over the AGV end of the rcs protocol: the sans-IO `protocol::session::AgvSession`
//! behind an opaque `RcsAgv *`, in normal mode or in secure mode (SM2/SM3/SM4 through the
//! `crypto` crate).
//!
//! The library does no I/O and reads no clock: the caller owns the socket and passes the UTC
//! time in milliseconds to every call that needs it. A driver loop:
//!
//! 1. `rcs_agv_new` (or `rcs_agv_new_secure`), then `rcs_agv_connect`;
//! 2. bytes read from the socket go to `rcs_agv_handle_input`; when the time from
//!    `rcs_agv_poll_timeout` has come, `rcs_agv_handle_timeout`;
//! 3. the application sends (`rcs_agv_send_status`, `rcs_agv_request_space`...) and answers
//!    commands (`rcs_agv_ack`, `rcs_agv_answer_*`);
//! 4. `rcs_agv_poll_transmit` until `RCS_STATUS_EMPTY` (write each frame to the socket), then
//!    `rcs_agv_poll_event` until `RCS_STATUS_EMPTY`;
//! 5. once `rcs_agv_is_closed`, flush the transmits, close the socket, `rcs_agv_free`.
//!
//! The header is `include/rcs_protocol.h` (generated with cbindgen; `tests/header.rs` keeps it
//! current). The ABI, its memory per session and an example are in docs/c-abi.md; the example
//! AGV is `examples/c-agv/`.
//!
//! No panic crosses the boundary: every exported function checks its pointers (NULL,
//! alignment), lengths and enumerated values, and runs under `catch_unwind`.

pub mod agv;
pub mod convert;
pub mod enums;
pub mod error;
pub mod event;
pub mod ffi;
pub mod hsm;
pub mod types;

pub use agv::RcsAgv;
pub use error::Error;
pub use types::RcsStatus;
