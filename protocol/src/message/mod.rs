//! Every message of the interface guide, one module per message family.
//!
//! [`Message`] is the sum of all of them; [`MessageType`] is the 16-bit type code in the frame
//! header. A response's body starts with the sequence number of the frame it answers
//! (`request_seq`), so a sender can correlate without any other state.

use bytes::BytesMut;

use crate::codec::{Reader, Wire};
use crate::error::{DecodeError, EncodeError};

mod access;
mod charge;
mod config;
mod control;
mod motion;
mod navigation;
mod params;
mod register;
mod space;
mod status;

pub use access::{
    AccessConfirm, AccessMode, AccessRequest, AccessResponse, Close, KeyExchangeInit,
    KeyExchangeReply, SecureProfile,
};
pub use charge::{ChargeControl, ChargeOp, ChargeResult};
pub use config::{AlarmParams, ConfigPush};
pub use control::{Ack, ErrorReport, Heartbeat, HeartbeatAck};
pub use motion::{
    Action, ActionParam, ActionStatus, MotionCommand, PathEdge, PathNode, SafetyStop, StopOp,
    StopReason, TaskControl, TaskOp, TaskProgress, TaskState,
};
pub use navigation::{MapSwitch, MapSwitchResult, NavSwitch, NavSwitchResult};
pub use params::{
    Param, ParamQuery, ParamQueryResponse, ParamResult, ParamSet, ParamSetResponse, ParamValue,
};
pub use register::{
    ActuatorInfo, BatteryInfo, Footprint, MapInfo, RegisterRequest, RegisterResponse, SpeedLimits,
};
pub use space::{
    DenyReason, Region, RevokeReason, SpaceDeny, SpaceGrant, SpaceReason, SpaceRelease,
    SpaceRequest, SpaceRevoke,
};
pub use status::{
    ActuatorStatus, Alarm, ErrorCounter, LoadInfo, OperationReport, StatusReport, Velocity,
};

/// The message type code in the frame header. Values not defined here are kept as they are (and
/// visible in `Debug`), so a receiver can name them in its error reply.
///
/// Codes `0x0100..=0x0FFF` belong to this specification; `0x8000..=0xFFFF` are for vendor
/// messages, which a receiver that does not know them answers with
/// [`ErrorCode::UnknownMessageType`](crate::types::ErrorCode::UnknownMessageType) and otherwise
/// ignores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageType(pub u16);

impl Wire for MessageType {
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
        self.0.encode(w)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        u16::decode(r).map(MessageType)
    }
}

#[cfg(feature = "arbitrary")]
impl crate::arb::Gen for MessageType {
    fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        u.arbitrary().map(MessageType)
    }
}

/// A message's name in docs/protocol.md: its variant's, unless the table names it otherwise.
macro_rules! wire_name {
    ($variant:ident) => {
        stringify!($variant)
    };
    ($variant:ident, $wire:literal) => {
        $wire
    };
}

/// Defines the message table once: the [`MessageType`] constants, the [`Message`] enum and the
/// dispatch between them.
macro_rules! messages {
    ($( $(#[doc = $doc:literal])* $variant:ident = $code:literal as $konst:ident, $dir:literal $(, named $wire:literal)?; )*) => {
        impl MessageType {
            $(
                $(#[doc = $doc])*
                pub const $konst: MessageType = MessageType($code);
            )*
            /// Every type this specification defines: code, name, who sends it, what it is.
            pub const ALL: &'static [(MessageType, &'static str, &'static str, &'static str)] = &[
                $((MessageType::$konst, wire_name!($variant $(, $wire)?), $dir, concat!($($doc),*)),)*
            ];

            /// The message's name in docs/protocol.md, or `None` for a type this specification
            /// does not define. It is the Rust variant's name but for `0x0F02`, the message
            /// `Error`, whose Rust type is [`ErrorReport`] (not to clash with error types).
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(MessageType::$konst => Some(wire_name!($variant $(, $wire)?)),)*
                    _ => None,
                }
            }
        }

        /// A decoded message body.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum Message {
            $(
                $(#[doc = $doc])*
                $variant($variant),
            )*
        }

        impl Message {
            /// The type code of this message.
            pub fn message_type(&self) -> MessageType {
                match self {
                    $(Message::$variant(_) => MessageType::$konst,)*
                }
            }

            /// Appends the body bytes (no header) to `dst`.
            pub fn encode_body(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
                match self {
                    $(Message::$variant(m) => m.encode(dst),)*
                }
            }

            /// Decodes a body of type `message_type`; the body must be consumed exactly.
            /// Offsets in errors count from the body start.
            pub fn decode_body(message_type: MessageType, body: &[u8]) -> Result<Message, DecodeError> {
                let mut r = Reader::new(body);
                let msg = match message_type {
                    $(MessageType::$konst => Message::$variant(Wire::decode(&mut r)?),)*
                    MessageType(value) => return Err(DecodeError::UnknownMessageType { value }),
                };
                r.finish()?;
                Ok(msg)
            }

            /// Decodes a body of type `message_type` into `self`, reusing the heap capacity of
            /// its strings and lists when `self` already holds a message of that type: a
            /// receiver that keeps one `Message` per connection decodes its periodic reports
            /// without allocating. Same checks and errors as [`Message::decode_body`]; on error
            /// `self` holds an unspecified (but valid) message.
            pub fn decode_body_into(&mut self, message_type: MessageType, body: &[u8]) -> Result<(), DecodeError> {
                let mut r = Reader::new(body);
                match (message_type, &mut *self) {
                    $((MessageType::$konst, Message::$variant(m)) => Wire::decode_into(m, &mut r)?,)*
                    _ => {
                        *self = Message::decode_body(message_type, body)?;
                        return Ok(());
                    }
                }
                r.finish()
            }
        }

        $(
            impl From<$variant> for Message {
                fn from(m: $variant) -> Message {
                    Message::$variant(m)
                }
            }
        )*

        #[cfg(feature = "arbitrary")]
        impl Message {
            /// A valid message of type `ty` (feature `arbitrary`); `None` for an undefined type.
            pub fn arbitrary_of_type(
                ty: MessageType,
                u: &mut arbitrary::Unstructured<'_>,
            ) -> Option<arbitrary::Result<Message>> {
                Some(match ty {
                    $(MessageType::$konst => crate::arb::Gen::generate(u).map(Message::$variant),)*
                    _ => return None,
                })
            }
        }

        #[cfg(feature = "arbitrary")]
        impl<'a> arbitrary::Arbitrary<'a> for Message {
            fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
                let ty = u.choose(MessageType::ALL)?.0;
                Message::arbitrary_of_type(ty, u).expect("ALL lists only defined types")
            }
        }
    };
}

messages! {
    /// AGV asks for access (normal or secure mode).
    AccessRequest = 0x0101 as ACCESS_REQUEST, "AGV → RCS";
    /// RCS answers an access request.
    AccessResponse = 0x0102 as ACCESS_RESPONSE, "RCS → AGV";
    /// AGV confirms the key exchange (secure mode).
    AccessConfirm = 0x0103 as ACCESS_CONFIRM, "AGV → RCS";
    /// Either side closes the session.
    Close = 0x0104 as CLOSE, "both";
    /// AGV registers its identity and capabilities.
    RegisterRequest = 0x0201 as REGISTER_REQUEST, "AGV → RCS";
    /// RCS answers a registration.
    RegisterResponse = 0x0202 as REGISTER_RESPONSE, "RCS → AGV";
    /// RCS pushes the global configuration (acknowledged with an Ack).
    ConfigPush = 0x0301 as CONFIG_PUSH, "RCS → AGV";
    /// AGV keeps the link alive.
    Heartbeat = 0x0401 as HEARTBEAT, "AGV → RCS";
    /// RCS answers a heartbeat.
    HeartbeatAck = 0x0402 as HEARTBEAT_ACK, "RCS → AGV";
    /// RCS reads basic parameters.
    ParamQuery = 0x0501 as PARAM_QUERY, "RCS → AGV";
    /// AGV answers a parameter query.
    ParamQueryResponse = 0x0502 as PARAM_QUERY_RESPONSE, "AGV → RCS";
    /// RCS writes basic parameters.
    ParamSet = 0x0503 as PARAM_SET, "RCS → AGV";
    /// AGV answers a parameter write.
    ParamSetResponse = 0x0504 as PARAM_SET_RESPONSE, "AGV → RCS";
    /// RCS sends (or extends) a path with actions (acknowledged with an Ack).
    MotionCommand = 0x0601 as MOTION_COMMAND, "RCS → AGV";
    /// RCS cancels, pauses or resumes a task (acknowledged with an Ack).
    TaskControl = 0x0602 as TASK_CONTROL, "RCS → AGV";
    /// AGV reports task progress.
    TaskProgress = 0x0603 as TASK_PROGRESS, "AGV → RCS";
    /// RCS stops an AGV at once for safety, or lifts that stop (acknowledged with an Ack).
    SafetyStop = 0x0604 as SAFETY_STOP, "RCS → AGV";
    /// RCS starts or stops charging.
    ChargeControl = 0x0701 as CHARGE_CONTROL, "RCS → AGV";
    /// AGV reports the charging outcome.
    ChargeResult = 0x0702 as CHARGE_RESULT, "AGV → RCS";
    /// RCS switches the navigation mode.
    NavSwitch = 0x0801 as NAV_SWITCH, "RCS → AGV";
    /// AGV reports the navigation switch outcome.
    NavSwitchResult = 0x0802 as NAV_SWITCH_RESULT, "AGV → RCS";
    /// RCS switches the map (floor, building).
    MapSwitch = 0x0901 as MAP_SWITCH, "RCS → AGV";
    /// AGV reports the map switch outcome.
    MapSwitchResult = 0x0902 as MAP_SWITCH_RESULT, "AGV → RCS";
    /// AGV asks for a safe space to move autonomously.
    SpaceRequest = 0x0A01 as SPACE_REQUEST, "AGV → RCS";
    /// RCS grants a safe space.
    SpaceGrant = 0x0A02 as SPACE_GRANT, "RCS → AGV";
    /// RCS denies a safe space.
    SpaceDeny = 0x0A03 as SPACE_DENY, "RCS → AGV";
    /// AGV gives a granted space back.
    SpaceRelease = 0x0A04 as SPACE_RELEASE, "AGV → RCS";
    /// RCS takes a granted space back.
    SpaceRevoke = 0x0A05 as SPACE_REVOKE, "RCS → AGV";
    /// AGV reports its state periodically.
    StatusReport = 0x0B01 as STATUS_REPORT, "AGV → RCS";
    /// AGV reports operation data (odometer, run time, counters).
    OperationReport = 0x0B02 as OPERATION_REPORT, "AGV → RCS";
    /// Acknowledges a command with a result code.
    Ack = 0x0F01 as ACK, "both";
    /// Reports a protocol error in a received frame.
    ErrorReport = 0x0F02 as ERROR, "both", named "Error";
}

impl Message {
    /// The sequence number of the frame this message answers, for responses (`request_seq`,
    /// their first field); `None` for requests, commands and reports.
    pub fn request_seq(&self) -> Option<u32> {
        Some(match self {
            Message::AccessResponse(m) => m.request_seq,
            Message::AccessConfirm(m) => m.request_seq,
            Message::RegisterResponse(m) => m.request_seq,
            Message::HeartbeatAck(m) => m.request_seq,
            Message::ParamQueryResponse(m) => m.request_seq,
            Message::ParamSetResponse(m) => m.request_seq,
            Message::ChargeResult(m) => m.request_seq,
            Message::NavSwitchResult(m) => m.request_seq,
            Message::MapSwitchResult(m) => m.request_seq,
            Message::SpaceGrant(m) => m.request_seq,
            Message::SpaceDeny(m) => m.request_seq,
            Message::Ack(m) => m.request_seq,
            Message::ErrorReport(m) if m.request_seq != 0 => m.request_seq,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_type_is_typed_error() {
        assert_eq!(
            Message::decode_body(MessageType(0x8001), &[]),
            Err(DecodeError::UnknownMessageType { value: 0x8001 })
        );
        assert_eq!(MessageType(0x8001).name(), None);
        assert_eq!(MessageType::STATUS_REPORT.name(), Some("StatusReport"));
    }

    #[test]
    fn the_error_message_is_named_error_everywhere() {
        // docs/protocol.md calls 0x0F02 `Error` in its headings, prose and type table.
        assert_eq!(MessageType::ERROR.name(), Some("Error"));
        assert!(
            MessageType::ALL
                .iter()
                .any(|(t, name, _, _)| *t == MessageType::ERROR && *name == "Error")
        );
        assert!(
            MessageType::ALL
                .iter()
                .all(|(_, name, _, _)| *name != "ErrorReport")
        );
    }

    #[test]
    fn type_codes_are_unique() {
        let mut codes: alloc::vec::Vec<u16> = MessageType::ALL.iter().map(|t| t.0.0).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), MessageType::ALL.len());
    }

    #[test]
    fn trailing_bytes_after_body() {
        assert_eq!(
            Message::decode_body(MessageType::HEARTBEAT, &[0]),
            Err(DecodeError::TrailingBytes {
                offset: 0,
                count: 1
            })
        );
    }
}
