//! The exported C functions. Each one checks its pointers for NULL and its lengths and values
//! before use, runs its body under `catch_unwind` so no panic crosses into C, and reports an
//! [`RcsStatus`]. A session whose call panicked is marked poisoned and refuses every later
//! call but `rcs_agv_free`.

use core::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use protocol::message::*;
use protocol::types::*;

use crate::agv::{Crypto, Keys, RcsAgv};
use crate::convert::{self, reference, slice};
use crate::enums::*;
use crate::error::{Error, wire};
use crate::hsm::{RcsCryptoCallbacks, RcsGcmCallbacks};
use crate::types::*;

mod send;
pub use send::*;

/// Runs `body` on `agv` (NULL: `RCS_STATUS_NULL_POINTER`), catching panics and recording
/// errors.
fn guard(
    agv: Option<&mut RcsAgv>,
    body: impl FnOnce(&mut RcsAgv) -> Result<RcsStatus, Error>,
) -> RcsStatus {
    let Some(agv) = agv else {
        return RcsStatus::NullPointer;
    };
    if agv.poisoned {
        return RcsStatus::Internal;
    }
    match catch_unwind(AssertUnwindSafe(|| body(agv))) {
        Ok(Ok(status)) => status,
        Ok(Err(error)) => {
            agv.set_error(&error);
            error.status()
        }
        Err(_) => {
            agv.poisoned = true;
            agv.set_error(&Error::Internal(
                "a panic was caught; the session is unusable".into(),
            ));
            RcsStatus::Internal
        }
    }
}

/// Writes `value` to `out` unless `out` is NULL.
///
/// # Safety
/// `out` must be NULL or valid for a write of a `T`.
unsafe fn write_optional<T>(out: *mut T, value: T) {
    if !out.is_null() && out.is_aligned() {
        // SAFETY: not NULL, aligned, and the caller guarantees it is writable.
        unsafe { out.write(value) }
    }
}

/// Writes `value` to `out`, which must not be NULL.
///
/// # Safety
/// `out` must be NULL or valid for a write of a `T`.
unsafe fn write<T>(out: *mut T, value: T, what: &'static str) -> Result<(), Error> {
    if out.is_null() {
        return Err(Error::Null(what));
    }
    if !out.is_aligned() {
        return Err(Error::Invalid(format!("{what}: misaligned pointer")));
    }
    // SAFETY: not NULL, aligned, and the caller guarantees it is writable.
    unsafe { out.write(value) };
    Ok(())
}

/// Fills `config` with the defaults: AGV id 0, normal mode, the guide profile, the default
/// timers (heartbeat 1 s, link timeout 5 s, handshake 10 s, resend after 2 s, 3 resends, frames
/// up to 64 KiB), and a registration with no strings, lists or dimensions: set at least
/// `agv_id`, `footprint` and `speeds` before `rcs_agv_new`.
///
/// # Safety
/// `config` must be NULL or point to writable memory for an `RcsAgvConfig`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_config_init(config: *mut RcsAgvConfig) -> RcsStatus {
    let d = protocol::session::SessionConfig::default();
    let value = RcsAgvConfig {
        agv_id: 0,
        mode: RCS_ACCESS_MODE_NORMAL,
        profile: RCS_SECURE_PROFILE_GUIDE,
        heartbeat_period_ms: d.heartbeat_period_ms as u32,
        link_timeout_ms: d.link_timeout_ms as u32,
        handshake_timeout_ms: d.handshake_timeout_ms as u32,
        command_timeout_ms: d.command_timeout_ms as u32,
        max_retransmits: d.max_retransmits,
        max_frame_len: d.max_frame_len as u32,
        agv_type: RCS_AGV_TYPE_JACKING,
        vendor: core::ptr::null(),
        model: core::ptr::null(),
        serial: core::ptr::null(),
        firmware: core::ptr::null(),
        footprint: RcsFootprint::default(),
        speeds: RcsSpeedLimits::default(),
        load_capacity_kg: 0.0,
        battery_capacity_wh: 0.0,
        battery_nominal_voltage: 0.0,
        navigation_modes: core::ptr::null(),
        navigation_modes_len: 0,
        maps: core::ptr::null(),
        maps_len: 0,
        actuators: core::ptr::null(),
        actuators_len: 0,
    };
    // SAFETY: the caller guarantees NULL or a writable `RcsAgvConfig`.
    match unsafe { write(config, value, "config") } {
        Ok(()) => RcsStatus::Ok,
        Err(e) => e.status(),
    }
}

/// Creates a session from `config` and stores it in `*out`.
///
/// # Safety
/// The pointers must be NULL or valid as `RcsAgvConfig` documents; `out` must be writable.
unsafe fn create(
    config: *const RcsAgvConfig,
    keys: *const RcsSecureKeys,
    callbacks: Option<(RcsCryptoCallbacks, Option<RcsGcmCallbacks>, *const c_char)>,
    now_ms: u64,
    out: *mut *mut RcsAgv,
) -> RcsStatus {
    let result = catch_unwind(|| -> Result<(), Error> {
        if out.is_null() {
            return Err(Error::Null("out"));
        }
        // SAFETY: the caller guarantees `config` and the pointers in it.
        let config = unsafe { reference(config, "config")? };
        // SAFETY: as above.
        let registration = unsafe { convert::registration(config)? };
        let profile = wire!(SecureProfile, config.profile, "profile")?;
        let crypto = if let Some((callbacks, gcm, id)) = callbacks {
            if !callbacks.complete() {
                return Err(Error::Invalid(
                    "callbacks: every callback is required".into(),
                ));
            }
            if gcm.is_some_and(|g| !g.complete()) {
                return Err(Error::Invalid("gcm: seal and open are required".into()));
            }
            if profile == SecureProfile::Gcm && gcm.is_none() {
                // The gcm profile needs an SM4-GCM operation (docs/protocol.md 10.2).
                return Err(Error::Invalid(
                    "profile: the gcm profile needs SM4-GCM callbacks \
                     (rcs_agv_new_with_crypto_gcm) or the library's own cryptography \
                     (rcs_agv_new_secure)"
                        .into(),
                ));
            }
            // SAFETY: documented as NULL or a NUL-terminated string.
            let id = unsafe { convert::string(id, "id")? };
            let id = if id.is_empty() {
                crypto::DEFAULT_ID.to_vec()
            } else {
                id.into_bytes()
            };
            Some(Crypto::Callbacks(crate::hsm::Callbacks::new(
                callbacks, gcm, id,
            )))
        } else if keys.is_null() {
            None
        } else {
            // SAFETY: the caller guarantees `keys` and the pointers in it.
            let keys = unsafe { reference(keys, "keys")? };
            // SAFETY: documented as 32 readable bytes.
            let private = unsafe { slice(keys.agv_private_key, 32, "agv_private_key")? };
            // SAFETY: documented as 65 readable bytes.
            let rcs = unsafe { slice(keys.rcs_public_key, 65, "rcs_public_key")? };
            // SAFETY: documented as NULL or a NUL-terminated string.
            let id = unsafe { convert::string(keys.id, "id")? };
            let private: &[u8; 32] = private.try_into().map_err(|_| Error::Null("key"))?;
            let rcs: &[u8; 65] = rcs.try_into().map_err(|_| Error::Null("key"))?;
            Some(Crypto::Keys(Keys::new(private, rcs, id.as_bytes())?))
        };
        let agv = RcsAgv::new(
            convert::session_config(config),
            config.agv_id,
            profile,
            crypto,
            registration,
            now_ms,
        );
        let agv = Box::into_raw(Box::new(agv));
        // SAFETY: `out` is not NULL and the caller guarantees it is writable.
        if let Err(e) = unsafe { write(out, agv, "out") } {
            // SAFETY: just made by `Box::into_raw` and not handed out.
            drop(unsafe { Box::from_raw(agv) });
            return Err(e);
        }
        Ok(())
    });
    match result {
        Ok(Ok(())) => RcsStatus::Ok,
        Ok(Err(e)) => e.status(),
        Err(_) => RcsStatus::Internal,
    }
}

/// Creates a normal-mode session (plaintext frames with a CRC) and stores it in `*out`. `now_ms`
/// is the current UTC time in ms (the library never reads a clock). Free it with
/// `rcs_agv_free`.
///
/// # Safety
/// `config` must point to an initialised `RcsAgvConfig` whose pointers are valid for the call;
/// `out` must be writable. Nothing is kept of `config` after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_new(
    config: *const RcsAgvConfig,
    now_ms: u64,
    out: *mut *mut RcsAgv,
) -> RcsStatus {
    // SAFETY: the caller's guarantees are those `create` needs; no keys.
    unsafe { create(config, core::ptr::null(), None, now_ms, out) }
}

/// Creates a secure-mode session (SM2 key exchange, SM4-encrypted frames, SM2 signatures, SM3
/// MACs or SM4-GCM tags per `config->profile`) with `keys`, and stores it in `*out`.
///
/// # Safety
/// As `rcs_agv_new`; `keys` must point to an `RcsSecureKeys` whose key pointers hold 32 and 65
/// readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_new_secure(
    config: *const RcsAgvConfig,
    keys: *const RcsSecureKeys,
    now_ms: u64,
    out: *mut *mut RcsAgv,
) -> RcsStatus {
    if keys.is_null() {
        return RcsStatus::NullPointer;
    }
    // SAFETY: the caller's guarantees are those `create` needs.
    unsafe { create(config, keys, None, now_ms, out) }
}

/// Creates a secure-mode session whose cryptography is done by `callbacks` (a hardware security
/// module holding the AGV's key and the session keys; see `RcsCryptoCallbacks`), and stores it
/// in `*out`. `id` is the AGV key's distinguishing identifier (NULL: `1234567812345678`).
/// The callbacks' `user` must stay valid until the session is freed. The callbacks have no
/// SM4-GCM operation, so `config->profile` `RCS_SECURE_PROFILE_GCM` is refused
/// (`RCS_STATUS_INVALID_ARGUMENT`): fast or guide, or `rcs_agv_new_with_crypto_gcm`.
///
/// # Safety
/// As `rcs_agv_new`; `callbacks` must point to an `RcsCryptoCallbacks` whose functions keep
/// their documented contracts; `id` must be NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_new_with_crypto(
    config: *const RcsAgvConfig,
    callbacks: *const RcsCryptoCallbacks,
    id: *const c_char,
    now_ms: u64,
    out: *mut *mut RcsAgv,
) -> RcsStatus {
    // SAFETY: the caller guarantees NULL or a valid `RcsCryptoCallbacks`.
    let callbacks = match unsafe { reference(callbacks, "callbacks") } {
        Ok(callbacks) => *callbacks,
        Err(e) => return e.status(),
    };
    // SAFETY: the caller's guarantees are those `create` needs.
    unsafe {
        create(
            config,
            core::ptr::null(),
            Some((callbacks, None, id)),
            now_ms,
            out,
        )
    }
}

/// As `rcs_agv_new_with_crypto`, with SM4-GCM in C as well (`gcm`, both callbacks required;
/// they get `callbacks->user`), so `config->profile` may also be `RCS_SECURE_PROFILE_GCM`
/// (docs/protocol.md 10.2): the module seals and opens that profile's frames with its session
/// keys.
///
/// # Safety
/// As `rcs_agv_new_with_crypto`; `gcm` must point to an `RcsGcmCallbacks` whose functions keep
/// their documented contracts.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_new_with_crypto_gcm(
    config: *const RcsAgvConfig,
    callbacks: *const RcsCryptoCallbacks,
    gcm: *const RcsGcmCallbacks,
    id: *const c_char,
    now_ms: u64,
    out: *mut *mut RcsAgv,
) -> RcsStatus {
    // SAFETY: the caller guarantees NULL or valid structures.
    let (callbacks, gcm) =
        match unsafe { (reference(callbacks, "callbacks"), reference(gcm, "gcm")) } {
            (Ok(callbacks), Ok(gcm)) => (*callbacks, *gcm),
            (Err(e), _) | (_, Err(e)) => return e.status(),
        };
    // SAFETY: the caller's guarantees are those `create` needs.
    unsafe {
        create(
            config,
            core::ptr::null(),
            Some((callbacks, Some(gcm), id)),
            now_ms,
            out,
        )
    }
}

/// Frees a session (NULL: nothing). The pointer must not be used afterwards.
///
/// # Safety
/// `agv` must be NULL or a pointer from `rcs_agv_new*` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_free(agv: *mut RcsAgv) {
    if !agv.is_null() {
        // SAFETY: the caller guarantees a live pointer from `Box::into_raw`, freed once. A
        // panic in a destructor is caught so it does not unwind into C.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(agv) })));
    }
}

/// Starts the session: queues the access request (then registration follows by itself).
///
/// # Safety
/// `agv` must be NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_connect(agv: *mut RcsAgv, now_ms: u64) -> RcsStatus {
    // SAFETY: the caller guarantees NULL or a live session.
    let agv = unsafe { agv.as_mut() };
    guard(agv, |agv| agv.connect(now_ms).map(|()| RcsStatus::Ok))
}

/// Hands the session `len` bytes received from the RCS (any split of the stream).
///
/// # Safety
/// `agv` must be NULL or a live session; `bytes` must hold `len` readable bytes (NULL when
/// `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_handle_input(
    agv: *mut RcsAgv,
    now_ms: u64,
    bytes: *const u8,
    len: usize,
) -> RcsStatus {
    // SAFETY: the caller guarantees NULL or a live session.
    let agv = unsafe { agv.as_mut() };
    guard(agv, |agv| {
        if len > isize::MAX as usize {
            return Err(Error::Invalid("len: too large".into()));
        }
        let bytes = if len == 0 {
            &[][..]
        } else if bytes.is_null() {
            return Err(Error::Null("bytes"));
        } else {
            // SAFETY: not NULL, `u8` needs no alignment, and the caller guarantees `len`
            // readable bytes.
            unsafe { core::slice::from_raw_parts(bytes, len) }
        };
        agv.handle_input(now_ms, bytes);
        Ok(RcsStatus::Ok)
    })
}

/// Lets the session act on the time: heartbeats, resends, liveness, the handshake timeout.
/// Call it when the time `rcs_agv_poll_timeout` gave has come (calling it earlier is harmless).
///
/// # Safety
/// `agv` must be NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_handle_timeout(agv: *mut RcsAgv, now_ms: u64) -> RcsStatus {
    // SAFETY: the caller guarantees NULL or a live session.
    let agv = unsafe { agv.as_mut() };
    guard(agv, |agv| {
        agv.handle_timeout(now_ms);
        Ok(RcsStatus::Ok)
    })
}

/// Copies the next frame to send to the RCS into `buf` (`cap` bytes) and its length into
/// `*written`. `RCS_STATUS_EMPTY`: nothing to send. `RCS_STATUS_BUFFER_TOO_SMALL`: `*written`
/// holds the size needed and the frame stays queued. Call until `RCS_STATUS_EMPTY` after every
/// input, timeout and send; write each frame whole, in order.
///
/// # Safety
/// `agv` must be NULL or a live session; `buf` must hold `cap` writable bytes; `written` must
/// be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_poll_transmit(
    agv: *mut RcsAgv,
    buf: *mut u8,
    cap: usize,
    written: *mut usize,
) -> RcsStatus {
    // SAFETY: the caller guarantees NULL or a live session.
    let agv = unsafe { agv.as_mut() };
    guard(agv, |agv| {
        if written.is_null() {
            return Err(Error::Null("written"));
        }
        if cap > isize::MAX as usize {
            return Err(Error::Invalid("cap: too large".into()));
        }
        let buf = if cap == 0 {
            &mut [][..]
        } else if buf.is_null() {
            return Err(Error::Null("buf"));
        } else {
            // SAFETY: not NULL, and the caller guarantees `cap` writable bytes.
            unsafe { core::slice::from_raw_parts_mut(buf, cap) }
        };
        let (status, n) = match agv.poll_transmit(buf) {
            Ok(Some(n)) => (RcsStatus::Ok, n),
            Ok(None) => (RcsStatus::Empty, 0),
            Err(Error::BufferTooSmall { need, have }) => {
                agv.set_error(&Error::BufferTooSmall { need, have });
                (RcsStatus::BufferTooSmall, need)
            }
            Err(e) => return Err(e),
        };
        // SAFETY: checked not NULL above; the caller guarantees it is writable.
        unsafe { write(written, n, "written")? };
        Ok(status)
    })
}

/// Takes the next event into `*event`. `RCS_STATUS_EMPTY`: none. The event's pointers stay
/// valid until the next call of this function or `rcs_agv_free` on the session.
///
/// # Safety
/// `agv` must be NULL or a live session; `event` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_poll_event(
    agv: *mut RcsAgv,
    event: *mut RcsAgvEvent,
) -> RcsStatus {
    // SAFETY: the caller guarantees NULL or a live session.
    let agv = unsafe { agv.as_mut() };
    guard(agv, |agv| {
        if event.is_null() {
            return Err(Error::Null("event"));
        }
        match agv.poll_event() {
            Some(e) => {
                // SAFETY: checked not NULL; the caller guarantees it is writable.
                unsafe { write(event, e, "event")? };
                Ok(RcsStatus::Ok)
            }
            None => Ok(RcsStatus::Empty),
        }
    })
}

/// Stores in `*at_ms` when `rcs_agv_handle_timeout` is due (UTC ms). `RCS_STATUS_EMPTY`: no
/// timer (before connect, after close).
///
/// # Safety
/// `agv` must be NULL or a live session; `at_ms` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_poll_timeout(agv: *mut RcsAgv, at_ms: *mut u64) -> RcsStatus {
    // SAFETY: the caller guarantees NULL or a live session.
    let agv = unsafe { agv.as_mut() };
    guard(agv, |agv| match agv.poll_timeout() {
        Some(t) => {
            // SAFETY: the caller guarantees NULL or a writable `u64`.
            unsafe { write(at_ms, t, "at_ms")? };
            Ok(RcsStatus::Ok)
        }
        None => Ok(RcsStatus::Empty),
    })
}

/// Whether access and registration are done (false for NULL).
///
/// # Safety
/// `agv` must be NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_is_established(agv: *const RcsAgv) -> bool {
    // SAFETY: the caller guarantees NULL or a live session.
    unsafe { agv.as_ref() }.is_some_and(|a| !a.poisoned && a.is_established())
}

/// Whether the session ended (true for NULL and for a session that caught an internal error).
/// Send what is left to transmit, then close the connection.
///
/// # Safety
/// `agv` must be NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_is_closed(agv: *const RcsAgv) -> bool {
    // SAFETY: the caller guarantees NULL or a live session.
    unsafe { agv.as_ref() }.is_none_or(|a| a.poisoned || a.is_closed())
}

/// Closes the session with `reason` (`RCS_CLOSE_REASON_*`): a Close frame is queued.
///
/// # Safety
/// `agv` must be NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_close(
    agv: *mut RcsAgv,
    now_ms: u64,
    reason: RcsCloseReason,
) -> RcsStatus {
    // SAFETY: the caller guarantees NULL or a live session.
    let agv = unsafe { agv.as_mut() };
    guard(agv, |agv| {
        agv.close(now_ms, wire!(CloseReason, reason, "reason")?);
        Ok(RcsStatus::Ok)
    })
}

/// The text of the last error on this session ("" when none; "" for NULL). Valid until the
/// next call on the session.
///
/// # Safety
/// `agv` must be NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rcs_agv_last_error(agv: *const RcsAgv) -> *const c_char {
    // SAFETY: the caller guarantees NULL or a live session.
    match unsafe { agv.as_ref() } {
        Some(agv) => agv.last_error().as_ptr(),
        None => c"".as_ptr(),
    }
}

/// The name of a status, as a static string (`"RCS_STATUS_OK"`...).
/// Takes an `int` so any value from C is safe: an unknown one is `"RCS_STATUS_UNKNOWN"`.
#[unsafe(no_mangle)]
pub extern "C" fn rcs_status_name(status: i32) -> *const c_char {
    let name: &'static CStr = match status {
        0 => c"RCS_STATUS_OK",
        1 => c"RCS_STATUS_EMPTY",
        2 => c"RCS_STATUS_NULL_POINTER",
        3 => c"RCS_STATUS_INVALID_ARGUMENT",
        4 => c"RCS_STATUS_BUFFER_TOO_SMALL",
        5 => c"RCS_STATUS_NOT_ESTABLISHED",
        6 => c"RCS_STATUS_BUSY",
        7 => c"RCS_STATUS_INVALID_KEY",
        8 => c"RCS_STATUS_STATE",
        9 => c"RCS_STATUS_INTERNAL",
        _ => c"RCS_STATUS_UNKNOWN",
    };
    name.as_ptr()
}
