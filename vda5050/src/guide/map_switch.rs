//! A lift ride's map switch: the guide sends `MapSwitch` when the lift car stands at the target
//! floor; a VDA 5050 vehicle gets `initPosition` (docs/vda5050.md, "Commands").

use protocol::message::MapSwitch;
use protocol::types::Pose;

use super::{MapNames, TranslateError, node_name, parse_id};
use crate::action::{self, Action, ActionParameter, BlockingType};

/// Where an `initPosition` tells a vehicle it stands: after a lift ride, the lift's exit on the
/// target map.
#[derive(Debug, Clone, PartialEq)]
pub struct InitPosition {
    /// The map (the site's id).
    pub map_id: u16,
    /// The pose on it.
    pub pose: Pose,
    /// The node it stands on (0: none given).
    pub last_node_id: u32,
}

/// The `initPosition` instant action a map switch becomes: the guide sends `MapSwitch` when the
/// lift car stands at the target floor, and the vehicle takes the pose on the target map as
/// where it stands. `exit_node` is the node at that pose (0: none; `lastNodeId` is then empty).
/// The lift, floor and navigation mode have no VDA 5050 field: a VDA 5050 vehicle localises on
/// its own.
pub fn init_position_of(
    switch: &MapSwitch,
    exit_node: u32,
    maps: &impl MapNames,
    action_id: &str,
) -> Result<Action, TranslateError> {
    let map = maps
        .name(switch.target_map_id)
        .ok_or_else(|| TranslateError::UnknownMap(switch.target_map_id.to_string()))?;
    let p = &switch.initial_pose;
    let last_node = if exit_node == 0 {
        String::new()
    } else {
        node_name(exit_node)
    };
    let param = |key: &str, value: serde_json::Value| ActionParameter {
        key: key.to_owned(),
        value,
    };
    Ok(Action {
        action_type: action::INIT_POSITION.to_owned(),
        action_id: action_id.to_owned(),
        description: Some("lift ride: the vehicle stands at the lift's exit".to_owned()),
        // (3.0 has no blocking type in instant actions; the vehicle stands in the car anyway)
        blocking_type: BlockingType::None,
        parameters: vec![
            param("x", p.x.into()),
            param("y", p.y.into()),
            param("theta", p.theta.into()),
            param("mapId", map.into()),
            param("lastNodeId", last_node.into()),
        ],
        retriable: None,
    })
}

/// The position an `initPosition` action sets: the inverse of [`init_position_of`]. `None` for
/// another action; refused when a parameter is missing or not valid, or the map is not the
/// site's.
pub fn init_position(
    action: &Action,
    maps: &impl MapNames,
) -> Option<Result<InitPosition, TranslateError>> {
    if action.action_type != action::INIT_POSITION {
        return None;
    }
    let get = |key: &'static str| {
        action
            .parameters
            .iter()
            .find(|p| p.key == key)
            .map(|p| &p.value)
            .ok_or(TranslateError::Parameter {
                action: action::INIT_POSITION,
                key,
            })
    };
    let number = |key: &'static str| {
        get(key)?
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or(TranslateError::Parameter {
                action: action::INIT_POSITION,
                key,
            })
    };
    let text = |key: &'static str| {
        get(key)?.as_str().ok_or(TranslateError::Parameter {
            action: action::INIT_POSITION,
            key,
        })
    };
    Some((|| {
        let map = text("mapId")?;
        let map_id = maps
            .id(map)
            .ok_or_else(|| TranslateError::UnknownMap(map.to_owned()))?;
        let pose = Pose {
            x: number("x")?,
            y: number("y")?,
            theta: number("theta")?,
        };
        // optional in 3.0; an empty one names no node
        let last_node_id = match get("lastNodeId") {
            Ok(v) => parse_id(
                "lastNodeId",
                v.as_str().ok_or(TranslateError::Parameter {
                    action: action::INIT_POSITION,
                    key: "lastNodeId",
                })?,
            )?,
            Err(_) => 0,
        };
        Ok(InitPosition {
            map_id,
            pose,
            last_node_id,
        })
    })())
}
