//! A simulated AGV: kinematics (acceleration, turning on the spot), lifts, charging, drop-outs.

use maps::Shape;
use maps::space::oriented_rect;

use crate::agv::{Mode, Report};

pub(super) const DIMS: [f64; 4] = [0.5, 0.5, 0.4, 0.4];
const ACCEL: f64 = 0.5;
const TURN: f64 = 1.5;
pub(super) const VMAX: f64 = 1.5;

#[derive(Debug, Clone)]
pub(super) struct SimAgv {
    pub(super) id: u32,
    pub(super) map: u16,
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) theta: f64,
    pub(super) v: f64,
    pub(super) slow: f64,
    /// Released path: (node, x, y).
    pub(super) path: Vec<(u32, f64, f64)>,
    pub(super) next: usize,
    pub(super) last: bool,
    pub(super) task: u32,
    pub(super) last_node: u32,
    pub(super) battery: f32,
    pub(super) charging: bool,
    pub(super) online: bool,
    pub(super) back_at: u64,
    pub(super) paused_until: u64,
    /// A lift ride: ends at, command id, map, exit node.
    pub(super) riding: Option<(u64, u64, u16, u32)>,
    /// It moved or turned in the last step.
    pub(super) moving: bool,
}

impl SimAgv {
    pub(super) fn mode(&self) -> Mode {
        if self.riding.is_some() {
            Mode::Switching
        } else if self.next < self.path.len() {
            // also while it turns on the spot or is held up: it has released path to drive
            Mode::Driving
        } else if self.charging {
            Mode::Charging
        } else if self.task != 0 && !self.last {
            Mode::WaitingForRelease
        } else {
            Mode::Idle
        }
    }

    /// Advances `dt` s along the released path.
    pub(super) fn step(&mut self, dt: f64, now: u64) {
        self.moving = false;
        if self.next >= self.path.len() || now < self.paused_until || self.riding.is_some() {
            self.v = 0.0;
            if self.charging {
                self.battery = (self.battery + 0.5 * dt as f32).min(100.0);
            }
            return;
        }
        self.charging = false;
        let (_, tx, ty) = self.path[self.next];
        let (dx, dy) = (tx - self.x, ty - self.y);
        let d = dx.hypot(dy);
        if d < 1e-3 {
            self.arrive();
            return;
        }
        let want = dy.atan2(dx);
        let mut diff = want - self.theta;
        while diff > std::f64::consts::PI {
            diff -= std::f64::consts::TAU;
        }
        while diff < -std::f64::consts::PI {
            diff += std::f64::consts::TAU;
        }
        if diff.abs() > 0.05 {
            // turn on the spot
            self.v = 0.0;
            let turn = (TURN * dt).min(diff.abs());
            self.theta += turn * diff.signum();
            self.moving = true;
            return;
        }
        self.theta = want;
        // distance left to the end of what was released
        let mut left = d;
        for w in self.path[self.next..].windows(2) {
            left += (w[1].1 - w[0].1).hypot(w[1].2 - w[0].2);
        }
        let vmax = VMAX * self.slow;
        let v = (self.v + ACCEL * dt)
            .min(vmax)
            .min((2.0 * ACCEL * left).sqrt().max(0.05));
        self.v = v;
        self.moving = true;
        self.battery = (self.battery - 0.01 * dt as f32).max(0.0);
        let mut travel = v * dt;
        while travel > 0.0 && self.next < self.path.len() {
            let (_, tx, ty) = self.path[self.next];
            let (dx, dy) = (tx - self.x, ty - self.y);
            let d = dx.hypot(dy);
            if travel >= d {
                self.x = tx;
                self.y = ty;
                travel -= d;
                self.arrive();
                // a turn comes next: stop here
                if let Some(&(_, nx, ny)) = self.path.get(self.next) {
                    let h = (ny - self.y).atan2(nx - self.x);
                    if (h - self.theta).abs() > 0.05 {
                        self.v = 0.0;
                        break;
                    }
                }
            } else {
                self.x += dx / d * travel;
                self.y += dy / d * travel;
                travel = 0.0;
            }
        }
    }

    pub(super) fn arrive(&mut self) {
        self.last_node = self.path[self.next].0;
        self.next += 1;
        if self.next >= self.path.len() {
            self.v = 0.0;
            if self.last {
                self.task = 0;
            }
        }
    }

    pub(super) fn report(&self, battery: f32) -> Report {
        Report {
            map: self.map,
            pose: [self.x, self.y, self.theta],
            moving: self.moving,
            mode: self.mode(),
            last_node: self.last_node,
            battery_pct: battery,
            settled: true,
            task: self.task,
        }
    }

    pub(super) fn footprint(&self) -> Shape {
        Shape::new(vec![oriented_rect(
            self.x, self.y, self.theta, DIMS[0], DIMS[1], DIMS[2], DIMS[3],
        )])
    }
}
