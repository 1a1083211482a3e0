//! The Wireshark dissector `docs/wireshark/rcs.lua`.
//!
//! It is generated from docs/protocol.md's tables (support/spec.rs reads them, support/lua.rs
//! writes the dissector around the engine support/rcs_engine.lua); the first test fails when
//! the committed file is not what the document gives. Regenerate it with
//! `UPDATE_DISSECTOR=1 cargo test -p protocol --test wireshark`.
//!
//! The other tests run Debian's `tshark` (installed by `scripts/test`) once on a capture of
//! every golden vector (`tests/vectors/*.hex`) in TCP segments of its own, the same frames as
//! one stream cut into segments that split and join frames, and encrypted frames built from
//! the golden ones. Every field of every golden vector must show the value the protocol crate
//! decodes (walked over the document's field tree, not from a list written here), enumeration
//! values with their names; an encrypted frame shows its header, flags and tag, and its body
//! only as ciphertext.

#[path = "support/capture.rs"]
mod capture;
#[path = "support/expect.rs"]
mod expect;
#[path = "support/lua.rs"]
mod lua;
#[path = "support/spec.rs"]
mod spec;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bytes::BytesMut;
use capture::{Capture, Dbg, Shown, ShownFrame};
use expect::{Walker, Want};
use protocol::frame::{self, Flags, FrameDecoder};
use protocol::message::Message;
use protocol::types::Extension;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn spec() -> &'static spec::Spec {
    static SPEC: OnceLock<spec::Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let doc = std::fs::read_to_string(root().join("docs/protocol.md")).expect("protocol.md");
        spec::parse(&doc).unwrap_or_else(|e| panic!("docs/protocol.md: {e}"))
    })
}

fn dissector_path() -> PathBuf {
    root().join("docs/wireshark/rcs.lua")
}

#[test]
fn the_committed_dissector_is_generated_from_protocol_md() {
    let want = lua::generate(spec()).unwrap_or_else(|e| panic!("docs/protocol.md: {e}"));
    let path = dissector_path();
    if std::env::var_os("UPDATE_DISSECTOR").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is not what docs/protocol.md gives: regenerate it with \
         UPDATE_DISSECTOR=1 cargo test -p protocol --test wireshark",
        path.display()
    );
}

/// A golden vector: its name and its bytes.
fn vectors() -> Vec<(String, Vec<u8>)> {
    let dir = root().join("protocol/tests/vectors");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let digits: String = text.chars().filter(char::is_ascii_hexdigit).collect();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, hex::decode(digits).unwrap())
        })
        .collect();
    out.sort();
    assert!(out.len() >= 32, "golden vectors in {}", dir.display());
    out
}

/// Golden frames made secure: the same header with `ENCRYPTED` and a tag, the body replaced by
/// stand-in ciphertext (the dissector cannot tell, and must not try).
fn secure_frames() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, flags) in [
        ("status_report", Flags::ENCRYPTED | Flags::MAC),
        ("motion_command", Flags::ENCRYPTED | Flags::SIGNED),
        (
            "heartbeat",
            Flags::ENCRYPTED | Flags::SIGNED | Flags::ACK_REQUESTED,
        ),
    ] {
        let (_, bytes) = vectors().into_iter().find(|(n, _)| n == name).unwrap();
        let f = decode(&bytes);
        let mut header = f.header;
        header.flags = flags;
        let cipher: Vec<u8> = f
            .body
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ 0x5Au8.wrapping_add(i as u8))
            .collect();
        let tag = vec![0xC3; flags.auth_len()];
        let mut wire = BytesMut::new();
        frame::encode_raw(
            &mut wire,
            header,
            &cipher,
            &tag,
            frame::DEFAULT_MAX_FRAME_LEN,
        )
        .unwrap();
        out.push((format!("{name} (encrypted)"), wire.to_vec()));
    }
    out
}

fn decode(bytes: &[u8]) -> protocol::Frame {
    let mut buf = BytesMut::from(bytes);
    let f = FrameDecoder::default()
        .decode(&mut buf)
        .unwrap()
        .expect("a whole frame");
    assert!(buf.is_empty());
    f
}

/// Who sends a message, by the document's direction column.
fn from_agv(bytes: &[u8]) -> bool {
    let code = decode(bytes).header.message_type.0;
    let m = spec().messages.iter().find(|m| m.code == code);
    m.is_none_or(|m| m.direction != "RCS → AGV")
}

/// The capture: stream 1 one golden frame per segment, stream 2 all of them cut into
/// segments of 1 to 300 bytes (frames split and joined), stream 3 the encrypted frames.
fn capture() -> Vec<u8> {
    let port = spec().port;
    let mut cap = Capture::new();
    for (_, bytes) in vectors() {
        cap.segment(40_001, port, from_agv(&bytes), &bytes);
    }
    let stream: Vec<u8> = vectors().into_iter().flat_map(|(_, b)| b).collect();
    let (mut at, mut k) = (0, 0);
    while at < stream.len() {
        let len = [1, 13, 300, 37, 5, 120, 2, 64][k % 8].min(stream.len() - at);
        cap.segment(40_002, port, true, &stream[at..at + len]);
        at += len;
        k += 1;
    }
    for (_, bytes) in secure_frames() {
        cap.segment(40_003, port, true, &bytes);
    }
    for (_, bytes, _) in faulty_frames() {
        cap.segment(40_004, port, true, &bytes);
    }
    // on another port, decoded through Decode As (`-d` below)
    cap.segment(40_005, DECODE_AS_PORT, true, &golden_heartbeat());
    cap.into_bytes()
}

/// The port of the capture's stream decoded as rcs by `-d tcp.port==9000,rcs`.
const DECODE_AS_PORT: u16 = 9000;

/// Golden frames spoilt, each with the expert info the dissector must add: a wrong frame CRC,
/// a wrong header CRC, a value outside its enumeration, a truncated body, bytes left over, a
/// message type this specification does not define, and bytes after a frame that start no
/// frame.
fn faulty_frames() -> Vec<(String, Vec<u8>, &'static str)> {
    let golden = |name: &str| vectors().into_iter().find(|(n, _)| n == name).unwrap().1;
    let reframe = |name: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let f = decode(&golden(name));
        let mut body = f.body.to_vec();
        edit(&mut body);
        let mut wire = BytesMut::new();
        frame::encode_raw(
            &mut wire,
            f.header,
            &body,
            &f.auth,
            frame::DEFAULT_MAX_FRAME_LEN,
        )
        .unwrap();
        wire.to_vec()
    };
    let mut frame_crc = golden("status_report");
    *frame_crc.last_mut().unwrap() ^= 0xFF;
    let mut header_crc = golden("status_report");
    header_crc[30] ^= 0x01;
    let vendor = {
        let f = decode(&golden("space_release"));
        let mut header = f.header;
        header.message_type = protocol::MessageType(0x8001);
        let mut wire = BytesMut::new();
        frame::encode_raw(
            &mut wire,
            header,
            &f.body,
            &[],
            frame::DEFAULT_MAX_FRAME_LEN,
        )
        .unwrap();
        wire.to_vec()
    };
    let mut garbage = golden_heartbeat();
    garbage.extend(b"no frame");
    vec![
        ("frame CRC".into(), frame_crc, "rcs.bad_crc"),
        ("header CRC".into(), header_crc, "rcs.bad_crc"),
        (
            "TaskOp 9".into(),
            reframe("task_control", &|b| b[4] = 9),
            "rcs.invalid",
        ),
        (
            "truncated".into(),
            reframe("heartbeat_ack", &|b| b.truncate(8)),
            "rcs.truncated",
        ),
        (
            "left over".into(),
            reframe("space_release", &|b| b.push(0)),
            "rcs.trailing",
        ),
        ("vendor message 0x8001".into(), vendor, "rcs.unknown_type"),
        ("garbage".into(), garbage, "rcs.garbage"),
    ]
}

/// tshark's view of [`capture`], once for all tests: every rcs frame in order.
fn shown() -> &'static [ShownFrame] {
    static SHOWN: OnceLock<Vec<ShownFrame>> = OnceLock::new();
    SHOWN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rcs-wireshark-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pcap = dir.join("golden.pcap");
        std::fs::write(&pcap, capture()).unwrap();
        let lua = dir.join("rcs.lua");
        // the dissector as generated now (the first test checks the committed copy equals it)
        std::fs::write(&lua, lua::generate(spec()).unwrap()).unwrap();
        let out = tshark(&lua, &pcap);
        // RCS_KEEP_CAPTURE=<file> keeps the capture, to look at it in Wireshark
        if let Some(keep) = std::env::var_os("RCS_KEEP_CAPTURE") {
            std::fs::copy(&pcap, keep).unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
        capture::pdml_frames(&out)
    })
}

/// Runs tshark with a fresh home and configuration folder (in `pcap`'s folder): a copy of the
/// dissector installed as a personal plugin, or personal preferences, do not interfere.
fn tshark(lua: &Path, pcap: &Path) -> String {
    let home = pcap.parent().unwrap();
    let run = Command::new("tshark")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .arg("-n")
        .arg("-X")
        .arg(format!("lua_script:{}", lua.display()))
        .arg("-r")
        .arg(pcap)
        .arg("-d")
        .arg(format!("tcp.port=={DECODE_AS_PORT},rcs"))
        .args(["-T", "pdml"])
        .output();
    let run = match run {
        Ok(run) => run,
        Err(e) => panic!(
            "tshark does not run ({e}): install it with scripts/test (Debian's tshark package), \
             which `.ci/run` calls"
        ),
    };
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stderr: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains("Running as user \"root\""))
        .collect();
    assert!(
        run.status.success() && stderr.is_empty(),
        "tshark: {}",
        stderr.join("\n")
    );
    String::from_utf8(run.stdout).unwrap()
}

/// The fields a frame must show: header, flags, body (decoded, or ciphertext when encrypted),
/// tag and CRC.
fn wanted(bytes: &[u8]) -> Vec<(String, Want)> {
    let spec = spec();
    let f = decode(bytes);
    let h = &f.header;
    let mut out = Vec::new();
    let message = spec
        .messages
        .iter()
        .find(|m| m.code == h.message_type.0)
        .unwrap();
    for field in &spec.header {
        let at = field.offset;
        let raw = &bytes[at..at + field.size];
        let want = match field.name.as_str() {
            "magic" => Want::Bytes(frame::MAGIC.to_vec()),
            "version" => Want::Int(h.version.into()),
            "flags" => Want::Int(h.flags.bits().into()),
            "message type" => Want::Enum(h.message_type.0.into(), message.name.clone()),
            "sequence number" => Want::Int(h.seq.into()),
            "AGV id" => Want::Int(h.agv_id.into()),
            "timestamp" => Want::Int(h.timestamp_ms.into()),
            "body length" => Want::Int(h.body_len.into()),
            "reserved" => Want::Bytes(h.reserved.to_vec()),
            "header CRC" => Want::Int(u16::from_le_bytes([raw[0], raw[1]]).into()),
            other => panic!("section 2 has a header field {other:?} this test does not know"),
        };
        out.push((format!("rcs.{}", lua::snake(&field.name)), want));
    }
    for (mask, name) in &spec.flags {
        let set = h.flags.bits() & mask;
        let want = if name == "reserved" {
            Want::Int((set >> mask.trailing_zeros()).into())
        } else {
            Want::Bool(set != 0)
        };
        out.push((format!("rcs.flags.{}", name.to_lowercase()), want));
    }
    let abbr = format!("rcs.{}", lua::snake(&message.name));
    if h.flags.contains(Flags::ENCRYPTED) {
        out.push(("rcs.encrypted_body".into(), Want::Bytes(f.body.to_vec())));
    } else {
        let decoded = Message::decode_body(h.message_type, &f.body).unwrap();
        let text = format!("{decoded:?}");
        let dbg = match capture::parse_debug(&text).unwrap() {
            Dbg::Tuple(_, mut inner) if inner.len() == 1 => inner.remove(0),
            other => panic!("{other:?}"),
        };
        let ext = |key: u16, _value: &[u8]| match (&decoded, key) {
            (Message::ConfigPush(c), Extension::RCS_ADDRESSES) => Some(Dbg::List(
                c.rcs_addresses()
                    .ok()?
                    .iter()
                    .map(|a| Dbg::Str(a.as_str().to_string()))
                    .collect(),
            )),
            _ => None,
        };
        let mut walker = Walker {
            spec,
            ext: &ext,
            out: Vec::new(),
        };
        walker
            .fields(&message.fields, &dbg, &abbr)
            .unwrap_or_else(|e| panic!("{}: {e}", message.name));
        out.extend(walker.out);
    }
    if !f.auth.is_empty() {
        out.push(("rcs.auth_tag".into(), Want::Bytes(f.auth.to_vec())));
    }
    let crc = &bytes[bytes.len() - spec.trailer..];
    out.push((
        "rcs.frame_crc".into(),
        Want::Int(u32::from_le_bytes(crc.try_into().unwrap()).into()),
    ));
    out
}

/// Every wanted field shown with its value, in order per name; nothing else shown but
/// containers (structures, list items); CRCs correct; no expert info, malformation or error.
fn compare(name: &str, want: &[(String, Want)], shown: &ShownFrame) -> Vec<String> {
    let mut errors = Vec::new();
    let mut by_name: BTreeMap<&str, Vec<&Shown>> = BTreeMap::new();
    for s in &shown.fields {
        by_name.entry(&s.name).or_default().push(s);
    }
    let mut wanted: BTreeMap<&str, Vec<&Want>> = BTreeMap::new();
    for (n, w) in want {
        wanted.entry(n).or_default().push(w);
    }
    for (field, ws) in &wanted {
        let ss = by_name.get(field).cloned().unwrap_or_default();
        if ss.len() != ws.len() {
            errors.push(format!(
                "{name}: {field} shown {} times, wanted {}",
                ss.len(),
                ws.len()
            ));
            continue;
        }
        for (w, s) in ws.iter().zip(ss) {
            if !w.matches(s) {
                errors.push(format!(
                    "{name}: {field}: wanted {w:?}, shown {:?} ({:?}, {})",
                    s.show, s.showname, s.value
                ));
            }
        }
    }
    for (field, ss) in &by_name {
        if !wanted.contains_key(field) && ss.iter().any(|s| !s.show.is_empty()) {
            errors.push(format!(
                "{name}: {field} shown ({:?}) but not wanted",
                ss[0].showname
            ));
        }
    }
    for crc in ["rcs.header_crc", "rcs.frame_crc"] {
        if !by_name
            .get(crc)
            .is_some_and(|s| s[0].showname.contains("[correct]"))
        {
            errors.push(format!("{name}: {crc} not shown [correct]"));
        }
    }
    errors.extend(shown.problems.iter().map(|p| format!("{name}: {p}")));
    errors
}

fn check(frames: &[(String, Vec<u8>)], shown: &[ShownFrame]) {
    assert_eq!(shown.len(), frames.len(), "frames shown by tshark");
    let mut errors = Vec::new();
    let mut fields = 0;
    for ((name, bytes), s) in frames.iter().zip(shown) {
        let want = wanted(bytes);
        fields += want.len();
        errors.extend(compare(name, &want, s));
    }
    assert!(
        errors.is_empty(),
        "{} of {fields} fields:\n{}",
        errors.len(),
        errors.join("\n")
    );
    eprintln!("{} frames, {fields} fields checked", frames.len());
}

#[test]
fn tshark_shows_every_field_of_every_golden_vector() {
    let n = vectors().len();
    check(&vectors(), &shown()[..n]);
}

#[test]
fn tshark_reassembles_frames_split_and_joined_in_tcp_segments() {
    let n = vectors().len();
    check(&vectors(), &shown()[n..2 * n]);
}

#[test]
fn tshark_shows_a_secure_frames_header_flags_and_tag_and_its_body_as_encrypted() {
    let n = vectors().len();
    let frames = secure_frames();
    let shown = &shown()[2 * n..2 * n + frames.len()];
    check(&frames, shown);
    for ((name, bytes), s) in frames.iter().zip(shown) {
        let code = decode(bytes).header.message_type.0;
        let m = spec().messages.iter().find(|m| m.code == code).unwrap();
        let prefix = format!("rcs.{}.", lua::snake(&m.name));
        assert!(
            !s.fields.iter().any(|f| f.name.starts_with(&prefix)),
            "{name}: no field of the body is decoded"
        );
        let body = s
            .fields
            .iter()
            .find(|f| f.name == "rcs.encrypted_body")
            .unwrap();
        assert!(
            body.showname.contains("not decoded"),
            "{name}: {}",
            body.showname
        );
    }
}

#[test]
fn tshark_flags_bad_crcs_invalid_values_and_malformed_bodies() {
    let n = vectors().len();
    let start = 2 * n + secure_frames().len();
    let mut shown = shown()[start..].iter();
    for (name, _, expert) in faulty_frames() {
        let mut s = shown.next().unwrap_or_else(|| panic!("{name}: not shown"));
        if name == "garbage" {
            // the heartbeat before the garbage is a frame of its own, shown whole
            assert!(s.fields.iter().any(|f| f.name == "rcs.heartbeat"), "{name}");
            s = shown.next().expect("garbage shown after the heartbeat");
        }
        assert!(
            s.fields.iter().any(|f| f.name == expert),
            "{name}: no {expert} in {:#?}",
            s.fields
        );
    }
}

fn golden_heartbeat() -> Vec<u8> {
    vectors()
        .into_iter()
        .find(|(n, _)| n == "heartbeat")
        .unwrap()
        .1
}

#[test]
fn tshark_decodes_another_port_through_decode_as() {
    let n = vectors().len();
    let last = shown().last().unwrap();
    let errors = compare("heartbeat on port 9000", &wanted(&golden_heartbeat()), last);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(
        shown().len(),
        2 * n + secure_frames().len() + faulty_frames().len() + 2,
        "every frame of the capture shown once"
    );
}

#[test]
fn the_reader_of_protocol_md_refuses_what_it_does_not_understand() {
    let doc = std::fs::read_to_string(root().join("docs/protocol.md")).unwrap();
    for (from, to, error) in [
        (
            "| pose | `Pose` | pose on it",
            "| pose | `Posture` | pose on it",
            "Posture is not defined",
        ),
        (
            "| state | `AgvState: u8` | section 8 |",
            "| state | `AgvState: u16` | section 8 |",
            "not an enumeration of that width",
        ),
        ("Empty body.", "Nothing.", "Heartbeat: no field table"),
        ("(default port 7700)", "(port 7700)", "default port"),
        ("CRC-32C (Castagnoli", "CRC-32 (ISO", "no longer CRC-32C"),
    ] {
        assert!(doc.contains(from), "{from}");
        let changed = doc.replacen(from, to, 1);
        let result = spec::parse(&changed).and_then(|s| lua::generate(&s));
        match result {
            Err(e) => assert!(e.contains(error), "{from} -> {to}: {e}"),
            Ok(_) => panic!("{from} -> {to}: accepted"),
        }
    }
}
