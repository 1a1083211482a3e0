//! What the Wireshark test needs around tshark: a pcap file of TCP segments (written by hand:
//! the format is 40 lines), tshark's PDML output read back as a list of fields per frame, and
//! `Debug` output of decoded messages read as a value tree.

#![allow(dead_code)]

use std::collections::HashMap;

/// A pcap capture (Ethernet, IPv4, TCP) being written.
pub struct Capture {
    bytes: Vec<u8>,
    next_seq: HashMap<(u16, bool), u32>,
    packets: u32,
}

/// The AGV's and the RCS's IPv4 addresses in the capture.
const AGV_IP: [u8; 4] = [10, 0, 0, 2];
const RCS_IP: [u8; 4] = [10, 0, 0, 1];

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for chunk in chunks {
        for pair in chunk.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

impl Capture {
    /// An empty capture (pcap header only).
    pub fn new() -> Self {
        let mut bytes = Vec::new();
        bytes.extend(0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend(2u16.to_le_bytes());
        bytes.extend(4u16.to_le_bytes());
        bytes.extend([0u8; 8]); // time zone, accuracy
        bytes.extend(262_144u32.to_le_bytes()); // snapshot length
        bytes.extend(1u32.to_le_bytes()); // Ethernet
        Self {
            bytes,
            next_seq: HashMap::new(),
            packets: 0,
        }
    }

    /// One TCP segment of the connection from the AGV's port `agv_port` to the RCS's
    /// `rcs_port`, in the direction given, carrying `payload`.
    pub fn segment(&mut self, agv_port: u16, rcs_port: u16, from_agv: bool, payload: &[u8]) {
        let seq = *self.next_seq.entry((agv_port, from_agv)).or_insert(1_000);
        let ack = *self.next_seq.entry((agv_port, !from_agv)).or_insert(1_000);
        self.next_seq
            .insert((agv_port, from_agv), seq.wrapping_add(payload.len() as u32));
        let (src, dst, sport, dport) = if from_agv {
            (AGV_IP, RCS_IP, agv_port, rcs_port)
        } else {
            (RCS_IP, AGV_IP, rcs_port, agv_port)
        };
        let mut tcp = Vec::new();
        tcp.extend(sport.to_be_bytes());
        tcp.extend(dport.to_be_bytes());
        tcp.extend(seq.to_be_bytes());
        tcp.extend(ack.to_be_bytes());
        tcp.extend([0x50, 0x18]); // 20-byte header; PSH, ACK
        tcp.extend(65_535u16.to_be_bytes());
        tcp.extend([0, 0, 0, 0]); // checksum (below), urgent pointer
        tcp.extend(payload);
        let tcp_len = (tcp.len() as u16).to_be_bytes();
        let pseudo = [&src[..], &dst[..], &[0, 6], &tcp_len[..]].concat();
        let sum = checksum(&[&pseudo, &tcp]);
        tcp[16..18].copy_from_slice(&sum.to_be_bytes());

        let mut ip = vec![0x45, 0];
        ip.extend(((20 + tcp.len()) as u16).to_be_bytes());
        ip.extend((self.packets as u16).to_be_bytes());
        ip.extend([0x40, 0, 64, 6, 0, 0]); // don't fragment, TTL, TCP, checksum
        ip.extend(src);
        ip.extend(dst);
        let sum = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());

        let mut ether = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        ether.extend(ip);
        ether.extend(tcp);
        self.packets += 1;
        self.bytes
            .extend((1_764_000_000 + self.packets / 1000).to_le_bytes());
        self.bytes
            .extend(((self.packets % 1000) * 1000).to_le_bytes());
        self.bytes.extend((ether.len() as u32).to_le_bytes());
        self.bytes.extend((ether.len() as u32).to_le_bytes());
        self.bytes.extend(ether);
    }

    /// The file's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// A field as tshark's PDML shows it.
#[derive(Debug, Clone)]
pub struct Shown {
    /// Filter name (`rcs.status_report.pose.x`).
    pub name: String,
    /// The displayed line (`x: 18.921`).
    pub showname: String,
    /// The value as text.
    pub show: String,
    /// The covered bytes, hex.
    pub value: String,
}

/// One rcs frame: the fields inside one `<proto name="rcs">`, in order, and any `_ws.*`
/// (expert, malformed, Lua error) items of its packet.
#[derive(Debug, Default, Clone)]
pub struct ShownFrame {
    /// The frame's fields.
    pub fields: Vec<Shown>,
    /// `_ws.*` items of its packet.
    pub problems: Vec<String>,
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out += &rest[..i];
        let end = rest[i..].find(';').map(|e| i + e).unwrap_or(rest.len() - 1);
        let entity = &rest[i + 1..end];
        match entity {
            "lt" => out.push('<'),
            "gt" => out.push('>'),
            "amp" => out.push('&'),
            "quot" => out.push('"'),
            "apos" => out.push('\''),
            e if e.starts_with("#x") => out.extend(
                u32::from_str_radix(&e[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
            ),
            e if e.starts_with('#') => out.extend(e[1..].parse().ok().and_then(char::from_u32)),
            e => out += &format!("&{e};"),
        }
        rest = &rest[end + 1..];
    }
    out + rest
}

fn attrs(tag: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].rsplit(' ').next().unwrap_or("").to_string();
        let after = &rest[eq + 2..];
        let end = after.find('"').unwrap_or(after.len());
        out.insert(key, unescape(&after[..end]));
        rest = &after[(end + 1).min(after.len())..];
    }
    out
}

/// Every rcs frame of a PDML document, in capture order.
pub fn pdml_frames(pdml: &str) -> Vec<ShownFrame> {
    let mut frames: Vec<ShownFrame> = Vec::new();
    let mut packet_start = 0;
    let mut problems = Vec::new();
    let mut in_rcs = 0usize; // depth of <proto> nesting while inside an rcs proto
    for line in pdml.lines() {
        let line = line.trim();
        if line.starts_with("<packet") {
            packet_start = frames.len();
            problems.clear();
        } else if line.starts_with("</packet") {
            for f in &mut frames[packet_start..] {
                f.problems.extend(problems.iter().cloned());
            }
        } else if line.starts_with("<proto") {
            let a = attrs(line);
            let name = a.get("name").cloned().unwrap_or_default();
            if name.starts_with("_ws.") {
                problems.push(format!(
                    "{name}: {}",
                    a.get("showname").cloned().unwrap_or_default()
                ));
            }
            if in_rcs > 0 {
                in_rcs += 1;
            } else if name == "rcs" {
                in_rcs = 1;
                frames.push(ShownFrame::default());
            }
            if line.ends_with("/>") && in_rcs > 0 {
                in_rcs -= 1;
            }
        } else if line.starts_with("</proto") {
            in_rcs = in_rcs.saturating_sub(1);
        } else if line.starts_with("<field") {
            let a = attrs(line);
            let get = |k: &str| a.get(k).cloned().unwrap_or_default();
            let name = get("name");
            // (`_ws.lua.fake` marks a Lua dissector's items, harmless)
            if name.starts_with("_ws.") && name != "_ws.lua.fake" {
                problems.push(format!("{name}: {}", get("showname")));
            } else if in_rcs > 0 {
                frames.last_mut().expect("inside rcs").fields.push(Shown {
                    name,
                    showname: get("showname"),
                    show: get("show"),
                    value: get("value"),
                });
            }
        }
    }
    frames
}

/// A value as `{:?}` prints it.
#[derive(Debug, Clone, PartialEq)]
pub enum Dbg {
    /// A bare word: a unit variant, `true`, `None`.
    Ident(String),
    /// A number as printed.
    Num(String),
    /// A string literal's value.
    Str(String),
    /// `[a, b]`.
    List(Vec<Dbg>),
    /// `Name(a, b)`.
    Tuple(String, Vec<Dbg>),
    /// `Name { a: x, b: y }`.
    Struct(String, Vec<(String, Dbg)>),
}

/// Parses `{:?}` output.
pub fn parse_debug(text: &str) -> Result<Dbg, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let v = value(&chars, &mut i)?;
    if i != chars.len() {
        return Err(format!("left over at {i}: {}", &text[i.min(text.len())..]));
    }
    Ok(v)
}

fn skip(c: &[char], i: &mut usize) {
    while *i < c.len() && c[*i] == ' ' {
        *i += 1;
    }
}

fn expect(c: &[char], i: &mut usize, s: &str) -> Result<(), String> {
    skip(c, i);
    for ch in s.chars() {
        if c.get(*i) != Some(&ch) {
            return Err(format!("expected {s:?} at {i}"));
        }
        *i += 1;
    }
    Ok(())
}

fn word(c: &[char], i: &mut usize) -> String {
    let start = *i;
    while *i < c.len() && (c[*i].is_alphanumeric() || "_.+-".contains(c[*i])) {
        *i += 1;
    }
    c[start..*i].iter().collect()
}

fn items(c: &[char], i: &mut usize, close: char) -> Result<Vec<Dbg>, String> {
    let mut out = Vec::new();
    skip(c, i);
    while c.get(*i) != Some(&close) {
        out.push(value(c, i)?);
        skip(c, i);
        if c.get(*i) == Some(&',') {
            *i += 1;
            skip(c, i);
        }
    }
    *i += 1;
    Ok(out)
}

fn value(c: &[char], i: &mut usize) -> Result<Dbg, String> {
    skip(c, i);
    match c.get(*i) {
        None => Err("unexpected end".into()),
        Some('"') => {
            *i += 1;
            let mut s = String::new();
            while let Some(&ch) = c.get(*i) {
                *i += 1;
                match ch {
                    '"' => return Ok(Dbg::Str(s)),
                    '\\' => {
                        let e = c.get(*i).copied().ok_or("bad escape")?;
                        *i += 1;
                        match e {
                            'n' => s.push('\n'),
                            't' => s.push('\t'),
                            'r' => s.push('\r'),
                            '0' => s.push('\0'),
                            'u' => {
                                expect(c, i, "{")?;
                                let hex = word(c, i);
                                expect(c, i, "}")?;
                                let code =
                                    u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                                s.extend(char::from_u32(code));
                            }
                            other => s.push(other),
                        }
                    }
                    other => s.push(other),
                }
            }
            Err("unterminated string".into())
        }
        Some('[') => {
            *i += 1;
            Ok(Dbg::List(items(c, i, ']')?))
        }
        Some(ch) if ch.is_ascii_digit() || *ch == '-' => Ok(Dbg::Num(word(c, i))),
        Some(_) => {
            let name = word(c, i);
            if name.is_empty() {
                return Err(format!("unexpected {:?} at {i}", c[*i]));
            }
            let save = *i;
            skip(c, i);
            match c.get(*i) {
                Some('(') => {
                    *i += 1;
                    Ok(Dbg::Tuple(name, items(c, i, ')')?))
                }
                Some('{') => {
                    *i += 1;
                    let mut fields = Vec::new();
                    skip(c, i);
                    while c.get(*i) != Some(&'}') {
                        let field = word(c, i);
                        expect(c, i, ":")?;
                        fields.push((field, value(c, i)?));
                        skip(c, i);
                        if c.get(*i) == Some(&',') {
                            *i += 1;
                            skip(c, i);
                        }
                    }
                    *i += 1;
                    Ok(Dbg::Struct(name, fields))
                }
                _ => {
                    *i = save;
                    Ok(Dbg::Ident(name))
                }
            }
        }
    }
}
