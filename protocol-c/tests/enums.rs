//! `src/enums.rs` (the wire enumerations as C integer types with named constants) is generated
//! from the `protocol` crate's tables, so the C names can never drift from the wire values.
//! This test regenerates it and fails when the committed file differs; run it with
//! `RCS_UPDATE_GENERATED=1` to write the new file.

use std::fmt::Write as _;
use std::path::Path;

use protocol::message::{self, MessageType};
use protocol::types;

/// `AgvState` -> `AGV_STATE`; `QrCode` -> `QR_CODE`.
fn screaming(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// One enumeration: its type alias and one constant per row of its table.
fn enumeration(out: &mut String, name: &str, repr: &str, rows: &[(u32, &str, &str)]) {
    let prefix = screaming(name);
    writeln!(
        out,
        "\n/// `{name}` (docs/protocol.md): a `{repr}` holding one of the `RCS_{prefix}_*` values."
    )
    .unwrap();
    writeln!(out, "pub type Rcs{name} = {repr};").unwrap();
    for (value, variant, doc) in rows {
        let doc = doc.trim();
        let doc = if doc.is_empty() { *variant } else { doc };
        writeln!(out, "/// {doc}").unwrap();
        writeln!(
            out,
            "pub const RCS_{prefix}_{}: Rcs{name} = {value};",
            screaming(variant)
        )
        .unwrap();
    }
}

fn generate() -> String {
    let mut out = String::from(
        "//! The wire enumerations as C integer types with named constants. Generated from the\n\
         //! `protocol` crate's tables by `tests/enums.rs` (`RCS_UPDATE_GENERATED=1 cargo test -p\n\
         //! protocol-c --test enums`): do not edit.\n",
    );
    macro_rules! enums {
        ($($path:path: $repr:literal),* $(,)?) => {
            $({
                use $path as E;
                enumeration(&mut out, E::NAME, $repr, E::TABLE);
            })*
        };
    }
    enums!(
        message::AccessMode: "u8",
        message::SecureProfile: "u8",
        types::AgvType: "u8",
        types::AgvState: "u8",
        types::NavigationMode: "u8",
        types::ActuatorType: "u8",
        types::ActuatorState: "u8",
        types::ActuatorParam: "u8",
        types::AlarmLevel: "u8",
        types::TargetAttribute: "u8",
        types::MovementType: "u8",
        types::LiftAdjustment: "u8",
        types::TaskType: "u8",
        types::TrajectoryType: "u8",
        types::SpaceLimit: "u8",
        types::ParamType: "u16",
        types::ResultCode: "u16",
        types::ErrorCode: "u16",
        types::CloseReason: "u8",
        message::TaskOp: "u8",
        message::TaskState: "u8",
        message::StopOp: "u8",
        message::StopReason: "u8",
        message::ChargeOp: "u8",
        message::SpaceReason: "u8",
        message::DenyReason: "u8",
        message::RevokeReason: "u8",
    );
    let types: Vec<(u32, &str, &str)> = MessageType::ALL
        .iter()
        .map(|(t, name, _, doc)| (u32::from(t.0), *name, *doc))
        .collect();
    enumeration(&mut out, "MessageType", "u16", &types);
    out
}

#[test]
fn the_generated_enumerations_are_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/enums.rs");
    let fresh = generate();
    if std::env::var_os("RCS_UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is out of date: run `RCS_UPDATE_GENERATED=1 cargo test -p protocol-c --test enums`",
        path.display()
    );
}
