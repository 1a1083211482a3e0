//! Typed VDA 5050 (v2.1) `state` and `order` structs: the serde_json baseline our codec is
//! measured against. Every field the examples carry is parsed into a typed field.

#![allow(dead_code)]

use serde::Deserialize;

pub const STATE_JSON: &str = include_str!("state_example.json");
pub const ORDER_JSON: &str = include_str!("order_example.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub header_id: u32,
    pub timestamp: String,
    pub version: String,
    pub manufacturer: String,
    pub serial_number: String,
    #[serde(default)]
    pub maps: Vec<MapRef>,
    pub order_id: String,
    pub order_update_id: u32,
    pub last_node_id: String,
    pub last_node_sequence_id: u32,
    pub driving: bool,
    pub paused: Option<bool>,
    pub new_base_request: Option<bool>,
    pub distance_since_last_node: Option<f64>,
    pub operating_mode: String,
    pub node_states: Vec<NodeState>,
    pub edge_states: Vec<EdgeState>,
    pub agv_position: Option<AgvPosition>,
    pub velocity: Option<Velocity>,
    #[serde(default)]
    pub loads: Vec<Load>,
    pub action_states: Vec<ActionState>,
    pub battery_state: BatteryState,
    pub errors: Vec<ErrorEntry>,
    #[serde(default)]
    pub information: Vec<Info>,
    pub safety_state: SafetyState,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MapRef {
    pub map_id: String,
    pub map_version: String,
    pub map_status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePosition {
    pub x: f64,
    pub y: f64,
    pub theta: Option<f64>,
    #[serde(rename = "allowedDeviationXY")]
    pub allowed_deviation_xy: Option<f64>,
    pub allowed_deviation_theta: Option<f64>,
    pub map_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeState {
    pub node_id: String,
    pub sequence_id: u32,
    pub node_description: Option<String>,
    pub released: bool,
    pub node_position: Option<NodePosition>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlPoint {
    pub x: f64,
    pub y: f64,
    pub weight: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trajectory {
    pub degree: u32,
    pub knot_vector: Vec<f64>,
    pub control_points: Vec<ControlPoint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeState {
    pub edge_id: String,
    pub sequence_id: u32,
    pub released: bool,
    pub trajectory: Option<Trajectory>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgvPosition {
    pub x: f64,
    pub y: f64,
    pub theta: f64,
    pub map_id: String,
    pub position_initialized: bool,
    pub localization_score: Option<f64>,
    pub deviation_range: Option<f64>,
}

#[derive(Deserialize)]
pub struct Velocity {
    pub vx: Option<f64>,
    pub vy: Option<f64>,
    pub omega: Option<f64>,
}

#[derive(Deserialize)]
pub struct BoundingBox {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub theta: Option<f64>,
}

#[derive(Deserialize)]
pub struct Dimensions {
    pub length: f64,
    pub width: f64,
    pub height: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    pub load_id: Option<String>,
    pub load_type: Option<String>,
    pub load_position: Option<String>,
    pub bounding_box_reference: Option<BoundingBox>,
    pub load_dimensions: Option<Dimensions>,
    pub weight: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionState {
    pub action_id: String,
    pub action_type: Option<String>,
    pub action_description: Option<String>,
    pub action_status: String,
    pub result_description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatteryState {
    pub battery_charge: f64,
    pub battery_voltage: Option<f64>,
    pub battery_health: Option<f64>,
    pub charging: bool,
    pub reach: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub reference_key: String,
    pub reference_value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEntry {
    pub error_type: String,
    pub error_level: String,
    #[serde(default)]
    pub error_references: Vec<Reference>,
    pub error_description: Option<String>,
    pub error_hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    pub info_type: String,
    pub info_level: String,
    pub info_description: Option<String>,
    #[serde(default)]
    pub info_references: Vec<Reference>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafetyState {
    pub e_stop: String,
    pub field_violation: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub header_id: u32,
    pub timestamp: String,
    pub version: String,
    pub manufacturer: String,
    pub serial_number: String,
    pub order_id: String,
    pub order_update_id: u32,
    pub nodes: Vec<OrderNode>,
    pub edges: Vec<OrderEdge>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderNode {
    pub node_id: String,
    pub sequence_id: u32,
    pub node_description: Option<String>,
    pub released: bool,
    pub node_position: Option<NodePosition>,
    pub actions: Vec<OrderAction>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Number(f64),
    Bool(bool),
    Text(String),
}

#[derive(Deserialize)]
pub struct ActionParameter {
    pub key: String,
    pub value: ParamValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderAction {
    pub action_type: String,
    pub action_id: String,
    pub blocking_type: String,
    #[serde(default)]
    pub action_parameters: Vec<ActionParameter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Corridor {
    pub left_width: f64,
    pub right_width: f64,
    pub corridor_ref_point: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderEdge {
    pub edge_id: String,
    pub sequence_id: u32,
    pub released: bool,
    pub start_node_id: String,
    pub end_node_id: String,
    pub max_speed: Option<f64>,
    pub orientation: Option<f64>,
    pub orientation_type: Option<String>,
    pub rotation_allowed: Option<bool>,
    pub length: Option<f64>,
    pub trajectory: Option<Trajectory>,
    pub corridor: Option<Corridor>,
}

/// The example compacted (no insignificant whitespace): the size the JSON really takes on the
/// wire.
pub fn compact(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    serde_json::to_string(&v).unwrap()
}
