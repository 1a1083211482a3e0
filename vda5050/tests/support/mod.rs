//! The official VDA 5050 schemas (`../shared/vda5050/` from the project's root), loaded as
//! validators.

use std::path::PathBuf;

use vda5050::state::{Battery, EStop, OperatingMode, Safety};
use vda5050::{Header, State, Version};

/// The folder of the official schemas and examples.
pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vda5050")
}

/// The validator of `kind` (`connection`, `instantActions`, ...) in `version`. Some official
/// schema files have trailing commas (2.0.0's state, 3.0.0's factsheet, order and
/// visualization): read as JSON5.
pub fn validator(version: Version, kind: &str) -> jsonschema::Validator {
    let path = shared().join(format!("schemas-{}/{kind}.schema", version.as_str()));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the official schemas)", path.display()));
    let schema: serde_json::Value =
        json5::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Panics with every schema error unless `json` is valid against `kind` of `version`.
pub fn assert_valid(version: Version, kind: &str, json: &[u8]) {
    let value: serde_json::Value = serde_json::from_slice(json).expect("JSON");
    let validator = validator(version, kind);
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{kind} {version} does not validate: {errors:?}\n{value:#}"
    );
}

/// A state with nothing but an order's progress: at `order_id`'s update `update`, standing at
/// `last_node_id` (sequence `last_sequence`), no position, battery at 50 %, no errors.
#[allow(dead_code)] // not every test file uses it
pub fn bare_state(
    header: Header,
    order_id: &str,
    update: u32,
    last_node_id: &str,
    last_sequence: u32,
) -> State {
    State {
        header,
        order_id: order_id.into(),
        order_update_id: update,
        last_node_id: last_node_id.into(),
        last_node_sequence_id: last_sequence,
        node_states: vec![],
        edge_states: vec![],
        position: None,
        velocity: None,
        driving: false,
        paused: None,
        new_base_request: None,
        distance_since_last_node: None,
        action_states: vec![],
        instant_action_states: vec![],
        loads: vec![],
        battery: Battery {
            charge_pct: 50.0,
            voltage: None,
            charging: false,
            reach_m: None,
        },
        operating_mode: OperatingMode::Automatic,
        errors: vec![],
        safety: Safety {
            e_stop: EStop::None,
            field_violation: false,
        },
    }
}
