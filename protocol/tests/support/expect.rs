//! What the dissector must show for a decoded message: the document's field tree (a [`Spec`])
//! walked together with the protocol crate's `Debug` output of the message, giving each leaf's
//! filter name and value. Nothing here knows a message: a field the code has and the document
//! does not (or the other way round) is an error.

#![allow(dead_code)]

use super::capture::{Dbg, Shown};
use super::spec::{Def, Field, Spec, Ty};

/// A value the dissector must show.
#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    /// An integer (also a list's count, an option's 0 or 1).
    Int(i128),
    /// A float; `true` for `f32` (shown with 6 significant digits).
    Float(f64, bool),
    /// A bool.
    Bool(bool),
    /// Text.
    Str(String),
    /// Bytes (compared with the covered bytes).
    Bytes(Vec<u8>),
    /// An enumeration value and its name.
    Enum(u32, String),
}

impl Want {
    /// Whether `shown` shows this value.
    pub fn matches(&self, shown: &Shown) -> bool {
        let int = |s: &str| match s.strip_prefix("0x") {
            Some(h) => i128::from_str_radix(h, 16).ok(),
            None => s.parse().ok(),
        };
        match self {
            Want::Int(v) => int(&shown.show) == Some(*v),
            Want::Enum(v, name) => {
                int(&shown.show) == Some(i128::from(*v))
                    && (shown.showname.contains(&format!("{name} ({v})"))
                        || shown.showname.contains(&format!("{name} (0x")))
            }
            Want::Float(v, single) => shown.show.parse::<f64>().is_ok_and(|s| {
                let tolerance = if *single { 1e-5 } else { 1e-12 };
                (s - v).abs() <= tolerance * v.abs().max(1.0)
            }),
            Want::Bool(b) => matches!(
                (b, shown.show.as_str()),
                (true, "1" | "True" | "true") | (false, "0" | "False" | "false")
            ),
            Want::Str(s) => shown.show == *s,
            Want::Bytes(b) => shown.value == hex::encode(b),
        }
    }
}

/// Decodes a registered extension's value the way the protocol crate does (key, value bytes).
pub type ExtHook<'a> = &'a dyn Fn(u16, &[u8]) -> Option<Dbg>;

/// Walks `fields` of a message or structure over `dbg`.
pub struct Walker<'a> {
    /// The document.
    pub spec: &'a Spec,
    /// Registered extensions' decoded values.
    pub ext: ExtHook<'a>,
    /// Leaves found: filter name and value.
    pub out: Vec<(String, Want)>,
}

fn unwrap_newtype(d: &Dbg) -> &Dbg {
    match d {
        Dbg::Tuple(_, items) if items.len() == 1 => unwrap_newtype(&items[0]),
        d => d,
    }
}

fn bytes(d: &Dbg) -> Result<Vec<u8>, String> {
    match d {
        Dbg::List(items) => items
            .iter()
            .map(|i| match i {
                Dbg::Num(n) => n.parse().map_err(|e| format!("byte {n}: {e}")),
                other => Err(format!("byte {other:?}")),
            })
            .collect(),
        other => Err(format!("not bytes: {other:?}")),
    }
}

impl Walker<'_> {
    fn def(&self, ty: &Ty) -> Option<&Def> {
        match ty {
            Ty::Named(n) => match &self.spec.defs[n] {
                Def::Alias(t) => self.def(t),
                d => Some(d),
            },
            _ => None,
        }
    }

    /// A message's or structure's fields: the code's `Struct` (or a unit struct) over `fields`.
    pub fn fields(&mut self, fields: &[Field], dbg: &Dbg, path: &str) -> Result<(), String> {
        let have: &[(String, Dbg)] = match dbg {
            Dbg::Struct(_, f) => f,
            Dbg::Ident(_) => &[],
            other => return Err(format!("{path}: not a structure: {other:?}")),
        };
        for f in fields {
            let (_, value) = have.iter().find(|(n, _)| *n == f.name).ok_or_else(|| {
                format!(
                    "{path}: the document's field {} is not in the code's {dbg:?}",
                    f.name
                )
            })?;
            self.value(&f.ty, value, &format!("{path}.{}", f.name))?;
        }
        if let Some((extra, _)) = have
            .iter()
            .find(|(n, _)| !fields.iter().any(|f| f.name == *n))
        {
            return Err(format!(
                "{path}: the code has a field {extra} the document lacks"
            ));
        }
        Ok(())
    }

    fn contents(&mut self, ty: &Ty, dbg: &Dbg, path: &str) -> Result<(), String> {
        match self.def(ty).cloned() {
            Some(Def::Struct(fields)) => {
                self.fields(&fields, dbg, path)?;
                if *ty == Ty::Named("Extension".into()) {
                    self.extension(dbg, path)?;
                }
                Ok(())
            }
            Some(Def::Union(variants)) => {
                let (name, payload): (&str, Vec<Dbg>) = match dbg {
                    Dbg::Tuple(n, items) => (n, items.clone()),
                    Dbg::Struct(n, _) | Dbg::Ident(n) => (n, vec![dbg.clone()]),
                    other => return Err(format!("{path}: not a union: {other:?}")),
                };
                let kind = |t: &Ty| match (t, payload.first()) {
                    (Ty::Prim(p), Some(Dbg::Str(_))) => p == "string",
                    (Ty::Prim(p), Some(Dbg::Ident(b))) => {
                        p == "bool" && (b == "true" || b == "false")
                    }
                    (Ty::Prim(p), Some(Dbg::Num(n))) => p.starts_with('f') == n.contains('.'),
                    _ => false,
                };
                let v = variants
                    .iter()
                    .find(|v| v.name.eq_ignore_ascii_case(name))
                    .or_else(|| {
                        variants.iter().find(|v| {
                            matches!(v.fields.as_slice(), [f] if f.name == v.name && kind(&f.ty))
                        })
                    })
                    .ok_or_else(|| format!("{path}: no variant of the document is {name}"))?;
                self.out.push((
                    format!("{path}.tag"),
                    Want::Enum(v.tag.into(), v.name.clone()),
                ));
                let at = format!("{path}.{}", v.name);
                match v.fields.as_slice() {
                    [f] if f.name == v.name => self.value(&f.ty, &payload[0], &at),
                    fs => self.fields(fs, &payload[0], &at),
                }
            }
            _ => Err(format!("{path}: {ty:?} is not compound")),
        }
    }

    fn extension(&mut self, dbg: &Dbg, path: &str) -> Result<(), String> {
        let Dbg::Struct(_, f) = dbg else {
            return Ok(());
        };
        let get = |n: &str| f.iter().find(|(k, _)| k == n).map(|(_, v)| v);
        let (Some(Dbg::Num(key)), Some(value)) = (get("key"), get("value")) else {
            return Err(format!("{path}: extension without key and value"));
        };
        let key: u16 = key.parse().map_err(|e| format!("{path}: key {key}: {e}"))?;
        let Some(x) = self.spec.extensions.iter().find(|x| x.key == key).cloned() else {
            return Ok(());
        };
        let decoded = (self.ext)(key, &bytes(value)?)
            .ok_or_else(|| format!("{path}: the code does not decode extension {}", x.name))?;
        self.value(
            &x.ty,
            &decoded,
            &format!("{path}.{}", super::lua::snake(&x.name)),
        )
    }

    /// One value of type `ty` at `path`.
    pub fn value(&mut self, ty: &Ty, dbg: &Dbg, path: &str) -> Result<(), String> {
        let bad = || format!("{path}: {ty:?} is {dbg:?} in the code");
        let want = match ty {
            Ty::Prim(p) => match (p.as_str(), unwrap_newtype(dbg)) {
                ("f32" | "f64", Dbg::Num(n)) => {
                    Want::Float(n.parse().map_err(|_| bad())?, p == "f32")
                }
                ("bool", Dbg::Ident(b)) => Want::Bool(b == "true"),
                ("string", Dbg::Str(s)) => Want::Str(s.clone()),
                ("string", Dbg::Struct(_, f)) if f.len() == 1 => match &f[0].1 {
                    Dbg::Str(s) => Want::Str(s.clone()),
                    _ => return Err(bad()),
                },
                ("bytes", d) => Want::Bytes(bytes(d)?),
                (_, Dbg::Num(n)) => Want::Int(n.parse().map_err(|_| bad())?),
                _ => return Err(bad()),
            },
            Ty::Array(n) => {
                let b = bytes(dbg)?;
                if b.len() != *n {
                    return Err(bad());
                }
                Want::Bytes(b)
            }
            Ty::Enum(name, _) => {
                let Dbg::Ident(variant) = dbg else {
                    return Err(bad());
                };
                let e = self
                    .spec
                    .enums
                    .iter()
                    .find(|e| e.name == *name)
                    .ok_or_else(bad)?;
                let (v, _) = e.values.iter().find(|(_, n)| n == variant).ok_or_else(|| {
                    format!("{path}: {variant} is not in the document's {name} table")
                })?;
                Want::Enum(*v, variant.clone())
            }
            Ty::List(t) => {
                let Dbg::List(items) = dbg else {
                    return Err(bad());
                };
                self.out
                    .push((path.to_string(), Want::Int(items.len() as i128)));
                for item in items {
                    if self.def(t).is_some() {
                        self.contents(t, item, path)?;
                    } else {
                        self.value(t, item, &format!("{path}.item"))?;
                    }
                }
                return Ok(());
            }
            Ty::Option(t) => {
                match dbg {
                    Dbg::Ident(n) if n == "None" => self.out.push((path.to_string(), Want::Int(0))),
                    Dbg::Tuple(n, items) if n == "Some" && items.len() == 1 => {
                        self.out.push((path.to_string(), Want::Int(1)));
                        if self.def(t).is_some() {
                            self.contents(t, &items[0], path)?;
                        } else {
                            self.value(t, &items[0], &format!("{path}.value"))?;
                        }
                    }
                    _ => return Err(bad()),
                }
                return Ok(());
            }
            Ty::Named(n) => {
                if let Def::Alias(t) = &self.spec.defs[n] {
                    let t = t.clone();
                    return self.value(&t, dbg, path);
                }
                return self.contents(ty, dbg, path);
            }
        };
        self.out.push((path.to_string(), want));
        Ok(())
    }
}
