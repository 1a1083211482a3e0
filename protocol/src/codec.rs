//! The body codec: how each field type is laid out, and the macros that define messages.
//!
//! Private to the crate. Bodies are parsed with nom's *complete* parsers over the exact,
//! length-delimited body slice (a short body is a hard error, never "need more"): nom's `take`
//! splits each field off, `from_le_bytes` converts it (nom's integer parsers assemble values
//! byte by byte, which measured twice as slow on a status report). All integers
//! and floats are little-endian. Layout rules (docs/protocol.md, "Field encodings"):
//!
//! | type | bytes |
//! |---|---|
//! | `u8`/`u16`/`u32`/`u64`, `i32` | 1/2/4/8, 4, little-endian |
//! | `f32`/`f64` | IEEE 754 little-endian, must be finite |
//! | `bool` | 1 byte, 0 or 1 |
//! | `String` | `u8` byte length, then UTF-8 (at most 255 bytes) |
//! | `Vec<T>` | `u16` element count, then the elements |
//! | `Option<T>` | `u8` presence (0 or 1), then the value when present |
//! | `[u8; N]` | N raw bytes |

use alloc::string::String;
use alloc::vec::Vec;
use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};

/// A cursor over one message body. Tracks the offset for error reports.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    start_len: usize,
}

type NomErr<'a> = nom::error::Error<&'a [u8]>;

impl<'a> Reader<'a> {
    #[inline]
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            start_len: input.len(),
        }
    }

    /// Offset of the next unread byte from the start of the body.
    #[inline]
    pub(crate) fn offset(&self) -> usize {
        self.start_len - self.input.len()
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.input.len()
    }

    /// Runs one complete nom parser of a fixed-size value.
    #[inline(always)]
    fn run<T>(
        &mut self,
        size: usize,
        parser: impl FnOnce(&'a [u8]) -> nom::IResult<&'a [u8], T, NomErr<'a>>,
    ) -> Result<T, DecodeError> {
        match parser(self.input) {
            Ok((rest, value)) => {
                self.input = rest;
                Ok(value)
            }
            Err(_) => Err(DecodeError::Truncated {
                offset: self.offset(),
                needed: size - self.input.len().min(size),
            }),
        }
    }

    /// Splits `N` bytes off the front with nom's complete `take`; the conversion from
    /// little-endian bytes is `from_le_bytes` (one load, where nom's integer parsers assemble
    /// the value byte by byte).
    #[inline(always)]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.run(N, nom::bytes::complete::take(N))?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        self.array::<1>().map(|[b]| b)
    }
    #[inline]
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_le_bytes)
    }
    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_le_bytes)
    }
    #[inline]
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_le_bytes)
    }
    #[inline]
    pub(crate) fn i32(&mut self) -> Result<i32, DecodeError> {
        self.array().map(i32::from_le_bytes)
    }

    /// Takes exactly `n` bytes.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let offset = self.offset();
        match nom::bytes::complete::take::<usize, &'a [u8], NomErr<'a>>(n)(self.input) {
            Ok((rest, taken)) => {
                self.input = rest;
                Ok(taken)
            }
            Err(_) => Err(DecodeError::Truncated {
                offset,
                needed: n - self.input.len(),
            }),
        }
    }

    /// Fails unless every byte was consumed.
    #[inline]
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                offset: self.offset(),
                count: self.input.len(),
            })
        }
    }
}

/// A value with a wire layout.
pub(crate) trait Wire: Sized {
    /// Appends the value. Fails (leaving partial output the caller discards) when the value
    /// cannot be represented.
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError>;
    /// Reads one value.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    /// Reads one value into `self`, reusing its heap capacity (strings, lists) so a receiver
    /// that keeps one message per connection decodes without allocating. On error `self` holds
    /// a partly overwritten value.
    #[inline]
    fn decode_into(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        *self = Self::decode(r)?;
        Ok(())
    }
}

macro_rules! wire_int {
    ($($ty:ty => $read:ident, $put:ident;)*) => {$(
        impl Wire for $ty {
            #[inline]
            fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
                w.$put(*self);
                Ok(())
            }
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.$read()
            }
        }
    )*};
}

wire_int! {
    u8 => u8, put_u8;
    u16 => u16, put_u16_le;
    u32 => u32, put_u32_le;
    u64 => u64, put_u64_le;
    i32 => i32, put_i32_le;
}

impl Wire for f32 {
    #[inline]
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
        if !self.is_finite() {
            return Err(EncodeError::NonFinite);
        }
        w.put_f32_le(*self);
        Ok(())
    }
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let v = f32::from_bits(r.u32()?);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(DecodeError::NonFinite { offset })
        }
    }
}

impl Wire for f64 {
    #[inline]
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
        if !self.is_finite() {
            return Err(EncodeError::NonFinite);
        }
        w.put_f64_le(*self);
        Ok(())
    }
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let v = f64::from_bits(r.u64()?);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(DecodeError::NonFinite { offset })
        }
    }
}

impl Wire for bool {
    #[inline]
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
        w.put_u8(u8::from(*self));
        Ok(())
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        match r.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidBool { value, offset }),
        }
    }
}

impl Wire for String {
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
        let len =
            u8::try_from(self.len()).map_err(|_| EncodeError::StringTooLong { len: self.len() })?;
        w.put_u8(len);
        w.put_slice(self.as_bytes());
        Ok(())
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = usize::from(r.u8()?);
        let offset = r.offset();
        let bytes = r.take(len)?;
        core::str::from_utf8(bytes)
            .map(String::from)
            .map_err(|_| DecodeError::InvalidUtf8 { offset })
    }
    fn decode_into(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        let len = usize::from(r.u8()?);
        let offset = r.offset();
        let bytes = r.take(len)?;
        if self.as_bytes() == bytes {
            // A message decoded into the one before it mostly repeats its strings (a status
            // report's load ids): those bytes are this string's, valid UTF-8 already.
            return Ok(());
        }
        let text = core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { offset })?;
        self.clear();
        self.push_str(text);
        Ok(())
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
        let len =
            u16::try_from(self.len()).map_err(|_| EncodeError::ListTooLong { len: self.len() })?;
        w.put_u16_le(len);
        self.iter().try_for_each(|item| item.encode(w))
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = usize::from(r.u16()?);
        // Every element takes at least one byte: never reserve more than the body could hold.
        let mut items = Vec::with_capacity(count.min(r.remaining()));
        for _ in 0..count {
            items.push(T::decode(r)?);
        }
        Ok(items)
    }
    fn decode_into(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        let count = usize::from(r.u16()?);
        // Elements already there are decoded in place (keeping their own capacity).
        self.truncate(count);
        for item in self.iter_mut() {
            item.decode_into(r)?;
        }
        if count > self.len() {
            self.reserve((count - self.len()).min(r.remaining()));
            for _ in self.len()..count {
                self.push(T::decode(r)?);
            }
        }
        Ok(())
    }
}

impl<T: Wire> Wire for Option<T> {
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            None => {
                w.put_u8(0);
                Ok(())
            }
            Some(v) => {
                w.put_u8(1);
                v.encode(w)
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if bool::decode(r)? {
            T::decode(r).map(Some)
        } else {
            Ok(None)
        }
    }
    fn decode_into(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        match (bool::decode(r)?, self.as_mut()) {
            (true, Some(value)) => value.decode_into(r),
            (true, None) => T::decode(r).map(|v| *self = Some(v)),
            (false, _) => {
                *self = None;
                Ok(())
            }
        }
    }
}

impl<const N: usize> Wire for [u8; N] {
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
        w.put_slice(self);
        Ok(())
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(r.take(N)?);
        Ok(out)
    }
}

/// Defines a wire enumeration: a Rust enum over an integer, whose decoder rejects values the
/// table does not define, and whose variant docs become the table in docs/protocol.md.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $repr:ident {
            $(
                $(#[doc = $doc:literal])*
                $variant:ident = $value:literal,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr($repr)]
        pub enum $name {
            $(
                $(#[doc = $doc])*
                $variant = $value,
            )+
        }

        impl $name {
            /// Every defined value, in table order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// The enumeration's name on the wire and in documentation.
            pub const NAME: &'static str = stringify!($name);
            /// `(value, variant name, description)` rows: the table in docs/protocol.md.
            pub const TABLE: &'static [(u32, &'static str, &'static str)] = &[
                $(($value, stringify!($variant), concat!($($doc),*)),)+
            ];

            /// The value on the wire.
            pub const fn to_raw(self) -> $repr {
                self as $repr
            }

            /// The variant for a wire value, or `None` for a value the table does not define.
            pub const fn from_raw(value: $repr) -> Option<Self> {
                match value {
                    $($value => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl TryFrom<$repr> for $name {
            type Error = $crate::error::DecodeError;
            fn try_from(value: $repr) -> Result<Self, $crate::error::DecodeError> {
                Self::from_raw(value).ok_or($crate::error::DecodeError::UnknownEnumValue {
                    name: Self::NAME,
                    value: u32::from(value),
                    offset: 0,
                })
            }
        }

        impl $crate::codec::Wire for $name {
            fn encode(&self, w: &mut bytes::BytesMut) -> Result<(), $crate::error::EncodeError> {
                $crate::codec::Wire::encode(&self.to_raw(), w)
            }
            fn decode(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::error::DecodeError> {
                let offset = r.offset();
                let raw = <$repr as $crate::codec::Wire>::decode(r)?;
                Self::from_raw(raw).ok_or($crate::error::DecodeError::UnknownEnumValue {
                    name: Self::NAME,
                    value: u32::from(raw),
                    offset,
                })
            }
        }

        #[cfg(feature = "arbitrary")]
        impl $crate::arb::Gen for $name {
            fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
                Ok(*u.choose(Self::ALL)?)
            }
        }
        #[cfg(feature = "arbitrary")]
        $crate::arb::arbitrary_via_gen!($name);
    };
}

/// Defines a wire structure: its fields are laid out one after the other in declaration order.
///
/// With `check = path;` the decoded (and to-be-encoded) value is passed to
/// `path(&value) -> Result<(), &'static str>`, which enforces rules across fields; such types
/// write their own `Arbitrary` implementation that respects the rules.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty,
            )*
        }
    ) => {
        $crate::codec::wire_struct!(@define $(#[$meta])* $name { $($(#[$fmeta])* $field: $ty,)* });

        #[cfg(feature = "arbitrary")]
        impl $crate::arb::Gen for $name {
            #[allow(unused_variables)]
            fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
                Ok(Self { $($field: $crate::arb::Gen::generate(u)?,)* })
            }
        }
        #[cfg(feature = "arbitrary")]
        $crate::arb::arbitrary_via_gen!($name);

        impl $crate::codec::Wire for $name {
            #[allow(unused_variables)]
            fn encode(&self, w: &mut bytes::BytesMut) -> Result<(), $crate::error::EncodeError> {
                $($crate::codec::Wire::encode(&self.$field, w)?;)*
                Ok(())
            }
            #[allow(unused_variables)]
            #[inline]
            fn decode(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::error::DecodeError> {
                Ok(Self { $($field: $crate::codec::Wire::decode(r)?,)* })
            }
            // (`unused_mut`, `almost_swapped`: a struct without fields reads nothing.)
            #[allow(unused_variables, unused_mut, clippy::almost_swapped)]
            #[inline]
            fn decode_into(&mut self, r: &mut $crate::codec::Reader<'_>) -> Result<(), $crate::error::DecodeError> {
                // Read through a local copy of the cursor, written back once at the end (after
                // an error the caller drops the cursor): its position stays in registers
                // between fields instead of being stored after each one.
                let mut l = *r;
                $($crate::codec::Wire::decode_into(&mut self.$field, &mut l)?;)*
                *r = l;
                Ok(())
            }
        }
    };
    (
        check = $check:path, generated = $valid:path;
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty,
            )*
        }
    ) => {
        $crate::codec::wire_struct!(
            check = $check;
            $(#[$meta])* pub struct $name { $($(#[$fmeta])* pub $field: $ty,)* }
        );

        // Generated field by field, then brought within the check's rules by `$valid`.
        #[cfg(feature = "arbitrary")]
        impl $crate::arb::Gen for $name {
            #[allow(unused_variables)]
            fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
                let mut value = Self { $($field: $crate::arb::Gen::generate(u)?,)* };
                $valid(&mut value);
                Ok(value)
            }
        }
        #[cfg(feature = "arbitrary")]
        $crate::arb::arbitrary_via_gen!($name);
    };
    (
        check = $check:path;
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty,
            )*
        }
    ) => {
        $crate::codec::wire_struct!(@define $(#[$meta])* $name { $($(#[$fmeta])* $field: $ty,)* });

        impl $crate::codec::Wire for $name {
            fn encode(&self, w: &mut bytes::BytesMut) -> Result<(), $crate::error::EncodeError> {
                $check(self).map_err(|reason| $crate::error::EncodeError::InvalidValue { reason })?;
                $($crate::codec::Wire::encode(&self.$field, w)?;)*
                Ok(())
            }
            fn decode(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::error::DecodeError> {
                let offset = r.offset();
                let value = Self { $($field: $crate::codec::Wire::decode(r)?,)* };
                $check(&value).map_err(|reason| $crate::error::DecodeError::InvalidValue { reason, offset })?;
                Ok(value)
            }
            #[allow(unused_mut, clippy::almost_swapped)]
            fn decode_into(&mut self, r: &mut $crate::codec::Reader<'_>) -> Result<(), $crate::error::DecodeError> {
                let offset = r.offset();
                let mut l = *r;
                $($crate::codec::Wire::decode_into(&mut self.$field, &mut l)?;)*
                *r = l;
                $check(self).map_err(|reason| $crate::error::DecodeError::InvalidValue { reason, offset })
            }
        }
    };
    (@define $(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }
    };
}

pub(crate) use {wire_enum, wire_struct};

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<T: Wire + PartialEq + core::fmt::Debug>(v: T) -> BytesMut {
        let mut w = BytesMut::new();
        v.encode(&mut w).unwrap();
        let mut r = Reader::new(&w);
        assert_eq!(T::decode(&mut r).unwrap(), v);
        r.finish().unwrap();
        w
    }

    #[test]
    fn integers_are_little_endian() {
        assert_eq!(&roundtrip(0x0102_0304u32)[..], &[4, 3, 2, 1]);
        assert_eq!(&roundtrip(-2i32)[..], &[0xfe, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn a_string_decoded_over_an_equal_one_is_kept_and_any_other_checked() {
        let mut w = BytesMut::new();
        String::from("LD-1").encode(&mut w).unwrap();
        let mut s = String::from("LD-1");
        let buffer = s.as_ptr();
        s.decode_into(&mut Reader::new(&w)).unwrap();
        assert_eq!((s.as_str(), s.as_ptr()), ("LD-1", buffer));
        let mut s = String::from("LD-22");
        s.decode_into(&mut Reader::new(&w)).unwrap();
        assert_eq!(s, "LD-1");
        // Bytes that are not UTF-8 are refused whatever the string held before.
        for held in ["", "LD-1", "\u{fffd}\u{fffd}"] {
            let mut s = String::from(held);
            assert!(matches!(
                s.decode_into(&mut Reader::new(&[2, 0xff, 0xfe])),
                Err(DecodeError::InvalidUtf8 { offset: 1 })
            ));
        }
    }

    #[test]
    fn string_has_u8_length_prefix_and_rejects_long() {
        assert_eq!(&roundtrip(String::from("AB"))[..], b"\x02AB");
        let long = "x".repeat(256);
        assert_eq!(
            long.encode(&mut BytesMut::new()),
            Err(EncodeError::StringTooLong { len: 256 })
        );
    }

    #[test]
    fn invalid_utf8_is_reported_at_its_offset() {
        let mut r = Reader::new(&[2, 0xff, 0xfe]);
        assert_eq!(
            String::decode(&mut r),
            Err(DecodeError::InvalidUtf8 { offset: 1 })
        );
    }

    #[test]
    fn truncated_reports_offset_and_need() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(
            r.u32(),
            Err(DecodeError::Truncated {
                offset: 1,
                needed: 2
            })
        );
    }

    #[test]
    fn non_finite_floats_are_rejected_both_ways() {
        assert_eq!(
            f64::NAN.encode(&mut BytesMut::new()),
            Err(EncodeError::NonFinite)
        );
        let bytes = f32::INFINITY.to_bits().to_le_bytes();
        assert_eq!(
            f32::decode(&mut Reader::new(&bytes)),
            Err(DecodeError::NonFinite { offset: 0 })
        );
    }

    #[test]
    fn bool_and_option_reject_other_bytes() {
        assert_eq!(
            bool::decode(&mut Reader::new(&[2])),
            Err(DecodeError::InvalidBool {
                value: 2,
                offset: 0
            })
        );
        assert_eq!(
            Option::<u8>::decode(&mut Reader::new(&[7, 1])),
            Err(DecodeError::InvalidBool {
                value: 7,
                offset: 0
            })
        );
        roundtrip(Some(5u16));
        roundtrip(None::<u16>);
    }

    #[test]
    fn huge_list_count_does_not_preallocate() {
        // count 65535 but only 2 bytes follow: must fail cleanly, not allocate 65535 elements
        let mut r = Reader::new(&[0xff, 0xff, 1, 2]);
        assert!(matches!(
            Vec::<u32>::decode(&mut r),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn decode_into_reuses_and_matches_decode() {
        let mut w = BytesMut::new();
        alloc::vec![String::from("a"), String::from("bcd")]
            .encode(&mut w)
            .unwrap();
        let mut v: Vec<String> = (0..5).map(|_| String::with_capacity(64)).collect();
        let ptr = v[0].as_ptr();
        v.decode_into(&mut Reader::new(&w)).unwrap();
        assert_eq!(v, alloc::vec![String::from("a"), String::from("bcd")]);
        assert_eq!(v[0].as_ptr(), ptr, "the first string kept its buffer");
        let mut o = Some(7u32);
        o.decode_into(&mut Reader::new(&[0])).unwrap();
        assert_eq!(o, None);
        o.decode_into(&mut Reader::new(&[1, 9, 0, 0, 0])).unwrap();
        assert_eq!(o, Some(9));
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut r = Reader::new(&[1, 2]);
        r.u8().unwrap();
        assert_eq!(
            r.finish(),
            Err(DecodeError::TrailingBytes {
                offset: 1,
                count: 1
            })
        );
    }
}
