//! Writes the Wireshark dissector `docs/wireshark/rcs.lua`: the [`Spec`] read from
//! docs/protocol.md as a Lua table, followed by the fixed engine `rcs_engine.lua` that walks it.

#![allow(dead_code)]

use std::fmt::Write as _;

use super::spec::{Def, Field, Spec, Ty};

/// The engine, copied after the generated table.
pub const ENGINE: &str = include_str!("rcs_engine.lua");

/// The header fields the engine looks up by name.
const HEADER_NAMES: [&str; 7] = [
    "magic",
    "flags",
    "message type",
    "sequence number",
    "timestamp",
    "body length",
    "header CRC",
];

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `AccessRequest` → `access_request`; `header CRC` → `header_crc`.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c == ' ' || c == '-' {
            out.push('_');
            prev_lower = false;
        } else if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

fn ty(t: &Ty) -> String {
    match t {
        Ty::Prim(p) => q(p),
        Ty::Enum(name, width) => format!("{{ e = {}, w = {} }}", q(name), q(width)),
        Ty::List(t) => format!("{{ list = {} }}", ty(t)),
        Ty::Option(t) => format!("{{ opt = {} }}", ty(t)),
        Ty::Array(n) => format!("{{ arr = {n} }}"),
        Ty::Named(n) => format!("{{ def = {} }}", q(n)),
    }
}

/// `{ a, b, ... }` starting at column `start`, over as many lines of at most 100 columns as it
/// takes, continued at `indent` + 4 spaces.
fn wrap(items: &[String], start: usize, indent: usize) -> String {
    let mut out = String::from("{");
    let mut col = start + 1;
    for (i, item) in items.iter().enumerate() {
        let sep = if i + 1 < items.len() { "," } else { " }" };
        if col + 1 + item.len() + sep.len() > 100 && i > 0 {
            out += &format!("\n{}", " ".repeat(indent + 4));
            col = indent + 4;
        } else {
            out.push(' ');
            col += 1;
        }
        out += item;
        out += sep;
        col += item.len() + sep.len();
    }
    if items.is_empty() {
        out.push('}');
    }
    out
}

fn fields(fs: &[Field], start: usize, indent: usize) -> String {
    let items: Vec<String> = fs
        .iter()
        .map(|f| format!("{{ {}, {} }}", q(&f.name), ty(&f.ty)))
        .collect();
    wrap(&items, start, indent)
}

/// The magic bytes as section 2 gives them (`A5 5A`).
fn magic(spec: &Spec) -> Result<Vec<u8>, String> {
    let h = spec
        .header
        .iter()
        .find(|h| h.name == "magic")
        .ok_or("no magic")?;
    let bytes: Vec<u8> = h
        .description
        .split_whitespace()
        .map_while(|w| u8::from_str_radix(w, 16).ok())
        .collect();
    if bytes.len() != h.size {
        return Err(format!("magic {:?} is not {} bytes", h.description, h.size));
    }
    Ok(bytes)
}

/// Checks that the document still says what the engine assumes.
fn check(spec: &Spec) -> Result<(), String> {
    for name in HEADER_NAMES {
        if !spec.header.iter().any(|h| h.name == name) {
            return Err(format!("section 2 has no header field {name:?}"));
        }
    }
    let crc = spec.header.iter().find(|h| h.name == "header CRC");
    if !crc.is_some_and(|h| h.description.contains("CRC-16/IBM-3740")) {
        return Err("the header CRC is no longer CRC-16/IBM-3740: update rcs_engine.lua".into());
    }
    if !spec.trailer_description.contains("CRC-32C") {
        return Err("the frame CRC is no longer CRC-32C: update rcs_engine.lua".into());
    }
    for flag in ["ENCRYPTED"]
        .into_iter()
        .chain(spec.tags.iter().map(|t| &*t.0))
    {
        if !spec.flags.iter().any(|f| f.1 == flag) {
            return Err(format!("section 2.1 has no flag {flag}"));
        }
    }
    Ok(())
}

/// The whole dissector.
pub fn generate(spec: &Spec) -> Result<String, String> {
    check(spec)?;
    let mut o = String::new();
    o += "-- rcs.lua: Wireshark dissector for the rcs AGV <-> RCS protocol (docs/protocol.md).\n";
    o += "--\n-- GENERATED from docs/protocol.md's tables by protocol/tests/wireshark.rs (the table\n";
    o += "-- SPEC below) and protocol/tests/support/rcs_engine.lua (the rest): do not edit. After a\n";
    o += "-- change to either, regenerate with\n";
    o += "--   UPDATE_DISSECTOR=1 cargo test -p protocol --test wireshark\n";
    o += "-- Installing it: docs/operations.md, \"Wireshark\".\n\n";
    o += "local SPEC = {\n";
    let _ = writeln!(o, "    port = {},", spec.port);
    let m: Vec<String> = magic(spec)?.iter().map(|b| format!("0x{b:02x}")).collect();
    let _ = writeln!(o, "    magic = {{ {} }},", m.join(", "));
    let _ = writeln!(o, "    header_len = {},", spec.header_len);
    let _ = writeln!(o, "    trailer = {},", spec.trailer);
    o += "    header = {\n";
    for h in &spec.header {
        let _ = writeln!(
            o,
            "        {{ name = {}, abbr = {}, off = {}, size = {} }},",
            q(&h.name),
            q(&snake(&h.name)),
            h.offset,
            h.size
        );
    }
    o += "    },\n    flags = {\n";
    for (mask, name) in &spec.flags {
        let _ = writeln!(o, "        {{ mask = 0x{mask:02x}, name = {} }},", q(name));
    }
    o += "    },\n    tags = {\n";
    for (flag, len) in &spec.tags {
        let _ = writeln!(o, "        {{ flag = {}, len = {len} }},", q(flag));
    }
    o += "    },\n    enums = {\n";
    for e in &spec.enums {
        let values: Vec<String> = e
            .values
            .iter()
            .map(|(v, name)| format!("[{v}] = {}", q(name)))
            .collect();
        let head = format!("        {} = ", e.name);
        let _ = writeln!(o, "{head}{},", wrap(&values, head.len(), 8));
    }
    o += "    },\n    defs = {\n";
    for (name, def) in &spec.defs {
        let body = match def {
            Def::Struct(fs) => {
                format!("struct = {}", fields(fs, 8 + name.len() + 14, 8))
            }
            Def::Alias(t) => format!("alias = {}", ty(t)),
            Def::Union(vs) => {
                let mut u = String::from("union = {\n");
                for v in vs {
                    let alt = match v.fields.as_slice() {
                        [f] if f.name == v.name => format!("ty = {}", ty(&f.ty)),
                        fs => format!("fields = {}", fields(fs, 12 + 20, 12)),
                    };
                    let _ = writeln!(
                        u,
                        "            [{}] = {{ name = {}, {alt} }},",
                        v.tag,
                        q(&v.name)
                    );
                }
                u + "        }"
            }
        };
        let _ = writeln!(o, "        {name} = {{ {body} }},");
    }
    o += "    },\n    messages = {\n";
    for msg in &spec.messages {
        let _ = writeln!(
            o,
            "        [0x{:04x}] = {{ name = {}, abbr = {}, dir = {},\n            fields = {} }},",
            msg.code,
            q(&msg.name),
            q(&snake(&msg.name)),
            q(&msg.direction),
            fields(&msg.fields, 12 + 9, 12)
        );
    }
    o += "    },\n    extensions = {\n";
    for x in &spec.extensions {
        let _ = writeln!(
            o,
            "        [0x{:04x}] = {{ name = {}, abbr = {}, ty = {} }},",
            x.key,
            q(&x.name),
            q(&snake(&x.name)),
            ty(&x.ty)
        );
    }
    o += "    },\n}\n\n";
    o += ENGINE;
    Ok(o)
}
