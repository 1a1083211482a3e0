//! `secure_channel`: the secure frame layer (`protocol::secure::SecureChannel` on the `crypto`
//! crate's SM4-CTR, HMAC-SM3 and SM2) of an established session, both directions, with the fixed
//! test static keys: arbitrary valid messages sealed by either end, delivered in any order,
//! replayed, tampered with, late, arbitrary bytes injected, and frames of an earlier session of
//! the same keys replayed into this one. The handshake is skipped (the channel keys are derived
//! from a shared key made from the input), so this runs far faster than `secure_handshake`.

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use crypto::channel::ChannelKeys;
use crypto::kex::SharedKey;
use crypto::session::SessionCrypto;
use protocol::frame::{self, Flags, FrameDecoder, Header};
use protocol::message::{Heartbeat, Message, SecureProfile};
use protocol::secure::{DEFAULT_MAX_SKEW_MS, SecureChannel};

use crate::Bytes;
use crate::secure::keys;
use crate::sessions::{AGV, T0};

/// A frame one end sealed.
struct Sealed {
    /// The sender: 0 the AGV, 1 the RCS.
    from: usize,
    /// Sealed in the earlier session: never to be opened in this one.
    earlier: bool,
    bytes: Vec<u8>,
    message: Message,
    seq: u32,
    timestamp_ms: u64,
    opened: bool,
}

/// The two ends, those of an earlier session of the same static keys, and what they sealed.
struct Channel {
    ends: [SecureChannel<SessionCrypto>; 2],
    earlier: [SecureChannel<SessionCrypto>; 2],
    seqs: [u32; 2],
    earlier_seqs: [u32; 2],
    /// The highest sequence number each end opened from the other.
    opened: [u32; 2],
    sealed: Vec<Sealed>,
    now: u64,
    message: Message,
    accepted: usize,
}

impl Channel {
    /// Delivers `bytes` to end `to`; `genuine` is the sealed frame they are, unaltered.
    fn deliver(&mut self, to: usize, bytes: &[u8], genuine: Option<usize>) {
        let mut buf = BytesMut::from(bytes);
        let Ok(Some(f)) = FrameDecoder::new(frame::MAX_FRAME_LEN_LIMIT).decode(&mut buf) else {
            assert!(genuine.is_none(), "a sealed frame does not decode");
            return;
        };
        let result = self.ends[to].open(&f.as_ref(), self.now, &mut self.message);
        let whole = &bytes[..bytes.len() - buf.len()];
        let matching = self
            .sealed
            .iter()
            .position(|s| s.from != to && !s.earlier && !s.opened && s.bytes == whole);
        if let Some(i) = genuine {
            let s = &self.sealed[i];
            // A genuine frame newer than any opened and on time must open, whatever was refused
            // before it: a refusal changes nothing.
            let fresh = s.from != to
                && !s.earlier
                && !s.opened
                && s.seq > self.opened[to]
                && s.timestamp_ms.abs_diff(self.now) <= DEFAULT_MAX_SKEW_MS;
            if fresh {
                assert!(result.is_ok(), "genuine frame refused: {result:?}");
            }
        }
        if result.is_ok() {
            let i = matching.expect("a forged, altered, replayed or earlier frame was accepted");
            let s = &mut self.sealed[i];
            assert_eq!(self.message, s.message, "opened to another message");
            s.opened = true;
            self.opened[to] = self.opened[to].max(s.seq);
            self.accepted += 1;
        }
    }

    /// Seals `message` at end `from`, in the earlier session when bit 7 of `flags` is set.
    fn seal(&mut self, from: usize, step: u8, flags: u8, message: Message) {
        let earlier = flags & 0x80 != 0;
        let seqs = if earlier {
            &mut self.earlier_seqs
        } else {
            &mut self.seqs
        };
        seqs[from] = seqs[from].saturating_add(1 + u32::from(step % 4));
        let seq = seqs[from];
        let flags = match flags % 3 {
            0 => Flags::NONE,
            1 => Flags::ACK_REQUESTED,
            _ => Flags::RESPONSE,
        };
        let header = Header::new(message.message_type(), flags, seq, AGV, self.now);
        let mut out = BytesMut::new();
        let end = if earlier {
            &mut self.earlier[from]
        } else {
            &mut self.ends[from]
        };
        end.seal(header, &message, &mut out)
            .expect("a valid message seals");
        self.sealed.push(Sealed {
            from,
            earlier,
            bytes: out.to_vec(),
            message,
            seq,
            timestamp_ms: self.now,
            opened: false,
        });
    }
}

/// `secure_channel`. The first byte: bit 0 the fast profile (MACs; signatures only on
/// safety-critical types; with bit 1 the gcm profile, SM4-GCM tags in the MACs' place), else
/// the guide profile (every frame signed). Then operations: bit 0
/// the end (0: the AGV sends / the RCS receives), bits 1.. modulo 6: seal an arbitrary valid
/// message (`[seq step, flags, len, len bytes]` follow; bit 7 of flags: in the earlier session,
/// whose frames go to this session's ends); deliver a sealed frame (`[which]`);
/// deliver it with a byte flipped (`[which, at, xor]`); let time pass (`[seconds]`); inject bytes
/// (`[len, bytes]`); deliver every frame not yet opened.
///
/// Returns how many frames were opened. Nothing may panic; every frame opened is one the other
/// end sealed in this session, unaltered, opened once, to the message sealed; a genuine frame
/// newer than any opened and within the clock skew opens, whatever was refused before it.
pub fn secure_channel(data: &[u8]) -> usize {
    let mut input = Bytes(data);
    let profile = match input.next().unwrap_or(0) & 3 {
        1 => SecureProfile::Fast,
        3 => SecureProfile::Gcm,
        _ => SecureProfile::Guide,
    };
    let k = keys();
    // Session keys (and transcripts) differ per input: no frame of one run is genuine in another.
    let hash = crate::input_hash(data).to_le_bytes();
    let end = |agv: bool, earlier: bool| {
        let (own, peer) = if agv {
            (k.agv.clone(), k.rcs_verifier.clone())
        } else {
            (k.rcs.clone(), k.agv_verifier.clone())
        };
        let mut shared = SharedKey([0x5A; 16]);
        shared.0[..8].copy_from_slice(&hash);
        shared.0[8] = u8::from(earlier);
        let transcript: [&[u8]; 3] = [b"access request", &hash, &[u8::from(earlier)]];
        let keys = ChannelKeys::derive(&shared, &transcript, agv);
        SecureChannel::new(SessionCrypto::new(keys, own, peer), profile, AGV, T0)
    };
    let mut c = Channel {
        ends: [end(true, false), end(false, false)],
        earlier: [end(true, true), end(false, true)],
        seqs: [0; 2],
        earlier_seqs: [0; 2],
        opened: [0; 2],
        sealed: Vec::new(),
        now: T0,
        message: Heartbeat {}.into(),
        accepted: 0,
    };
    while let Some(op) = input.next() {
        let from = usize::from(op & 1);
        let to = 1 - from;
        match (op >> 1) % 6 {
            0 => {
                let step = input.next().unwrap_or(0);
                let flags = input.next().unwrap_or(0);
                let len = usize::from(input.next().unwrap_or(0));
                let mut u = Unstructured::new(input.take(len));
                if let Ok(message) = Message::arbitrary(&mut u) {
                    c.seal(from, step, flags, message);
                }
            }
            1 | 2 => {
                let which = usize::from(input.next().unwrap_or(0));
                if c.sealed.is_empty() {
                    continue;
                }
                let i = which % c.sealed.len();
                let mut bytes = c.sealed[i].bytes.clone();
                if (op >> 1) % 6 == 2 {
                    let at = usize::from(input.next().unwrap_or(0)) * 13 % bytes.len();
                    bytes[at] ^= input.next().unwrap_or(0).max(1);
                    c.deliver(to, &bytes, None);
                } else {
                    c.deliver(to, &bytes, Some(i));
                }
            }
            3 => c.now += u64::from(input.next().unwrap_or(0)) * 1000,
            4 => {
                let len = usize::from(input.next().unwrap_or(0));
                let bytes = input.take(len).to_vec();
                c.deliver(to, &bytes, None);
            }
            _ => {
                for i in 0..c.sealed.len() {
                    if !c.sealed[i].opened {
                        let bytes = c.sealed[i].bytes.clone();
                        let to = 1 - c.sealed[i].from;
                        c.deliver(to, &bytes, Some(i).filter(|_| !c.sealed[i].earlier));
                    }
                }
            }
        }
    }
    c.accepted
}
