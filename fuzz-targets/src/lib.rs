//! The bodies of rcs's fuzz targets, as plain functions of the input bytes.
//!
//! `protocol/fuzz` (a cargo-fuzz project, nightly) wraps each in a `fuzz_target!`; this crate's
//! tests run every file of the committed minimized corpora (`protocol/fuzz/corpora/<target>`)
//! and of the regression inputs (`protocol/fuzz/regressions/<target>`) through them on the
//! stable toolchain, so a crash once found stays fixed. docs/fuzzing.md has the campaigns.
//!
//! Every target panics on a bug (a panic in the code under test or a failed assertion about
//! it) and returns normally on any input otherwise.

pub mod channel;
pub mod frames;
pub mod secure;
pub mod seeds;
pub mod sessions;
pub mod signatures;
pub mod site;
pub mod vda5050;

/// A fuzz target: its name (the cargo-fuzz binary's and the corpus directory's) and body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("frame_decoder", frames::frame_decoder),
    ("message_roundtrip", frames::message_roundtrip),
    ("rcs_session", |data| {
        sessions::rcs_session(data);
    }),
    ("agv_session", |data| {
        sessions::agv_session(data);
    }),
    ("secure_handshake", |data| {
        secure::secure_handshake(data);
    }),
    ("secure_channel", |data| {
        channel::secure_channel(data);
    }),
    ("site_files", |data| {
        site::site_files(data);
    }),
    ("vda5050", |data| {
        vda5050::vda5050(data);
    }),
    ("sm2_verify", signatures::sm2_verify),
];

/// Reads input bytes one at a time (0 once they run out).
#[derive(Debug)]
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl Bytes<'_> {
    /// The next byte, if any.
    pub(crate) fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// The next `n` bytes (fewer at the end).
    pub(crate) fn take(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// A hash of a whole input (FNV-1a): seeds what must differ between inputs, such as the session
/// keys, so a frame sealed in one run is never genuine in another (the fuzzer could otherwise
/// learn frames of one run and replay them in the next, which no real session allows).
pub(crate) fn input_hash(data: &[u8]) -> u64 {
    data.iter().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01B3)
    })
}
