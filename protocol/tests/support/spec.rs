//! docs/protocol.md read as data: the frame header (section 2), the flags (2.1), the compound
//! types of section 3 and of section 6's prose and tables, every message's field table
//! (section 6), the enumerations (section 7) and the extension registry (9.1).
//!
//! The Wireshark dissector (`docs/wireshark/rcs.lua`) is generated from this and nothing
//! else, so it shows what the document says. Anything the reader does not understand (a type
//! it cannot parse or resolve, a message without a table) is an error, not a guess.

#![allow(dead_code)]

use std::collections::BTreeMap;

/// A field's type as section 3 writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// `u8` `u16` `u32` `u64` `i32` `f32` `f64` `bool` `string` `bytes`.
    Prim(String),
    /// An enumeration of section 7 and its width (`u8` or `u16`).
    Enum(String, String),
    /// `list<T>`.
    List(Box<Ty>),
    /// `option<T>`.
    Option(Box<Ty>),
    /// `[u8; N]`.
    Array(usize),
    /// A compound type (structure, tagged union or alias) named in [`Spec::defs`].
    Named(String),
}

/// One field: name and type.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Field name as in the document (`snake_case`).
    pub name: String,
    /// Its type.
    pub ty: Ty,
}

/// One alternative of a tagged union.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The one-byte tag.
    pub tag: u8,
    /// Its name (`rectangle`, or the value's type name for `ParamValue`).
    pub name: String,
    /// The fields that follow the tag (one field named after the variant for a plain value).
    pub fields: Vec<Field>,
}

/// A compound type.
#[derive(Debug, Clone, PartialEq)]
pub enum Def {
    /// Fields in order.
    Struct(Vec<Field>),
    /// A one-byte tag, then the variant's fields.
    Union(Vec<Variant>),
    /// Another name for a type (`RcsAddress` is a `string`).
    Alias(Ty),
}

/// A message of section 6.
#[derive(Debug, Clone)]
pub struct Message {
    /// Type code.
    pub code: u16,
    /// Name (`AccessRequest`).
    pub name: String,
    /// Direction column of the message-type table.
    pub direction: String,
    /// Body fields in order (empty for an empty body).
    pub fields: Vec<Field>,
}

/// A row of section 2's frame layout.
#[derive(Debug, Clone)]
pub struct HeaderField {
    /// Offset, bytes.
    pub offset: usize,
    /// Size, bytes.
    pub size: usize,
    /// Name (`sequence number`).
    pub name: String,
    /// The rest of the row.
    pub description: String,
}

/// An enumeration of section 7.
#[derive(Debug, Clone)]
pub struct Enum {
    /// Name.
    pub name: String,
    /// `u8` or `u16`.
    pub width: String,
    /// Values and names, in table order.
    pub values: Vec<(u32, String)>,
}

/// An extension key of 9.1.
#[derive(Debug, Clone)]
pub struct Extension {
    /// Key.
    pub key: u16,
    /// Name.
    pub name: String,
    /// Type of its value.
    pub ty: Ty,
}

/// Everything the dissector needs.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The RCS's default TCP port (section 1).
    pub port: u16,
    /// The fixed header fields of section 2.
    pub header: Vec<HeaderField>,
    /// Header length (offset of the body).
    pub header_len: usize,
    /// Tag length per flag name (`MAC` 16, `SIGNED` 64).
    pub tags: Vec<(String, usize)>,
    /// Size of the trailing frame CRC.
    pub trailer: usize,
    /// The description of the trailing frame CRC.
    pub trailer_description: String,
    /// Flag masks and names (2.1).
    pub flags: Vec<(u8, String)>,
    /// Messages in table order.
    pub messages: Vec<Message>,
    /// Compound types by name.
    pub defs: BTreeMap<String, Def>,
    /// Enumerations in document order.
    pub enums: Vec<Enum>,
    /// Extension keys of 9.1.
    pub extensions: Vec<Extension>,
}

/// A block of markdown.
#[derive(Debug)]
enum Block {
    Heading(String),
    Para(String),
    Table(Vec<Vec<String>>),
    Code(Vec<String>),
    Marker(String),
}

fn blocks(lines: &[&str]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.trim_start().starts_with("```") {
            let mut code = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                code.push(lines[i].to_string());
                i += 1;
            }
            out.push(Block::Code(code));
        } else if line.starts_with('#') {
            out.push(Block::Heading(line.to_string()));
        } else if line.starts_with("<!--") {
            out.push(Block::Marker(line.to_string()));
        } else if line.starts_with('|') {
            let mut rows = Vec::new();
            while i < lines.len() && lines[i].starts_with('|') {
                let row = lines[i].trim().trim_matches('|');
                let cells: Vec<String> = row.split('|').map(|c| c.trim().to_string()).collect();
                if !cells.iter().all(|c| c.chars().all(|ch| "-: ".contains(ch))) {
                    rows.push(cells);
                }
                i += 1;
            }
            out.push(Block::Table(rows));
            continue;
        } else if !line.trim().is_empty() {
            let mut para = vec![line.trim().to_string()];
            while i + 1 < lines.len() {
                let next = lines[i + 1].trim_end();
                let starts_block = ["#", "|", "<!--", "```"]
                    .iter()
                    .any(|p| next.trim_start().starts_with(p));
                if next.trim().is_empty() || starts_block {
                    break;
                }
                para.push(next.trim().to_string());
                i += 1;
            }
            out.push(Block::Para(para.join(" ")));
        }
        i += 1;
    }
    out
}

/// The backtick spans of `text`, each with the text up to the next span.
fn spans(text: &str) -> Vec<(String, String)> {
    let parts: Vec<&str> = text.split('`').collect();
    let mut out = Vec::new();
    let mut k = 1;
    while k < parts.len() {
        let after = parts.get(k + 1).copied().unwrap_or("");
        out.push((parts[k].to_string(), after.to_string()));
        k += 2;
    }
    out
}

const PRIMS: [&str; 10] = [
    "u8", "u16", "u32", "u64", "i32", "f32", "f64", "bool", "string", "bytes",
];

fn is_type_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_field_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Parses a type as section 3 writes it; `None` when `s` is not one.
pub fn parse_ty(s: &str) -> Option<Ty> {
    let s = s.trim();
    for (prefix, wrap) in [
        ("list<", Ty::List as fn(Box<Ty>) -> Ty),
        ("option<", Ty::Option as fn(Box<Ty>) -> Ty),
    ] {
        if let Some(inner) = s.strip_prefix(prefix) {
            return Some(wrap(Box::new(parse_ty(inner.strip_suffix('>')?)?)));
        }
    }
    if let Some(n) = s.strip_prefix("[u8;") {
        return n.strip_suffix(']')?.trim().parse().ok().map(Ty::Array);
    }
    if PRIMS.contains(&s) {
        return Some(Ty::Prim(s.to_string()));
    }
    if let Some((name, width)) = s.split_once(':') {
        let (name, width) = (name.trim(), width.trim());
        return (is_type_name(name) && ["u8", "u16"].contains(&width))
            .then(|| Ty::Enum(name.to_string(), width.to_string()));
    }
    is_type_name(s).then(|| Ty::Named(s.to_string()))
}

/// Splits at commas outside `<>` and `[]`.
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '<' | '[' => depth += 1,
            '>' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// A span listing fields: `map_id: u16, version: u32`, `vx, vy: f32`, `kind: ActuatorType: u8`.
fn field_list(span: &str) -> Option<Vec<Field>> {
    let (mut out, mut pending) = (Vec::new(), Vec::new());
    for piece in split_top(span) {
        let piece = piece.trim();
        match piece.split_once(':') {
            Some((name, ty)) if is_field_name(name.trim()) => {
                let ty = parse_ty(ty)?;
                for name in pending.drain(..).chain([name.trim().to_string()]) {
                    out.push(Field {
                        name,
                        ty: ty.clone(),
                    });
                }
            }
            None if is_field_name(piece) => pending.push(piece.to_string()),
            _ => return None,
        }
    }
    (pending.is_empty() && !out.is_empty()).then_some(out)
}

/// Every field list among the spans of `text`, in order.
fn fields_in(text: &str) -> Vec<Field> {
    spans(text)
        .iter()
        .filter_map(|(s, _)| field_list(s))
        .flatten()
        .collect()
}

/// The innermost named type of `ty` (through lists and options).
fn named(ty: &Ty) -> Option<&str> {
    match ty {
        Ty::Named(n) => Some(n),
        Ty::List(t) | Ty::Option(t) => named(t),
        _ => None,
    }
}

fn add_def(defs: &mut BTreeMap<String, Def>, name: &str, def: Def) -> Result<(), String> {
    match defs.get(name) {
        Some(old) if *old != def => Err(format!(
            "{name} is defined twice, differently: {old:?} and {def:?}"
        )),
        _ => {
            defs.insert(name.to_string(), def);
            Ok(())
        }
    }
}

/// Definitions in a prose paragraph of section 6: "`Name`: fields", "with `Name` = fields",
/// "`Name` is a one-byte tag then the value: `00` `u32`, ...". Returns a union whose variants
/// are in the next table (`Region`).
fn prose_defs(text: &str, defs: &mut BTreeMap<String, Def>) -> Result<Option<String>, String> {
    enum Mode {
        None,
        Struct(String, Vec<Field>),
        Union(String, Vec<Variant>, Option<u8>),
    }
    fn finish(mode: Mode, defs: &mut BTreeMap<String, Def>) -> Result<Option<String>, String> {
        match mode {
            Mode::Struct(name, fields) if !fields.is_empty() => {
                add_def(defs, &name, Def::Struct(fields))?
            }
            Mode::Union(name, variants, _) if variants.is_empty() => return Ok(Some(name)),
            Mode::Union(name, variants, _) => add_def(defs, &name, Def::Union(variants))?,
            _ => {}
        }
        Ok(None)
    }
    let mut mode = Mode::None;
    let mut pending = None;
    for (span, after) in spans(text) {
        let after = after.trim_start();
        if is_type_name(&span) && (after.starts_with(':') || after.starts_with('=')) {
            let old = std::mem::replace(&mut mode, Mode::Struct(span, Vec::new()));
            pending = pending.or(finish(old, defs)?);
        } else if is_type_name(&span) && after.starts_with("is a one-byte") {
            let old = std::mem::replace(&mut mode, Mode::Union(span, Vec::new(), None));
            pending = pending.or(finish(old, defs)?);
        } else {
            let mut end = false;
            match &mut mode {
                Mode::Struct(_, fields) => fields.extend(field_list(&span).unwrap_or_default()),
                Mode::Union(_, variants, tag) => match (*tag, parse_ty(&span)) {
                    (None, _) if span.len() == 2 && u8::from_str_radix(&span, 16).is_ok() => {
                        *tag = u8::from_str_radix(&span, 16).ok();
                    }
                    (Some(t), Some(ty)) => {
                        variants.push(Variant {
                            tag: t,
                            name: span.clone(),
                            fields: vec![Field { name: span, ty }],
                        });
                        *tag = None;
                    }
                    _ => end = true,
                },
                Mode::None => {}
            }
            if end {
                pending = pending.or(finish(std::mem::replace(&mut mode, Mode::None), defs)?);
            }
        }
    }
    Ok(pending.or(finish(mode, defs)?))
}

fn code_of(cell: &str) -> Result<u16, String> {
    let hex = cell.trim_matches('`').trim_start_matches("0x");
    u16::from_str_radix(hex, 16).map_err(|e| format!("bad code {cell}: {e}"))
}

fn first_span(cell: &str) -> Result<String, String> {
    spans(cell)
        .into_iter()
        .next()
        .map(|(s, _)| s)
        .ok_or_else(|| format!("no `code` in {cell:?}"))
}

/// Section 2: the frame layout block.
fn parse_header(code: &[String], spec: &mut Spec) -> Result<(), String> {
    for line in code.iter().skip(1) {
        let mut words = line.split_whitespace();
        let (Some(offset), Some(size)) = (words.next(), words.next()) else {
            continue;
        };
        let rest = line.trim_start()[offset.len()..].trim_start()[size.len()..].trim();
        let (name, description) = rest.split_once("  ").unwrap_or((rest, ""));
        let (name, description) = (name.trim().to_string(), description.trim().to_string());
        match (offset.parse::<usize>(), size.parse::<usize>()) {
            (Ok(offset), Ok(size)) => spec.header.push(HeaderField {
                offset,
                size,
                name,
                description,
            }),
            (Ok(offset), Err(_)) => spec.header_len = offset,
            (Err(_), Ok(size)) => {
                spec.trailer = size;
                spec.trailer_description = description;
            }
            (Err(_), Err(_)) => {
                // "a = 0; 16 with MAC; 64 with SIGNED"
                let words: Vec<&str> = description
                    .split(|c: char| c == ';' || c == '(' || c.is_whitespace())
                    .filter(|w| !w.is_empty())
                    .collect();
                for w in words.windows(3) {
                    if let (Ok(n), "with") = (w[0].parse::<usize>(), w[1]) {
                        spec.tags.push((w[2].to_string(), n));
                    }
                }
            }
        }
    }
    if spec.header.is_empty() || spec.tags.is_empty() || spec.trailer == 0 {
        return Err("section 2's frame layout block was not understood".into());
    }
    Ok(())
}

/// Reads docs/protocol.md.
pub fn parse(doc: &str) -> Result<Spec, String> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut spec = Spec {
        port: 0,
        header: Vec::new(),
        header_len: 0,
        tags: Vec::new(),
        trailer: 0,
        trailer_description: String::new(),
        flags: Vec::new(),
        messages: Vec::new(),
        defs: BTreeMap::new(),
        enums: Vec::new(),
        extensions: Vec::new(),
    };
    let mut section = String::new();
    let mut heading = String::new();
    let mut marker = String::new();
    let mut current: Option<usize> = None; // message whose table comes next
    let mut pending_union: Option<String> = None;
    let mut table_msgs: Vec<(u16, String, String)> = Vec::new();
    let mut fields: BTreeMap<String, Vec<Field>> = BTreeMap::new();
    for block in blocks(&lines) {
        match block {
            Block::Heading(h) => {
                if h.starts_with("## ") {
                    section = h.clone();
                }
                heading = h.clone();
                current = None;
                if h.starts_with("#### ") && section.starts_with("## 6.") {
                    let title = h.trim_start_matches('#').trim();
                    let name = title.split_whitespace().next().unwrap_or("").to_string();
                    let code = code_of(&first_span(title)?)?;
                    spec.messages.push(Message {
                        code,
                        name,
                        direction: String::new(),
                        fields: Vec::new(),
                    });
                    current = Some(spec.messages.len() - 1);
                }
            }
            Block::Marker(m) => marker = m,
            Block::Code(code) => {
                if section.starts_with("## 2.") && spec.header.is_empty() {
                    parse_header(&code, &mut spec)?;
                }
            }
            Block::Para(text) => {
                if section.starts_with("## 1.") && spec.port == 0 {
                    if let Some((_, rest)) = text.split_once("default port ") {
                        let digits: String =
                            rest.chars().take_while(char::is_ascii_digit).collect();
                        spec.port = digits.parse().map_err(|e| format!("port {digits}: {e}"))?;
                    }
                }
                if let Some(i) = current {
                    if text.starts_with("Empty body") {
                        fields.insert(spec.messages[i].name.clone(), Vec::new());
                    }
                }
                if section.starts_with("## 6.") {
                    if let Some(u) = prose_defs(&text, &mut spec.defs)? {
                        pending_union = Some(u);
                    }
                }
            }
            Block::Table(rows) => {
                let head: Vec<&str> = rows[0].iter().map(String::as_str).collect();
                let body = &rows[1..];
                match head.as_slice() {
                    ["bit", "mask", "name", ..] => {
                        for r in body {
                            let mask = r[1].trim_matches('`').trim_start_matches("0x");
                            let mask = u8::from_str_radix(mask, 16)
                                .map_err(|e| format!("flag mask {}: {e}", r[1]))?;
                            spec.flags.push((mask, r[2].clone()));
                        }
                    }
                    ["type", "encoding"] => {
                        for r in body {
                            let ss = spans(&r[0]);
                            let [(name, _)] = ss.as_slice() else { continue };
                            if !is_type_name(name) {
                                continue;
                            }
                            let first = first_span(&r[1])?;
                            let def = match field_list(&first) {
                                Some(f) => Def::Struct(f),
                                None => Def::Alias(
                                    parse_ty(&first)
                                        .ok_or_else(|| format!("section 3: {name}: {first}"))?,
                                ),
                            };
                            add_def(&mut spec.defs, name, def)?;
                        }
                    }
                    ["code", "message", "direction", ..] => {
                        for r in body {
                            table_msgs.push((code_of(&r[0])?, r[1].clone(), r[2].clone()));
                        }
                    }
                    ["tag", "shape", "fields"] => {
                        let name = pending_union
                            .take()
                            .ok_or("a tag table with no union before it")?;
                        let mut variants = Vec::new();
                        for r in body {
                            let tag = r[0].parse().map_err(|e| format!("tag {}: {e}", r[0]))?;
                            let fields = fields_in(&r[2]);
                            variants.push(Variant {
                                tag,
                                name: r[1].clone(),
                                fields,
                            });
                        }
                        add_def(&mut spec.defs, &name, Def::Union(variants))?;
                    }
                    ["field", "type", "meaning"] => {
                        let i = current.ok_or_else(|| format!("field table under {heading}"))?;
                        let mut list = Vec::new();
                        for r in body {
                            let ty_text = first_span(&r[1])?;
                            let ty = parse_ty(&ty_text)
                                .ok_or_else(|| format!("{heading}: type {ty_text}"))?;
                            if let Some(n) = named(&ty) {
                                let inline = fields_in(&r[2]);
                                if !inline.is_empty() {
                                    add_def(&mut spec.defs, n, Def::Struct(inline))?;
                                }
                            }
                            list.push(Field {
                                name: r[0].clone(),
                                ty,
                            });
                        }
                        fields.insert(spec.messages[i].name.clone(), list);
                    }
                    ["value", "name", "meaning"] => {
                        let name = marker
                            .strip_prefix("<!-- enum:")
                            .and_then(|m| m.strip_suffix("-->"))
                            .ok_or_else(|| format!("enum table without marker: {heading}"))?
                            .trim()
                            .to_string();
                        let width = if heading.contains("(`u16`)") {
                            "u16"
                        } else {
                            "u8"
                        };
                        let mut values = Vec::new();
                        for r in body {
                            let v = r[0].parse().map_err(|e| format!("{name} {}: {e}", r[0]))?;
                            values.push((v, r[1].trim_matches('`').to_string()));
                        }
                        spec.enums.push(Enum {
                            name,
                            width: width.into(),
                            values,
                        });
                    }
                    ["key", "name", "messages", "value"] => {
                        for r in body {
                            let ty = first_span(&r[3])?;
                            spec.extensions.push(Extension {
                                key: code_of(&r[0])?,
                                name: r[1].trim_matches('`').to_string(),
                                ty: parse_ty(&ty).ok_or_else(|| format!("9.1: {ty}"))?,
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    // The message-type table is the list; each needs a heading with the same code and a table.
    let headings = std::mem::take(&mut spec.messages);
    for (code, name, direction) in table_msgs {
        let h = headings
            .iter()
            .find(|m| m.code == code)
            .ok_or_else(|| format!("{name} ({code:#06x}) has no section"))?;
        if !h.name.eq_ignore_ascii_case(&name) {
            return Err(format!(
                "{code:#06x} is {name} in the table, {} below",
                h.name
            ));
        }
        let body = fields
            .get(&h.name)
            .ok_or_else(|| format!("{name}: no field table and not \"Empty body\""))?;
        spec.messages.push(Message {
            code,
            name,
            direction,
            fields: body.clone(),
        });
    }
    if spec.port == 0 {
        return Err("section 1 names no \"default port\"".into());
    }
    resolve(&mut spec)?;
    Ok(spec)
}

/// Turns named enums into [`Ty::Enum`] and checks every named type is defined.
fn resolve(spec: &mut Spec) -> Result<(), String> {
    let enums: BTreeMap<String, String> = spec
        .enums
        .iter()
        .map(|e| (e.name.clone(), e.width.clone()))
        .collect();
    let defs: Vec<String> = spec.defs.keys().cloned().collect();
    let fix = |ty: &mut Ty, at: &str| -> Result<(), String> {
        fn go(
            ty: &mut Ty,
            enums: &BTreeMap<String, String>,
            defs: &[String],
        ) -> Result<(), String> {
            match ty {
                Ty::List(t) | Ty::Option(t) => go(t, enums, defs),
                Ty::Named(n) if enums.contains_key(n.as_str()) => {
                    *ty = Ty::Enum(n.clone(), enums[n.as_str()].clone());
                    Ok(())
                }
                Ty::Named(n) if !defs.contains(n) => Err(format!("type {n} is not defined")),
                Ty::Enum(n, w) if enums.get(n.as_str()) != Some(w) => {
                    Err(format!("{n}: {w} is not an enumeration of that width"))
                }
                _ => Ok(()),
            }
        }
        go(ty, &enums, &defs).map_err(|e| format!("{at}: {e}"))
    };
    for m in &mut spec.messages {
        for f in &mut m.fields {
            fix(&mut f.ty, &m.name)?;
        }
    }
    for (name, def) in spec.defs.iter_mut() {
        match def {
            Def::Struct(fields) => fields.iter_mut().try_for_each(|f| fix(&mut f.ty, name))?,
            Def::Union(vs) => vs
                .iter_mut()
                .flat_map(|v| v.fields.iter_mut())
                .try_for_each(|f| fix(&mut f.ty, name))?,
            Def::Alias(ty) => fix(ty, name)?,
        }
    }
    for x in &mut spec.extensions {
        fix(&mut x.ty, &x.name)?;
    }
    Ok(())
}
