//! The simulated machine of one AGV, without I/O: its pose and kinematics (acceleration, top
//! speed, rotation in place), its released path, actions, battery, obstacles and safe-space
//! manoeuvres, the status it reports and its answers to the RCS's commands (docs/protocol.md 6).
//! `super` connects it to the RCS.

use std::time::{Duration, Instant};

use protocol::message::*;
use protocol::types::*;

use super::{GRANT_RADIUS, Spec};
use crate::monitor::{Held, Position};

/// Top speed, m/s.
pub(super) const TOP_SPEED: f64 = 1.5;
/// Acceleration, m/s².
pub(super) const ACCEL: f64 = 0.8;
/// Turning rate on the spot, rad/s.
pub(super) const TURN_RATE: f64 = 1.5;
/// How long a blocking action takes, s.
const ACTION_S: f64 = 2.0;

pub(super) struct Rng(pub(super) u64);
impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(super) fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
    /// An exponentially distributed gap with `per_hour` events per hour.
    pub(super) fn exp_gap(&mut self, per_hour: f64) -> Duration {
        let u = ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        Duration::from_secs_f64((-u.ln() * 3600.0 / per_hour).min(1e9))
    }
}

/// What the AGV is doing with space it asked for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Obstacle {
    None,
    /// Asked; waiting for the answer.
    Asking,
    /// Denied; ask again at this time (ms).
    RetryAt(u64),
    /// Granted: manoeuvring out and back until `until`, then release.
    Manoeuvre {
        grant: u32,
        until: u64,
        cx: f64,
        cy: f64,
    },
}

/// The simulated machine.
pub(super) struct Body {
    pub(super) map_id: u16,
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) theta: f64,
    pub(super) v: f64,
    pub(super) navigation: NavigationMode,
    pub(super) battery: f64,
    pub(super) charging: bool,
    pub(super) last_node_id: u32,
    pub(super) task_id: u32,
    pub(super) path: Vec<PathNode>,
    pub(super) released: usize,
    pub(super) next: usize,
    pub(super) paused: bool,
    pub(super) action_until: Option<f64>,
    pub(super) state_override: Option<AgvState>,
    pub(super) obstacle: Obstacle,
    /// Where it stood when its current path arrived.
    pub(super) origin: (f64, f64),
    /// Stopped by a SafetyStop until its Clear.
    pub(super) safety_stopped: bool,
    /// Registered in the current session.
    pub(super) registered: bool,
    /// How many sessions registered so far.
    pub(super) sessions: u32,
    /// Since when it has been offline (its registered session ended; not before the first).
    pub(super) offline_since: Option<Instant>,
    /// Its parameters (ParamSet / ParamQuery): the top speed among them.
    pub(super) params: crate::params::Params,
    /// Moved by hand while its link is down: put down as the link comes back (`relocate`).
    pub(super) relocate: bool,
}

impl Body {
    pub(super) fn new(spec: &Spec, battery: f64) -> Self {
        Self {
            map_id: spec.map_id,
            x: spec.x,
            y: spec.y,
            theta: 0.0,
            v: 0.0,
            navigation: NavigationMode::Slam,
            battery,
            charging: false,
            last_node_id: spec.node,
            task_id: 0,
            path: Vec::new(),
            released: 0,
            next: 0,
            paused: false,
            action_until: None,
            state_override: None,
            obstacle: Obstacle::None,
            origin: (spec.x, spec.y),
            safety_stopped: false,
            registered: false,
            sessions: 0,
            offline_since: None,
            params: crate::params::Params::new(TOP_SPEED, ACCEL, format!("sim-{}", spec.id)),
            relocate: false,
        }
    }

    pub(super) fn position(&self) -> Position {
        Position {
            map: self.map_id,
            x: self.x,
            y: self.y,
            theta: self.theta,
        }
    }

    /// What it holds as it sees it: the released nodes ahead, or its grant.
    pub(super) fn held(&self) -> Held {
        let ahead = self.next.min(self.path.len())..self.released.min(self.path.len());
        Held {
            task_id: self.task_id,
            released_ahead: self.path[ahead].iter().map(|n| n.node_id).collect(),
            grant: match self.obstacle {
                Obstacle::Manoeuvre { grant, .. } => Some(grant),
                _ => None,
            },
        }
    }

    /// Its link is lost: it stops where it is and drives nothing more until a new release
    /// (docs/protocol.md 8, LinkLost); a manoeuvre in a grant ends back where it began.
    pub(super) fn on_link_lost(&mut self) {
        if let Obstacle::Manoeuvre { cx, cy, .. } = self.obstacle {
            self.x = cx;
            self.y = cy;
        }
        self.obstacle = Obstacle::None;
        self.path.clear();
        self.released = 0;
        self.next = 0;
        self.v = 0.0;
        self.paused = false;
        self.action_until = None;
        self.origin = (self.x, self.y);
        // a stop ends with its session
        self.safety_stopped = false;
    }

    pub(super) fn moving(&self) -> bool {
        self.next < self.released && !self.paused && !self.safety_stopped
    }

    /// Whether it has a task to pause or resume: a path not driven to its end, or actions
    /// running.
    pub(super) fn has_task(&self) -> bool {
        self.next < self.path.len() || self.action_until.is_some()
    }

    pub(super) fn state(&self) -> AgvState {
        if let Some(s) = self.state_override {
            return s;
        }
        if self.safety_stopped {
            return AgvState::SafetyStop;
        }
        if matches!(self.obstacle, Obstacle::Manoeuvre { .. }) {
            return AgvState::InSafeSpace;
        }
        if self.charging {
            return AgvState::Charging;
        }
        if self.paused {
            return AgvState::Paused;
        }
        if self.action_until.is_some() || self.moving() {
            AgvState::Working
        } else if self.next < self.path.len() {
            AgvState::WaitingForRelease
        } else {
            AgvState::Idle
        }
    }

    pub(super) fn status(&self) -> Message {
        StatusReport {
            map_id: self.map_id,
            pose: Pose {
                x: self.x,
                y: self.y,
                theta: self.theta,
            },
            localisation_quality: 95,
            navigation_mode: self.navigation,
            velocity: Velocity {
                vx: self.v as f32,
                vy: 0.0,
                omega: 0.0,
            },
            state: self.state(),
            battery_pct: self.battery as f32,
            battery_voltage: 48.0,
            charging: self.charging,
            e_stop: false,
            loads: vec![],
            // The lift it registered, reported as a real AGV reports its actuators.
            actuators: vec![ActuatorStatus {
                actuator_id: 0,
                kind: ActuatorType::Lift,
                state: if self.action_until.is_some() {
                    ActuatorState::Running
                } else {
                    ActuatorState::Idle
                },
                position: 0.0,
            }],
            task_id: self.task_id,
            segment: 0,
            last_node_id: self.last_node_id,
            // the sequence of the last node reached on its path (0 without one)
            last_node_sequence: self
                .next
                .checked_sub(1)
                .and_then(|i| self.path.get(i))
                .map_or(0, |n| n.sequence),
            edge_id: 0,
            distance_since_last_node: 0.0,
            grant_id: match self.obstacle {
                Obstacle::Manoeuvre { grant, .. } => grant,
                _ => 0,
            },
            alarms: vec![],
            extensions: vec![],
        }
        .into()
    }

    /// Whether it is inside space it was given: its granted circle while manoeuvring, else on
    /// the released part of its path (from where it stood when the path arrived), or where it
    /// stands with no path.
    pub(super) fn inside_held(&self) -> bool {
        if let Obstacle::Manoeuvre { cx, cy, .. } = self.obstacle {
            return (self.x - cx).hypot(self.y - cy) <= GRANT_RADIUS + 0.01;
        }
        if self.path.is_empty() {
            return true;
        }
        let mut points = vec![self.origin];
        points.extend(
            self.path[..self.released.min(self.path.len())]
                .iter()
                .map(|n| (n.pose.x, n.pose.y)),
        );
        if points.len() == 1 {
            return (self.x - points[0].0).hypot(self.y - points[0].1) < 0.05;
        }
        points.windows(2).any(|w| {
            let (a, b) = (w[0], w[1]);
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len2 = dx * dx + dy * dy;
            let t = if len2 < 1e-12 {
                0.0
            } else {
                (((self.x - a.0) * dx + (self.y - a.1) * dy) / len2).clamp(0.0, 1.0)
            };
            (self.x - (a.0 + t * dx)).hypot(self.y - (a.1 + t * dy)) < 0.05
        })
    }

    /// Advances `dt` simulated seconds; returns the node ids reached.
    pub(super) fn step(&mut self, dt: f64, now: f64) -> Vec<u32> {
        let mut reached = Vec::new();
        if self.charging {
            self.battery = (self.battery + 0.5 * dt).min(100.0);
            if self.battery >= 99.9 {
                self.charging = false;
            }
            return reached;
        }
        if let Some(until) = self.action_until {
            if now >= until {
                self.action_until = None;
            } else {
                return reached;
            }
        }
        self.battery = (self.battery - if self.moving() { 0.05 } else { 0.005 } * dt).max(0.0);
        if !self.moving() {
            self.v = 0.0;
            return reached;
        }
        let mut budget = dt;
        while budget > 1e-9 && self.moving() {
            let target = &self.path[self.next];
            let (dx, dy) = (target.pose.x - self.x, target.pose.y - self.y);
            let d = dx.hypot(dy);
            if d < 1e-6 {
                self.last_node_id = target.node_id;
                reached.push(target.node_id);
                let actions = !target.actions.is_empty();
                self.next += 1;
                if actions {
                    self.action_until = Some(now + ACTION_S);
                    self.v = 0.0;
                    return reached;
                }
                continue;
            }
            // rotate in place first when the heading is far off
            let heading = dy.atan2(dx);
            let mut err = heading - self.theta;
            while err > std::f64::consts::PI {
                err -= std::f64::consts::TAU;
            }
            while err < -std::f64::consts::PI {
                err += std::f64::consts::TAU;
            }
            if err.abs() > 0.05 {
                self.v = 0.0;
                let turn = (TURN_RATE * budget).min(err.abs());
                self.theta += turn * err.signum();
                budget -= turn / TURN_RATE;
                continue;
            }
            self.theta = heading;
            self.v = (self.v + ACCEL * budget).min(self.params.top_speed().max(0.01));
            let travel = self.v * budget;
            if travel >= d {
                budget -= d / self.v.max(1e-6);
                self.x = target.pose.x;
                self.y = target.pose.y;
            } else {
                self.x += dx / d * travel;
                self.y += dy / d * travel;
                budget = 0.0;
            }
        }
        reached
    }

    pub(super) fn command(&mut self, seq: u32, m: &Message) -> Message {
        let ok = |m: &Message| -> Message {
            Ack {
                request_seq: seq,
                request_type: m.message_type(),
                result: ResultCode::Ok,
                detail: String::new(),
            }
            .into()
        };
        let conflict = |m: &Message| -> Message {
            Ack {
                request_seq: seq,
                request_type: m.message_type(),
                result: ResultCode::StateConflict,
                detail: "safety stop".into(),
            }
            .into()
        };
        match m {
            Message::SafetyStop(stop) => {
                if stop.op == StopOp::Stop {
                    // brakes at once; its released path is void
                    self.safety_stopped = true;
                    self.v = 0.0;
                    self.path.clear();
                    self.released = 0;
                    self.next = 0;
                    self.origin = (self.x, self.y);
                } else {
                    self.safety_stopped = false;
                }
                ok(m)
            }
            Message::MotionCommand(_)
            | Message::MapSwitch(_)
            | Message::NavSwitch(_)
            | Message::TaskControl(TaskControl {
                op: TaskOp::Resume, ..
            }) if self.safety_stopped => conflict(m),
            Message::MotionCommand(c) => {
                if c.map_id != self.map_id {
                    return Ack {
                        request_seq: seq,
                        request_type: m.message_type(),
                        result: ResultCode::MapMismatch,
                        detail: String::new(),
                    }
                    .into();
                }
                let first = &c.nodes[0];
                let at_first = (first.pose.x - self.x).hypot(first.pose.y - self.y) < 0.01;
                // A later segment of the same task replaces the path from its first node on,
                // which is a node of the released part not yet passed (docs/protocol.md 6.6):
                // the AGV keeps driving its current path up to there.
                let continues = (c.task_id == self.task_id && !at_first)
                    .then(|| {
                        let from = self.next.saturating_sub(1);
                        self.path[..self.released.min(self.path.len())]
                            .iter()
                            .enumerate()
                            .skip(from)
                            .rev()
                            .find(|(_, n)| n.node_id == first.node_id)
                            .map(|(k, _)| k)
                    })
                    .flatten();
                // Neither a continuation nor a new path (which starts at sequence 0, or where it
                // stands at the end of its path): a later segment of a path it no longer has (it
                // forgot it on a link loss, a safety stop or a cancel), which the RCS made for
                // space it may have given up since.
                if continues.is_none() && first.sequence != 0 && (self.path.is_empty() || !at_first)
                {
                    return Ack {
                        request_seq: seq,
                        request_type: m.message_type(),
                        result: ResultCode::StateConflict,
                        detail: format!(
                            "node {} (sequence {}) continues no released path of task {}",
                            first.node_id, first.sequence, c.task_id
                        ),
                    }
                    .into();
                }
                match continues {
                    Some(k) => {
                        self.path.truncate(k);
                        self.path.extend(c.nodes.iter().cloned());
                        self.released = k + usize::from(c.released_nodes);
                    }
                    None => {
                        // A new path: from where it stands (or straight to its first node);
                        // in a manoeuvre, from where it returns to.
                        self.task_id = c.task_id;
                        self.next = usize::from(at_first);
                        if at_first {
                            self.last_node_id = first.node_id;
                        }
                        self.origin = match self.obstacle {
                            Obstacle::Manoeuvre { cx, cy, .. } => (cx, cy),
                            _ => (self.x, self.y),
                        };
                        self.path = c.nodes.clone();
                        self.released = usize::from(c.released_nodes);
                    }
                }
                self.charging = false;
                ok(m)
            }
            // Pause and resume need a task (docs/protocol.md 6.6, TaskControl): without one,
            // StateConflict and nothing changes; pausing a paused AGV or resuming a running one
            // is Ok (the answer a resend gets).
            Message::TaskControl(TaskControl {
                op: TaskOp::Pause | TaskOp::Resume,
                ..
            }) if !self.has_task() => conflict(m),
            Message::TaskControl(t) => {
                match t.op {
                    TaskOp::Pause => self.paused = true,
                    TaskOp::Resume => self.paused = false,
                    TaskOp::Cancel => {
                        self.path.clear();
                        self.released = 0;
                        self.next = 0;
                        self.task_id = 0;
                        self.paused = false;
                    }
                }
                ok(m)
            }
            Message::ChargeControl(c) => {
                self.charging = c.op == ChargeOp::Start;
                ok(m)
            }
            Message::NavSwitch(n) => {
                self.navigation = n.target;
                NavSwitchResult {
                    request_seq: seq,
                    result: ResultCode::Ok,
                    mode: n.target,
                    localisation_quality: 90,
                }
                .into()
            }
            Message::MapSwitch(s) => {
                self.map_id = s.target_map_id;
                self.x = s.initial_pose.x;
                self.y = s.initial_pose.y;
                self.theta = s.initial_pose.theta;
                self.navigation = s.navigation;
                self.path.clear();
                self.released = 0;
                self.next = 0;
                MapSwitchResult {
                    request_seq: seq,
                    result: ResultCode::Ok,
                    map_id: s.target_map_id,
                    localisation_quality: 90,
                    pose: s.initial_pose.clone(),
                }
                .into()
            }
            Message::SpaceRevoke(r) => {
                if matches!(self.obstacle, Obstacle::Manoeuvre { grant, .. } if grant == r.grant_id)
                    && let Obstacle::Manoeuvre { cx, cy, .. } = self.obstacle
                {
                    // back to where it stood, then hold
                    self.x = cx;
                    self.y = cy;
                    self.obstacle = Obstacle::None;
                }
                ok(m)
            }
            Message::ParamQuery(q) => ParamQueryResponse {
                request_seq: seq,
                result: ResultCode::Ok,
                values: self.params.query(&q.params),
            }
            .into(),
            Message::ParamSet(w) => {
                let (result, results) = self.params.set(&w.values);
                ParamSetResponse {
                    request_seq: seq,
                    result,
                    results,
                }
                .into()
            }
            other => ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agv::Profile;

    fn body() -> Body {
        let spec = Spec {
            id: 1,
            map_id: 1,
            x: 0.0,
            y: 0.0,
            node: 1,
            keys: None,
            profile: Profile::Guide,
            time_scale: 1.0,
            obstacles_per_min: 0.0,
            seed: 1,
            relocate: None,
            churn_per_hour: 0.0,
            min_status_period_ms: 0,
        };
        Body::new(&spec, 80.0)
    }

    fn answer(b: &mut Body, op: TaskOp) -> ResultCode {
        let m: Message = TaskControl { task_id: 0, op }.into();
        match b.command(7, &m) {
            Message::Ack(a) => a.result,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pause_and_resume_without_a_task_are_state_conflicts() {
        // docs/protocol.md 6.6, TaskControl
        let mut b = body();
        assert_eq!(answer(&mut b, TaskOp::Pause), ResultCode::StateConflict);
        assert_eq!(answer(&mut b, TaskOp::Resume), ResultCode::StateConflict);
        assert_eq!(b.state(), AgvState::Idle, "nothing changed");
        assert_eq!(answer(&mut b, TaskOp::Cancel), ResultCode::Ok);
        // with a task: Ok, twice (a resend gets the same answer)
        let node = |id: u32, x: f64| PathNode {
            node_id: id,
            sequence: 0,
            pose: Pose {
                x,
                y: 0.0,
                theta: 0.0,
            },
            attribute: TargetAttribute::PassThrough,
            actions: Vec::new(),
        };
        b.path = vec![node(1, 0.0), node(2, 1.0)];
        b.released = 2;
        b.next = 1;
        for _ in 0..2 {
            assert_eq!(answer(&mut b, TaskOp::Pause), ResultCode::Ok);
            assert_eq!(b.state(), AgvState::Paused);
        }
        for _ in 0..2 {
            assert_eq!(answer(&mut b, TaskOp::Resume), ResultCode::Ok);
            assert_eq!(b.state(), AgvState::Working);
        }
        // a cancelled task is no task: its id is no longer reported (6.11)
        b.task_id = 5;
        assert_eq!(answer(&mut b, TaskOp::Cancel), ResultCode::Ok);
        assert_eq!(b.task_id, 0);
        assert_eq!(answer(&mut b, TaskOp::Pause), ResultCode::StateConflict);
    }

    fn motion(task: u32, nodes: &[(u32, u16, f64)], released: u16) -> Message {
        MotionCommand {
            task_id: task,
            task_type: TaskType::Move,
            segment: 1,
            map_id: 1,
            nodes: nodes
                .iter()
                .map(|&(node_id, sequence, x)| PathNode {
                    node_id,
                    sequence,
                    pose: Pose {
                        x,
                        y: 0.0,
                        theta: 0.0,
                    },
                    attribute: TargetAttribute::PassThrough,
                    actions: Vec::new(),
                })
                .collect(),
            edges: Vec::new(),
            released_nodes: released,
            max_speed: 0.0,
            extensions: Vec::new(),
        }
        .into()
    }

    fn result(m: Message) -> ResultCode {
        match m {
            Message::Ack(a) => a.result,
            other => panic!("{other:?}"),
        }
    }

    /// A later segment of a path the AGV no longer has (it forgot it on a link loss) is refused
    /// with `StateConflict` (docs/protocol.md 6.6), not driven as a new path: the RCS made it
    /// for space it may have given up since, when the AGV reported standing after its link came
    /// back (the soak's AGVs 453 and 803 met so).
    #[test]
    fn a_segment_of_a_path_forgotten_on_a_link_loss_is_refused() {
        let mut b = body();
        let path = [(1, 0, 0.0), (2, 2, 1.0), (3, 4, 2.0), (4, 6, 3.0)];
        assert_eq!(
            result(b.command(1, &motion(9, &path[..3], 2))),
            ResultCode::Ok
        );
        b.on_link_lost();
        // the segment from its last released node on, made before the link broke
        let stale = motion(9, &path[1..], 3);
        assert_eq!(result(b.command(2, &stale)), ResultCode::StateConflict);
        assert!(!b.moving(), "it drives nothing");
        assert!(b.path.is_empty());
        // a new path (sequence 0) from where it stands is taken
        let new = [(2, 0, 1.0), (3, 2, 2.0)];
        assert_eq!(result(b.command(3, &motion(9, &new, 2))), ResultCode::Ok);
        assert!(b.moving());
        // and a segment continuing it too
        let next = [(3, 2, 2.0), (4, 4, 3.0)];
        assert_eq!(result(b.command(4, &motion(9, &next, 2))), ResultCode::Ok);
        assert_eq!(b.released, 3);
        // standing at the end of its released part, the next segment starts where it stands
        b.x = 3.0;
        b.next = 3;
        let on = [(4, 4, 3.0), (5, 6, 4.0)];
        assert_eq!(result(b.command(5, &motion(9, &on, 2))), ResultCode::Ok);
        assert!(b.moving());
        // standing on the first node of a stale segment after a link loss: refused all the same
        b.on_link_lost();
        b.x = 4.0;
        let stale = [(5, 6, 4.0), (6, 8, 5.0)];
        assert_eq!(
            result(b.command(6, &motion(9, &stale, 2))),
            ResultCode::StateConflict
        );
    }
}
