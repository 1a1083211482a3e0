//! Basic-parameter query and set.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::{BufMut, BytesMut};

use crate::codec::{Reader, Wire, wire_struct};
use crate::error::{DecodeError, EncodeError};
use crate::types::{ParamType, ResultCode};

/// A parameter value: a one-byte tag (0 `u32`, 1 `f32`, 2 `bool`, 3 text) then the value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// Tag 0: unsigned integer.
    U32(u32),
    /// Tag 1: number.
    F32(f32),
    /// Tag 2: switch.
    Bool(bool),
    /// Tag 3: text (at most 255 bytes).
    Text(String),
}

impl Wire for ParamValue {
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            ParamValue::U32(v) => {
                w.put_u8(0);
                v.encode(w)
            }
            ParamValue::F32(v) => {
                w.put_u8(1);
                v.encode(w)
            }
            ParamValue::Bool(v) => {
                w.put_u8(2);
                v.encode(w)
            }
            ParamValue::Text(v) => {
                w.put_u8(3);
                v.encode(w)
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        match r.u8()? {
            0 => Wire::decode(r).map(ParamValue::U32),
            1 => Wire::decode(r).map(ParamValue::F32),
            2 => Wire::decode(r).map(ParamValue::Bool),
            3 => Wire::decode(r).map(ParamValue::Text),
            tag => Err(DecodeError::UnknownEnumValue {
                name: "ParamValue",
                value: u32::from(tag),
                offset,
            }),
        }
    }
}

#[cfg(feature = "arbitrary")]
impl crate::arb::Gen for ParamValue {
    fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use crate::arb::Gen;
        Ok(match u.int_in_range(0..=3)? {
            0 => ParamValue::U32(Gen::generate(u)?),
            1 => ParamValue::F32(Gen::generate(u)?),
            2 => ParamValue::Bool(Gen::generate(u)?),
            _ => ParamValue::Text(Gen::generate(u)?),
        })
    }
}

wire_struct! {
    /// One parameter and its value.
    pub struct Param {
        /// Which parameter.
        pub param: ParamType,
        /// Its value.
        pub value: ParamValue,
    }
}

wire_struct! {
    /// RCS → AGV: reads parameters (an empty list reads all the AGV supports).
    pub struct ParamQuery {
        /// Parameters to read.
        pub params: Vec<ParamType>,
    }
}

wire_struct! {
    /// AGV → RCS: the values read.
    pub struct ParamQueryResponse {
        /// Sequence number of the query.
        pub request_seq: u32,
        /// `Ok`, or why nothing could be read.
        pub result: ResultCode,
        /// The values (parameters the AGV does not support are left out).
        pub values: Vec<Param>,
    }
}

wire_struct! {
    /// RCS → AGV: writes parameters; applied all or nothing.
    pub struct ParamSet {
        /// Values to write.
        pub values: Vec<Param>,
    }
}

wire_struct! {
    /// The outcome for one parameter.
    pub struct ParamResult {
        /// Which parameter.
        pub param: ParamType,
        /// Its outcome.
        pub result: ResultCode,
    }
}

wire_struct! {
    /// AGV → RCS: answers a parameter write.
    pub struct ParamSetResponse {
        /// Sequence number of the write.
        pub request_seq: u32,
        /// `Ok` when all were applied; otherwise none was.
        pub result: ResultCode,
        /// Per-parameter outcome.
        pub results: Vec<ParamResult>,
    }
}
