//! `order`: the route master control gives a vehicle, as nodes and the edges between them. The
//! released part (the base) may be driven; the rest (the horizon) is shown for planning only.
//! Order updates (`orderUpdateId` counting up, the same `orderId`) extend the base.
//!
//! What rcs writes and reads: node positions and map ids, edge ids and lengths, speeds, and
//! the nodes' and edges' actions. Trajectories (NURBS) and corridors are not written; received
//! (by a simulated vehicle), they are ignored.

use serde::{Deserialize, Serialize};

use crate::MessageError;
use crate::action::{Action, WireAction};
use crate::header::Header;
use crate::version::Version;

/// An `order` message.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// The header; its version decides how the message is written.
    pub header: Header,
    /// The order, the same across its updates.
    pub order_id: String,
    /// Counts up with each update of the order, from 0.
    pub order_update_id: u32,
    /// 3.0 only (`orderDescription`): free text for people; not written in 2.x.
    pub description: Option<String>,
    /// 2.x only (`zoneSetId`): the zone set the order is for; not written in 3.0.
    pub zone_set_id: Option<String>,
    /// The nodes, by rising sequence id (even: 0, 2, 4, ...).
    pub nodes: Vec<Node>,
    /// The edges between consecutive nodes (odd sequence ids).
    pub edges: Vec<Edge>,
}

/// A node of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's id (a node of the site).
    pub node_id: String,
    /// Its place in the order: even.
    pub sequence_id: u32,
    /// In the base (may be driven to) or the horizon.
    pub released: bool,
    /// Free text for people (`nodeDescription` in 2.x, `nodeDescriptor` in 3.0).
    pub description: Option<String>,
    /// Where it is; a vehicle that knows the site's nodes may go without.
    pub position: Option<NodePosition>,
    /// What to do on arrival.
    pub actions: Vec<Action>,
}

/// Where a node is, on which map.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePosition {
    /// m.
    pub x: f64,
    /// m.
    pub y: f64,
    /// Orientation to reach the node in, rad (none: any).
    pub theta: Option<f64>,
    /// How far from the node the vehicle may stop and count as there, m: a radius in 2.x;
    /// written in 3.0 as the circle it is (`{a, b, theta}` with `a = b`); read from 3.0 as the
    /// ellipse's smaller half-axis.
    pub allowed_deviation_xy: Option<f64>,
    /// How far from `theta` the vehicle may end, rad.
    pub allowed_deviation_theta: Option<f64>,
    /// The map the node is on.
    pub map_id: String,
}

/// An edge of an order, between two consecutive nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// The edge's id (an edge of the site).
    pub edge_id: String,
    /// Its place in the order: odd, between its nodes' sequence ids.
    pub sequence_id: u32,
    /// In the base or the horizon.
    pub released: bool,
    /// Free text for people.
    pub description: Option<String>,
    /// The node it leaves (2.x writes it; 3.0 leaves it to the sequence: read, it is the node
    /// before the edge).
    pub start_node_id: String,
    /// The node it reaches (likewise).
    pub end_node_id: String,
    /// m/s (`maxSpeed` in 2.x, `maximumSpeed` in 3.0).
    pub max_speed: Option<f64>,
    /// rad/s.
    pub max_rotation_speed: Option<f64>,
    /// m, for the vehicle's own planning.
    pub length: Option<f64>,
    /// Orientation on the edge, rad.
    pub orientation: Option<f64>,
    /// The direction at a junction (`left`, `straight`, ...), for line-guided vehicles.
    pub direction: Option<String>,
    /// What to do on the way.
    pub actions: Vec<Action>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(flatten)]
    header: Header,
    order_id: String,
    order_update_id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zone_set_id: Option<String>,
    nodes: Vec<WireNode>,
    edges: Vec<WireEdge>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireNode {
    node_id: String,
    sequence_id: u32,
    released: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node_descriptor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node_position: Option<WirePosition>,
    actions: Vec<WireAction>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePosition {
    x: f64,
    y: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    theta: Option<f64>,
    #[serde(
        default,
        rename = "allowedDeviationXY",
        skip_serializing_if = "Option::is_none"
    )]
    allowed_deviation_xy: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allowed_deviation_theta: Option<f64>,
    map_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEdge {
    edge_id: String,
    sequence_id: u32,
    released: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    edge_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    edge_descriptor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_speed: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    maximum_speed: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_rotation_speed: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    length: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    orientation: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    direction: Option<String>,
    actions: Vec<WireAction>,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> MessageError {
    MessageError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Order {
    /// Checks what the schemas cannot: nodes at even and edges at odd sequence ids, rising by
    /// one node, edge, node, ...; each edge between the nodes before and after it; the base (the
    /// released nodes and edges) a prefix that starts with a node; numbers finite.
    pub fn check(&self) -> Result<(), MessageError> {
        if self.order_id.is_empty() {
            return Err(invalid("orderId", "empty"));
        }
        let Some(first) = self.nodes.first() else {
            return Err(invalid("nodes", "an order has at least one node"));
        };
        if self.edges.len() + 1 != self.nodes.len() {
            return Err(invalid(
                "edges",
                format!(
                    "{} nodes need {} edges, not {}",
                    self.nodes.len(),
                    self.nodes.len() - 1,
                    self.edges.len()
                ),
            ));
        }
        if !first.released {
            return Err(invalid(
                "nodes[0].released",
                "the first node is in the base",
            ));
        }
        let mut released = true;
        for (i, node) in self.nodes.iter().enumerate() {
            let field = format!("nodes[{i}]");
            if node.node_id.is_empty() {
                return Err(invalid(format!("{field}.nodeId"), "empty"));
            }
            if node.sequence_id != first.sequence_id + 2 * i as u32 || node.sequence_id % 2 != 0 {
                return Err(invalid(
                    format!("{field}.sequenceId"),
                    "nodes have even sequence ids, rising by 2",
                ));
            }
            if let Some(p) = &node.position {
                let finite = [p.x, p.y]
                    .into_iter()
                    .chain(p.theta)
                    .chain(p.allowed_deviation_xy)
                    .chain(p.allowed_deviation_theta)
                    .all(f64::is_finite);
                if !finite || p.map_id.is_empty() {
                    return Err(invalid(
                        format!("{field}.nodePosition"),
                        "coordinates finite, a map id",
                    ));
                }
            }
            if i > 0 {
                let edge = &self.edges[i - 1];
                let efield = format!("edges[{}]", i - 1);
                if edge.sequence_id != node.sequence_id - 1 {
                    return Err(invalid(
                        format!("{efield}.sequenceId"),
                        "an edge's sequence id is between its nodes'",
                    ));
                }
                if edge.start_node_id != self.nodes[i - 1].node_id
                    || edge.end_node_id != node.node_id
                {
                    return Err(invalid(
                        efield,
                        "an edge joins the nodes before and after it",
                    ));
                }
                if edge.edge_id.is_empty()
                    || edge
                        .max_speed
                        .into_iter()
                        .chain(edge.length)
                        .chain(edge.orientation)
                        .chain(edge.max_rotation_speed)
                        .any(|v| !v.is_finite())
                {
                    return Err(invalid(efield, "an edge id, finite numbers"));
                }
                released = check_released(released, edge.released, &efield)?;
            }
            released = check_released(released, node.released, &field)?;
        }
        Ok(())
    }

    /// Reads a message; refused whole when anything in it is wrong for its version or breaks
    /// [`Order::check`].
    pub fn from_json(bytes: &[u8]) -> Result<Order, MessageError> {
        let w: Wire = serde_json::from_slice(bytes)?;
        let version = w.header.version()?;
        let v3 = version == Version::V3_0;
        let nodes: Vec<Node> = w
            .nodes
            .into_iter()
            .enumerate()
            .map(|(i, n)| node_from_wire(n, version, i))
            .collect::<Result<_, _>>()?;
        let mut edges = Vec::with_capacity(w.edges.len());
        for (i, e) in w.edges.into_iter().enumerate() {
            let field = format!("edges[{i}]");
            // 3.0 has no start and end nodes: the nodes around the edge's sequence id
            let around = |offset: i64| {
                nodes
                    .iter()
                    .find(|n| i64::from(n.sequence_id) == i64::from(e.sequence_id) + offset)
                    .map(|n| n.node_id.clone())
                    .unwrap_or_default()
            };
            let (start, end) = if v3 {
                (around(-1), around(1))
            } else {
                match (e.start_node_id, e.end_node_id) {
                    (Some(s), Some(t)) => (s, t),
                    _ => return Err(invalid(field, "startNodeId and endNodeId are required")),
                }
            };
            let actions = e
                .actions
                .into_iter()
                .enumerate()
                .map(|(j, a)| {
                    Action::from_wire(a, version, false, &format!("{field}.actions[{j}]"))
                })
                .collect::<Result<_, _>>()?;
            edges.push(Edge {
                edge_id: e.edge_id,
                sequence_id: e.sequence_id,
                released: e.released,
                description: if v3 {
                    e.edge_descriptor
                } else {
                    e.edge_description
                },
                start_node_id: start,
                end_node_id: end,
                max_speed: if v3 { e.maximum_speed } else { e.max_speed },
                max_rotation_speed: e.max_rotation_speed,
                length: e.length,
                orientation: e.orientation,
                direction: e.direction,
                actions,
            });
        }
        let order = Order {
            header: w.header,
            order_id: w.order_id,
            order_update_id: w.order_update_id,
            description: w.order_description.filter(|_| v3),
            zone_set_id: w.zone_set_id.filter(|_| !v3),
            nodes,
            edges,
        };
        order.check()?;
        Ok(order)
    }

    /// Writes the message in its header's version; refused when it breaks [`Order::check`] or
    /// an action cannot be written in that version.
    pub fn to_json(&self) -> Result<Vec<u8>, MessageError> {
        self.check()?;
        let version = self.header.version()?;
        let v3 = version == Version::V3_0;
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| node_to_wire(n, version, i))
            .collect::<Result<_, _>>()?;
        let edges = self
            .edges
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let field = format!("edges[{i}]");
                Ok(WireEdge {
                    edge_id: e.edge_id.clone(),
                    sequence_id: e.sequence_id,
                    released: e.released,
                    edge_description: e.description.clone().filter(|_| !v3),
                    edge_descriptor: e.description.clone().filter(|_| v3),
                    start_node_id: (!v3).then(|| e.start_node_id.clone()),
                    end_node_id: (!v3).then(|| e.end_node_id.clone()),
                    max_speed: e.max_speed.filter(|_| !v3),
                    maximum_speed: e.max_speed.filter(|_| v3),
                    max_rotation_speed: e.max_rotation_speed,
                    length: e.length,
                    orientation: e.orientation,
                    direction: e.direction.clone(),
                    actions: actions_to_wire(&e.actions, version, &field)?,
                })
            })
            .collect::<Result<_, MessageError>>()?;
        Ok(serde_json::to_vec(&Wire {
            header: self.header.clone(),
            order_id: self.order_id.clone(),
            order_update_id: self.order_update_id,
            order_description: self.description.clone().filter(|_| v3),
            zone_set_id: self.zone_set_id.clone().filter(|_| !v3),
            nodes,
            edges,
        })?)
    }
}

/// The base is a prefix: nothing released after the first element that is not.
fn check_released(so_far: bool, this: bool, field: &str) -> Result<bool, MessageError> {
    if this && !so_far {
        return Err(invalid(
            format!("{field}.released"),
            "released after the horizon began",
        ));
    }
    Ok(this)
}

fn actions_to_wire(
    actions: &[Action],
    version: Version,
    field: &str,
) -> Result<Vec<WireAction>, MessageError> {
    actions
        .iter()
        .enumerate()
        .map(|(j, a)| a.to_wire(version, false, &format!("{field}.actions[{j}]")))
        .collect()
}

fn node_to_wire(n: &Node, version: Version, i: usize) -> Result<WireNode, MessageError> {
    let v3 = version == Version::V3_0;
    let field = format!("nodes[{i}]");
    Ok(WireNode {
        node_id: n.node_id.clone(),
        sequence_id: n.sequence_id,
        released: n.released,
        node_description: n.description.clone().filter(|_| !v3),
        node_descriptor: n.description.clone().filter(|_| v3),
        node_position: n.position.as_ref().map(|p| WirePosition {
            x: p.x,
            y: p.y,
            theta: p.theta,
            allowed_deviation_xy: p.allowed_deviation_xy.map(|d| {
                if v3 {
                    serde_json::json!({"a": d, "b": d, "theta": 0.0})
                } else {
                    serde_json::json!(d)
                }
            }),
            allowed_deviation_theta: p.allowed_deviation_theta,
            map_id: p.map_id.clone(),
        }),
        actions: actions_to_wire(&n.actions, version, &field)?,
    })
}

fn node_from_wire(n: WireNode, version: Version, i: usize) -> Result<Node, MessageError> {
    let v3 = version == Version::V3_0;
    let field = format!("nodes[{i}]");
    let position = match n.node_position {
        None => None,
        Some(p) => {
            let deviation = match p.allowed_deviation_xy {
                None => None,
                Some(serde_json::Value::Number(r)) if !v3 => r.as_f64(),
                Some(serde_json::Value::Object(e)) if v3 => {
                    let half = |k: &str| e.get(k).and_then(serde_json::Value::as_f64);
                    match (half("a"), half("b"), half("theta")) {
                        (Some(a), Some(b), Some(_)) => Some(a.min(b)),
                        _ => None,
                    }
                    .ok_or_else(|| {
                        invalid(
                            format!("{field}.nodePosition.allowedDeviationXY"),
                            "an ellipse {a, b, theta}",
                        )
                    })
                    .map(Some)?
                }
                Some(other) => {
                    return Err(MessageError::NotInVersion {
                        field: format!("{field}.nodePosition.allowedDeviationXY"),
                        value: other.to_string(),
                        version,
                    });
                }
            };
            Some(NodePosition {
                x: p.x,
                y: p.y,
                theta: p.theta,
                allowed_deviation_xy: deviation,
                allowed_deviation_theta: p.allowed_deviation_theta,
                map_id: p.map_id,
            })
        }
    };
    let actions = n
        .actions
        .into_iter()
        .enumerate()
        .map(|(j, a)| Action::from_wire(a, version, false, &format!("{field}.actions[{j}]")))
        .collect::<Result<_, _>>()?;
    Ok(Node {
        node_id: n.node_id,
        sequence_id: n.sequence_id,
        released: n.released,
        description: if v3 {
            n.node_descriptor
        } else {
            n.node_description
        },
        position,
        actions,
    })
}
