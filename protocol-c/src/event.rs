//! Session events to plain C structs. The lists and strings of an event live in an
//! [`EventStore`] the session owns and reuses (its vectors keep their capacity), so an event's
//! pointers stay valid until the next event is taken.

use core::ffi::c_char;
use std::ffi::CString;

use protocol::message::*;
use protocol::session::{AgvEvent, CloseCause};
use protocol::types::*;

use crate::enums::*;
use crate::types::*;

/// The memory behind the current event's pointers.
#[derive(Debug, Default)]
pub struct EventStore {
    nodes: Vec<RcsPathNode>,
    edges: Vec<RcsPathEdge>,
    actions: Vec<RcsAction>,
    action_params: Vec<RcsActionParam>,
    points: Vec<RcsPoint>,
    strings: Vec<CString>,
    string_ptrs: Vec<*const c_char>,
    param_types: Vec<RcsParamType>,
    params: Vec<RcsParam>,
}

fn pose(p: &Pose) -> RcsPose {
    RcsPose {
        x: p.x,
        y: p.y,
        theta: p.theta,
    }
}

fn point(p: &Point) -> RcsPoint {
    RcsPoint { x: p.x, y: p.y }
}

impl EventStore {
    /// Forgets the previous event (keeping the capacity).
    fn clear(&mut self) {
        self.nodes.clear();
        self.edges.clear();
        self.actions.clear();
        self.action_params.clear();
        self.points.clear();
        self.strings.clear();
        self.string_ptrs.clear();
        self.param_types.clear();
        self.params.clear();
    }

    /// Keeps `s` as a C string (a NUL inside is dropped) and returns its address: stable, since
    /// a `CString`'s bytes do not move when the vector holding it grows.
    fn string(&mut self, s: &str) -> *const c_char {
        let c = CString::new(s.replace('\0', "")).unwrap_or_default();
        self.strings.push(c);
        self.strings
            .last()
            .map_or(core::ptr::null(), |c| c.as_ptr())
    }

    /// `strings` as a list of pointers.
    fn string_list(&mut self, strings: &[&str]) -> (*const *const c_char, usize) {
        for s in strings {
            let p = self.string(s);
            self.string_ptrs.push(p);
        }
        (self.string_ptrs.as_ptr(), self.string_ptrs.len())
    }

    fn region(&mut self, r: &Region) -> RcsRegion {
        let mut out = RcsRegion::default();
        let points = match r {
            Region::Rectangle {
                center,
                length,
                width,
            } => {
                out.kind = RCS_REGION_RECTANGLE;
                out.center = pose(center);
                out.length = *length;
                out.width = *width;
                return out;
            }
            Region::Circle { center, radius } => {
                out.kind = RCS_REGION_CIRCLE;
                out.center.x = center.x;
                out.center.y = center.y;
                out.radius = *radius;
                return out;
            }
            Region::Polygon { points } => {
                out.kind = RCS_REGION_POLYGON;
                points
            }
            Region::Corridor { points, half_width } => {
                out.kind = RCS_REGION_CORRIDOR;
                out.half_width = *half_width;
                points
            }
        };
        let start = self.points.len();
        self.points.extend(points.iter().map(point));
        out.points = self.points[start..].as_ptr();
        out.points_len = points.len();
        out
    }

    /// The path of a MotionCommand: every list is filled before any pointer into it is taken.
    fn motion(&mut self, c: &MotionCommand) -> RcsMotionCommand {
        let actions = || c.nodes.iter().flat_map(|n| n.actions.iter());
        for a in actions() {
            self.action_params
                .extend(a.params.iter().map(|p| RcsActionParam {
                    param: p.param.to_raw(),
                    value: p.value,
                }));
        }
        for e in &c.edges {
            self.points.extend(e.control_points.iter().map(point));
        }
        let mut at = 0;
        for a in actions() {
            self.actions.push(RcsAction {
                action_id: a.action_id,
                actuator_id: a.actuator_id,
                actuator: a.actuator.to_raw(),
                adjustment: a.adjustment.to_raw(),
                blocking: a.blocking,
                params: self.action_params[at..].as_ptr(),
                params_len: a.params.len(),
            });
            at += a.params.len();
        }
        let mut at = 0;
        for n in &c.nodes {
            self.nodes.push(RcsPathNode {
                node_id: n.node_id,
                sequence: n.sequence,
                pose: pose(&n.pose),
                attribute: n.attribute.to_raw(),
                actions: self.actions[at..].as_ptr(),
                actions_len: n.actions.len(),
            });
            at += n.actions.len();
        }
        let mut at = 0;
        for e in &c.edges {
            self.edges.push(RcsPathEdge {
                edge_id: e.edge_id,
                sequence: e.sequence,
                trajectory: e.trajectory.to_raw(),
                control_points: self.points[at..].as_ptr(),
                control_points_len: e.control_points.len(),
                movement: e.movement.to_raw(),
                max_speed: e.max_speed,
            });
            at += e.control_points.len();
        }
        RcsMotionCommand {
            task_id: c.task_id,
            task_type: c.task_type.to_raw(),
            segment: c.segment,
            map_id: c.map_id,
            nodes: self.nodes.as_ptr(),
            nodes_len: self.nodes.len(),
            edges: self.edges.as_ptr(),
            edges_len: self.edges.len(),
            released_nodes: c.released_nodes,
            max_speed: c.max_speed,
        }
    }

    fn params(&mut self, values: &[Param]) -> RcsParamSet {
        for p in values {
            let mut out = RcsParam {
                param: p.param.to_raw(),
                kind: RCS_PARAM_VALUE_U32,
                u32_value: 0,
                f32_value: 0.0,
                bool_value: false,
                text: core::ptr::null(),
            };
            match &p.value {
                ParamValue::U32(v) => out.u32_value = *v,
                ParamValue::F32(v) => {
                    out.kind = RCS_PARAM_VALUE_F32;
                    out.f32_value = *v;
                }
                ParamValue::Bool(v) => {
                    out.kind = RCS_PARAM_VALUE_BOOL;
                    out.bool_value = *v;
                }
                ParamValue::Text(v) => {
                    out.kind = RCS_PARAM_VALUE_TEXT;
                    out.text = self.string(v);
                }
            }
            self.params.push(out);
        }
        RcsParamSet {
            values: self.params.as_ptr(),
            values_len: self.params.len(),
        }
    }

    /// The C form of `event`, and the message it carried, for the session to reuse.
    pub fn convert(&mut self, event: AgvEvent) -> (RcsAgvEvent, Option<Message>) {
        self.clear();
        let mut out = RcsAgvEvent::empty(RcsEventKind::Registered);
        let message = match event {
            AgvEvent::Connected {
                mode,
                profile,
                session_id,
                server_time_ms,
            } => {
                out.kind = RcsEventKind::Connected;
                out.connected = RcsConnected {
                    mode: mode.to_raw(),
                    profile: profile.to_raw(),
                    session_id,
                    server_time_ms,
                };
                None
            }
            AgvEvent::Registered => None,
            AgvEvent::Configured(c) => {
                out.kind = RcsEventKind::Configured;
                out.config = RcsConfig {
                    config_version: c.config_version,
                    status_period_ms: c.status_period_ms,
                    heartbeat_period_ms: c.heartbeat_period_ms,
                    link_timeout_ms: c.link_timeout_ms,
                    operation_report_period_s: c.operation_report_period_s,
                    battery_low_pct: c.alarms.battery_low_pct,
                    battery_critical_pct: c.alarms.battery_critical_pct,
                    min_localisation_quality: c.alarms.min_localisation_quality,
                    max_path_deviation: c.alarms.max_path_deviation,
                    max_linear_speed: c.max_linear_speed,
                    max_angular_speed: c.max_angular_speed,
                };
                None
            }
            AgvEvent::RcsAddresses(list) => {
                out.kind = RcsEventKind::RcsAddresses;
                let list: Vec<&str> = list.iter().map(|a| a.as_str()).collect();
                (out.addresses, out.addresses_len) = self.string_list(&list);
                None
            }
            AgvEvent::Redirected { active } => {
                out.kind = RcsEventKind::Redirected;
                let list: Vec<&str> = active.iter().map(|a| a.as_str()).collect();
                (out.addresses, out.addresses_len) = self.string_list(&list);
                None
            }
            AgvEvent::Command { seq, message } => {
                out.kind = RcsEventKind::Command;
                out.seq = seq;
                out.message_type = message.message_type().0;
                self.command(&mut out, &message);
                Some(message)
            }
            AgvEvent::Response {
                request_seq,
                message,
            } => {
                out.kind = RcsEventKind::Response;
                out.seq = request_seq;
                out.message_type = message.message_type().0;
                self.response(&mut out, &message);
                Some(message)
            }
            AgvEvent::Unanswered { seq, message_type } => {
                out.kind = RcsEventKind::Unanswered;
                out.seq = seq;
                out.message_type = message_type.0;
                None
            }
            AgvEvent::PeerError { code, request_seq } => {
                out.kind = RcsEventKind::PeerError;
                out.seq = request_seq;
                out.error_code = code.to_raw();
                None
            }
            AgvEvent::LinkLost => {
                out.kind = RcsEventKind::LinkLost;
                None
            }
            AgvEvent::Closed(cause) => {
                out.kind = RcsEventKind::Closed;
                out.closed = closed(&cause);
                None
            }
        };
        (out, message)
    }

    fn command(&mut self, out: &mut RcsAgvEvent, message: &Message) {
        match message {
            Message::MotionCommand(c) => out.motion = self.motion(c),
            Message::TaskControl(t) => {
                out.task_control = RcsTaskControl {
                    task_id: t.task_id,
                    op: t.op.to_raw(),
                }
            }
            Message::SafetyStop(s) => {
                out.safety_stop = RcsSafetyStop {
                    op: s.op.to_raw(),
                    reason: s.reason.to_raw(),
                    episode: s.episode,
                    other_agv_id: s.other_agv_id,
                }
            }
            Message::ChargeControl(c) => {
                out.charge_control = RcsChargeControl {
                    op: c.op.to_raw(),
                    charger_node_id: c.charger_node_id,
                    target_pct: c.target_pct,
                }
            }
            Message::NavSwitch(n) => {
                out.nav_switch = RcsNavSwitch {
                    target: n.target.to_raw(),
                    map_id: n.map_id,
                    has_initial_pose: n.initial_pose.is_some(),
                    initial_pose: n.initial_pose.as_ref().map(pose).unwrap_or_default(),
                }
            }
            Message::MapSwitch(m) => {
                out.map_switch = RcsMapSwitch {
                    target_map_id: m.target_map_id,
                    target_map_version: m.target_map_version,
                    initial_pose: pose(&m.initial_pose),
                    lift_id: m.lift_id,
                    floor: m.floor,
                    navigation: m.navigation.to_raw(),
                }
            }
            Message::SpaceRevoke(r) => {
                out.space_revoke = RcsSpaceRevoke {
                    grant_id: r.grant_id,
                    reason: r.reason.to_raw(),
                }
            }
            Message::ParamQuery(q) => {
                self.param_types.extend(q.params.iter().map(|p| p.to_raw()));
                out.param_query = RcsParamQuery {
                    params: self.param_types.as_ptr(),
                    params_len: self.param_types.len(),
                };
            }
            Message::ParamSet(s) => out.param_set = self.params(&s.values),
            _ => {}
        }
    }

    fn response(&mut self, out: &mut RcsAgvEvent, message: &Message) {
        match message {
            Message::Ack(a) => {
                out.ack = RcsAck {
                    request_type: a.request_type.0,
                    result: a.result.to_raw(),
                    detail: self.string(&a.detail),
                }
            }
            Message::SpaceGrant(g) => {
                out.space_grant = RcsSpaceGrant {
                    grant_id: g.grant_id,
                    map_id: g.map_id,
                    region: self.region(&g.region),
                    limit: g.limit.to_raw(),
                    expires_at_ms: g.expires_at_ms,
                }
            }
            Message::SpaceDeny(d) => {
                out.space_deny = RcsSpaceDeny {
                    reason: d.reason.to_raw(),
                    retry_after_ms: d.retry_after_ms,
                }
            }
            _ => {}
        }
    }
}

fn closed(cause: &CloseCause) -> RcsClosed {
    let with = |cause, reason: CloseReason| RcsClosed {
        cause,
        reason: reason.to_raw(),
        result: 0,
    };
    let plain = |cause| RcsClosed {
        cause,
        reason: 0,
        result: 0,
    };
    match cause {
        CloseCause::Local(r) => with(RcsCloseCause::Local, *r),
        CloseCause::Peer(r) => with(RcsCloseCause::Peer, *r),
        CloseCause::Refused(result) => RcsClosed {
            cause: RcsCloseCause::Refused,
            reason: 0,
            result: result.to_raw(),
        },
        CloseCause::HandshakeTimeout => plain(RcsCloseCause::HandshakeTimeout),
        CloseCause::LinkTimeout => plain(RcsCloseCause::LinkTimeout),
        CloseCause::ProtocolViolation => plain(RcsCloseCause::ProtocolViolation),
        CloseCause::Downgrade => plain(RcsCloseCause::Downgrade),
    }
}
