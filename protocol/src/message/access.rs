//! Communication channel establishment: access request and response, key-exchange
//! confirmation, close.
//!
//! In secure mode the three messages carry the SM2 key exchange of GB/T 32918.3 with the AGV as
//! initiator A and the RCS as responder B: the request carries `R_A` and `ID_A`, the response
//! `R_B`, `ID_B` and the confirmation `S_B`, and the confirm message `S_A`.

use alloc::string::String;
use alloc::vec::Vec;

use crate::address::RcsAddress;
use crate::codec::{wire_enum, wire_struct};
use crate::types::{CloseReason, ResultCode};

wire_enum! {
    /// Access modes.
    pub enum AccessMode: u8 {
        /// Plaintext frames with a CRC.
        Normal = 0,
        /// SM2 key exchange, then SM4-encrypted and authenticated frames.
        Secure = 1,
    }
}

wire_enum! {
    /// Secure-channel profiles (secure mode only).
    pub enum SecureProfile: u8 {
        /// Every frame SM4-encrypted and SM2-signed (the guide's profile).
        Guide = 0,
        /// Every frame SM4-encrypted with a session MAC; SM2 signatures on the handshake and on
        /// safety-critical commands only.
        Fast = 1,
        /// Every frame SM4-GCM-encrypted and authenticated (RFC 8998's SM4-GCM, the tag in the
        /// MAC's place); SM2 signatures on the handshake and on safety-critical commands only,
        /// as in `Fast`.
        Gcm = 2,
    }
}

wire_struct! {
    /// The initiator's key-exchange values.
    pub struct KeyExchangeInit {
        /// Distinguishing identifier `ID_A` (GB/T 32918; default `1234567812345678`).
        pub id: Vec<u8>,
        /// SM3 hash of the AGV's enrolled public key (SEC1 uncompressed), naming which key the
        /// RCS must use.
        pub key_id: [u8; 32],
        /// Ephemeral point `R_A`, SEC1 uncompressed (`04 ‖ x ‖ y`).
        pub ephemeral: [u8; 65],
    }
}

wire_struct! {
    /// The responder's key-exchange values.
    pub struct KeyExchangeReply {
        /// Distinguishing identifier `ID_B`.
        pub id: Vec<u8>,
        /// Ephemeral point `R_B`, SEC1 uncompressed.
        pub ephemeral: [u8; 65],
        /// Confirmation `S_B`.
        pub confirm: [u8; 32],
    }
}

wire_struct! {
    check = AccessRequest::check;
    /// AGV → RCS: asks for access. The AGV id is the header's.
    pub struct AccessRequest {
        /// The mode asked for.
        pub mode: AccessMode,
        /// The profile asked for (ignored in normal mode).
        pub profile: SecureProfile,
        /// Lowest protocol version the AGV speaks.
        pub min_version: u8,
        /// Highest protocol version the AGV speaks.
        pub max_version: u8,
        /// Key-exchange values: present exactly in secure mode.
        pub key_exchange: Option<KeyExchangeInit>,
    }
}

impl AccessRequest {
    fn check(&self) -> Result<(), &'static str> {
        if (self.mode == AccessMode::Secure) != self.key_exchange.is_some() {
            return Err("key exchange values must be present exactly in secure mode");
        }
        if self.min_version > self.max_version {
            return Err("min_version above max_version");
        }
        Ok(())
    }
}

#[cfg(feature = "arbitrary")]
impl crate::arb::Gen for AccessRequest {
    fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use crate::arb::Gen;
        let mode = AccessMode::generate(u)?;
        let a = u8::generate(u)?;
        let b = u8::generate(u)?;
        Ok(Self {
            mode,
            profile: Gen::generate(u)?,
            min_version: a.min(b),
            max_version: a.max(b),
            key_exchange: match mode {
                AccessMode::Secure => Some(Gen::generate(u)?),
                AccessMode::Normal => None,
            },
        })
    }
}
#[cfg(feature = "arbitrary")]
crate::arb::arbitrary_via_gen!(AccessRequest);

wire_struct! {
    check = AccessResponse::check;
    /// RCS → AGV: answers an access request.
    pub struct AccessResponse {
        /// Sequence number of the access request.
        pub request_seq: u32,
        /// `Ok`, or why access is refused (`SecureModeRequired`, `AuthenticationFailed`...).
        pub result: ResultCode,
        /// The mode granted.
        pub mode: AccessMode,
        /// The profile granted.
        pub profile: SecureProfile,
        /// The protocol version chosen.
        pub version: u8,
        /// Session identifier chosen by the RCS (0 when refused).
        pub session_id: u32,
        /// The RCS clock, UTC ms, for the AGV to measure its skew.
        pub server_time_ms: u64,
        /// Key-exchange reply: only in secure mode.
        pub key_exchange: Option<KeyExchangeReply>,
    }
}

impl AccessResponse {
    fn check(&self) -> Result<(), &'static str> {
        if self.key_exchange.is_some() && self.mode != AccessMode::Secure {
            return Err("key exchange reply in normal mode");
        }
        Ok(())
    }
}

#[cfg(feature = "arbitrary")]
impl crate::arb::Gen for AccessResponse {
    fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use crate::arb::Gen;
        let mode = AccessMode::generate(u)?;
        Ok(Self {
            request_seq: Gen::generate(u)?,
            result: Gen::generate(u)?,
            mode,
            profile: Gen::generate(u)?,
            version: Gen::generate(u)?,
            session_id: Gen::generate(u)?,
            server_time_ms: Gen::generate(u)?,
            key_exchange: match mode {
                AccessMode::Secure => Gen::generate(u)?,
                AccessMode::Normal => None,
            },
        })
    }
}
#[cfg(feature = "arbitrary")]
crate::arb::arbitrary_via_gen!(AccessResponse);

wire_struct! {
    /// AGV → RCS: the initiator's confirmation `S_A`, which completes the secure handshake.
    pub struct AccessConfirm {
        /// Sequence number of the access response.
        pub request_seq: u32,
        /// Confirmation `S_A`.
        pub confirm: [u8; 32],
    }
}

wire_struct! {
    check = Close::check;
    /// Either side: the session ends; the sender closes the connection after sending it.
    pub struct Close {
        /// Why.
        pub reason: CloseReason,
        /// Human-readable detail (may be empty). For [`CloseReason::NotActive`] it is the active
        /// RCS instance's address or empty ([`Close::active_address`]).
        pub detail: String,
    }
}

impl Close {
    fn check(&self) -> Result<(), &'static str> {
        if self.reason == CloseReason::NotActive
            && !self.detail.is_empty()
            && RcsAddress::parse(&self.detail).is_err()
        {
            return Err("the detail of a NotActive close is an RCS address or empty");
        }
        Ok(())
    }

    /// The close a standby RCS instance sends (docs/protocol.md 4.4): `NotActive`, naming the
    /// active instance when it knows it.
    pub fn not_active(active: Option<&RcsAddress>) -> Self {
        Self {
            reason: CloseReason::NotActive,
            detail: active.map(|a| String::from(a.as_str())).unwrap_or_default(),
        }
    }

    /// For a `NotActive` close, the active instance it names (`None` for any other close, or
    /// when the standby knows no active instance).
    pub fn active_address(&self) -> Option<RcsAddress> {
        if self.reason != CloseReason::NotActive {
            return None;
        }
        RcsAddress::parse(&self.detail).ok()
    }
}

#[cfg(feature = "arbitrary")]
impl crate::arb::Gen for Close {
    fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        let reason = CloseReason::generate(u)?;
        let detail = if reason == CloseReason::NotActive {
            Option::<RcsAddress>::generate(u)?
                .map(|a| String::from(a.as_str()))
                .unwrap_or_default()
        } else {
            String::generate(u)?
        };
        Ok(Self { reason, detail })
    }
}
#[cfg(feature = "arbitrary")]
crate::arb::arbitrary_via_gen!(Close);
