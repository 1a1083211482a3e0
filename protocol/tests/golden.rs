//! Golden vectors: one frame per message type in `tests/vectors/*.hex`, the same bytes as the
//! examples in docs/protocol.md. Decoding a vector gives the sample value; re-encoding the
//! value gives the same bytes. The enumeration and message-type tables in docs/protocol.md are
//! checked against the code too.
//!
//! After an intended wire change, regenerate vectors and docs blocks with
//! `UPDATE_VECTORS=1 cargo test -p protocol --test golden`, then review the diff.

#[path = "support/samples.rs"]
mod samples;

use std::path::PathBuf;

use bytes::BytesMut;
use protocol::frame::{self, FrameDecoder};
use protocol::message::*;
use protocol::types::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn updating() -> bool {
    std::env::var_os("UPDATE_VECTORS").is_some()
}

/// Hex as in the docs: lowercase, 16 bytes per line, separated by spaces.
fn to_hex(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|line| {
            line.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn from_hex(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    hex::decode(digits).expect("vector is hex")
}

fn encode(sample: &samples::Sample) -> Vec<u8> {
    let mut out = BytesMut::new();
    if !sample.tag.is_empty() {
        let mut body = BytesMut::new();
        sample
            .message
            .encode_body(&mut body)
            .expect("sample encodes");
        let mut header = sample.header;
        header.message_type = sample.message.message_type();
        frame::encode_raw(
            &mut out,
            header,
            &body,
            &sample.tag,
            frame::DEFAULT_MAX_FRAME_LEN,
        )
        .expect("sample encodes");
        return out.to_vec();
    }
    frame::encode_message(
        &mut out,
        sample.header,
        &sample.message,
        frame::DEFAULT_MAX_FRAME_LEN,
    )
    .expect("sample encodes");
    out.to_vec()
}

#[test]
fn every_message_type_has_a_vector() {
    let names: Vec<MessageType> = samples::all()
        .iter()
        .map(|s| s.message.message_type())
        .collect();
    for (ty, name, _, _) in MessageType::ALL {
        assert!(names.contains(ty), "no sample for {name}");
    }
}

#[test]
fn vectors_decode_to_samples_and_reencode_identically() {
    for sample in samples::all() {
        let path = root()
            .join("tests/vectors")
            .join(format!("{}.hex", sample.name));
        let bytes = encode(&sample);
        if updating() {
            std::fs::write(&path, to_hex(&bytes) + "\n").unwrap();
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_VECTORS=1)", path.display()));
        let golden = from_hex(&text);
        assert_eq!(
            to_hex(&bytes),
            to_hex(&golden),
            "{}: encoding changed",
            sample.name
        );

        let mut buf = BytesMut::from(&golden[..]);
        let frame = FrameDecoder::default()
            .decode(&mut buf)
            .unwrap()
            .expect("whole frame");
        assert!(buf.is_empty(), "{}: bytes left over", sample.name);
        let mut expected_header = sample.header;
        expected_header.message_type = sample.message.message_type();
        expected_header.body_len = frame.body.len() as u32;
        assert_eq!(frame.header, expected_header, "{}", sample.name);
        assert_eq!(frame.auth[..], sample.tag[..], "{}: tag", sample.name);
        // (a signed handshake frame's body is plaintext: decoded as it is)
        let message = Message::decode_body(frame.header.message_type, &frame.body).unwrap();
        assert_eq!(message, sample.message, "{}", sample.name);
    }
}

/// Replaces (when updating) or checks the text between `start` and `end` markers in the doc.
fn sync_block(doc: &mut String, start: &str, end: &str, want: &str, errors: &mut Vec<String>) {
    let Some(s) = doc.find(start) else {
        errors.push(format!("docs/protocol.md lacks {start}"));
        return;
    };
    let from = s + start.len();
    let Some(len) = doc[from..].find(end) else {
        errors.push(format!("docs/protocol.md: {start} is not closed by {end}"));
        return;
    };
    let have = &doc[from..from + len];
    if have != want {
        if updating() {
            doc.replace_range(from..from + len, want);
        } else {
            errors.push(format!("docs/protocol.md: block {start} is out of date"));
        }
    }
}

fn enum_table(table: &[(u32, &str, &str)]) -> String {
    let mut out = String::from("\n| value | name | meaning |\n|---:|---|---|\n");
    for (value, name, doc) in table {
        out += &format!("| {value} | `{name}` | {} |\n", doc.trim());
    }
    out
}

#[test]
fn docs_match_vectors_and_tables() {
    let path = root().join("../docs/protocol.md");
    let mut doc = std::fs::read_to_string(&path).expect("docs/protocol.md");
    let mut errors = Vec::new();

    for sample in samples::all() {
        let want = format!("\n```text\n{}\n```\n", to_hex(&encode(&sample)));
        let start = format!("<!-- vector:{} -->", sample.name);
        sync_block(&mut doc, &start, "<!-- /vector -->", &want, &mut errors);
    }

    macro_rules! tables {
        ($($ty:ty),* $(,)?) => {
            [$((<$ty>::NAME, enum_table(<$ty>::TABLE))),*]
        };
    }
    let tables = tables!(
        ActuatorState,
        AgvState,
        ParamType,
        TargetAttribute,
        MovementType,
        LiftAdjustment,
        TaskType,
        TrajectoryType,
        SpaceLimit,
        SpecialArea,
        AgvType,
        ActuatorType,
        ActuatorParam,
        NavigationMode,
        ResultCode,
        ErrorCode,
        CloseReason,
        AlarmLevel,
        AccessMode,
        SecureProfile,
        TaskOp,
        StopOp,
        StopReason,
        TaskState,
        ChargeOp,
        SpaceReason,
        DenyReason,
        RevokeReason,
    );
    for (name, table) in &tables {
        let start = format!("<!-- enum:{name} -->");
        sync_block(&mut doc, &start, "<!-- /enum -->", table, &mut errors);
    }

    let mut types = String::from("\n| code | message | direction | meaning |\n|---|---|---|---|\n");
    for (ty, name, dir, meaning) in MessageType::ALL {
        types += &format!(
            "| `{:#06x}` | {name} | {dir} | {} |\n",
            ty.0,
            meaning.trim()
        );
    }
    sync_block(
        &mut doc,
        "<!-- message-types -->",
        "<!-- /message-types -->",
        &types,
        &mut errors,
    );

    if updating() {
        std::fs::write(&path, &doc).unwrap();
    }
    assert!(
        errors.is_empty(),
        "{} (run UPDATE_VECTORS=1 cargo test -p protocol --test golden)",
        errors.join("\n")
    );
}
