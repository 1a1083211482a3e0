//! Generators of *valid* messages for property tests and fuzzing (feature `arbitrary`).
//!
//! `arbitrary`'s own implementations produce values the wire cannot carry (strings over 255
//! bytes, NaN); [`Gen`] produces only encodable ones, so a round trip must succeed.

use alloc::string::String;
use alloc::vec::Vec;
use arbitrary::{Result, Unstructured};

/// Produces a value that the encoder accepts.
pub trait Gen: Sized {
    /// Builds one value from the unstructured input.
    fn generate(u: &mut Unstructured<'_>) -> Result<Self>;
}

macro_rules! gen_via_arbitrary {
    ($($ty:ty),*) => {$(
        impl Gen for $ty {
            fn generate(u: &mut Unstructured<'_>) -> Result<Self> {
                u.arbitrary()
            }
        }
    )*};
}
gen_via_arbitrary!(u8, u16, u32, u64, i32, bool);

impl<const N: usize> Gen for [u8; N] {
    fn generate(u: &mut Unstructured<'_>) -> Result<Self> {
        u.arbitrary()
    }
}

impl Gen for f64 {
    fn generate(u: &mut Unstructured<'_>) -> Result<Self> {
        let v: f64 = u.arbitrary()?;
        Ok(if v.is_finite() {
            v
        } else {
            f64::from(u.arbitrary::<i32>()?) / 1000.0
        })
    }
}

impl Gen for f32 {
    fn generate(u: &mut Unstructured<'_>) -> Result<Self> {
        let v: f32 = u.arbitrary()?;
        Ok(if v.is_finite() {
            v
        } else {
            f32::from(u.arbitrary::<i16>()?) / 100.0
        })
    }
}

impl Gen for String {
    fn generate(u: &mut Unstructured<'_>) -> Result<Self> {
        let s: &str = u.arbitrary()?;
        // At most 255 bytes, cut on a character boundary.
        let mut end = s.len().min(255);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        Ok(String::from(&s[..end]))
    }
}

impl<T: Gen> Gen for Vec<T> {
    fn generate(u: &mut Unstructured<'_>) -> Result<Self> {
        let len = u.int_in_range(0..=4)?;
        (0..len).map(|_| T::generate(u)).collect()
    }
}

impl<T: Gen> Gen for Option<T> {
    fn generate(u: &mut Unstructured<'_>) -> Result<Self> {
        if u.arbitrary()? {
            T::generate(u).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Implements `arbitrary::Arbitrary` through [`Gen`].
macro_rules! arbitrary_via_gen {
    ($name:ty) => {
        impl<'a> arbitrary::Arbitrary<'a> for $name {
            fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
                <Self as $crate::arb::Gen>::generate(u)
            }
        }
    };
}
pub(crate) use arbitrary_via_gen;
