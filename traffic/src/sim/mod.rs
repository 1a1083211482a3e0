//! A deterministic fleet simulation of the core: simulated AGVs (acceleration, turning on the
//! spot, lifts, charging) with random disturbances (slower than planned, pauses, drop-outs and
//! returns), driven in virtual time, seeded. No TCP, no clock: the same configuration gives the
//! same run. It checks the invariants as it goes: no two footprints overlap, no two AGVs'
//! reservations overlap, no AGV outside the space released to it.

mod check;
mod report;
mod vehicle;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use maps::Site;
use serde::Serialize;

use crate::action::{Action, Command, Outcome};
use crate::core::{Core, Settings};
use crate::task::{Spec, TaskKind, TaskState};

pub use check::check_reservations;
pub use report::SimReport;

use check::check;
use report::percentile;
use vehicle::{DIMS, SimAgv, VMAX};

/// What to simulate.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// AGVs.
    pub agvs: usize,
    /// Simulated time, ms.
    pub duration_ms: u64,
    /// After `duration_ms`, no new tasks; the run goes on up to this long for open ones, ms.
    pub drain_ms: u64,
    /// Seed.
    pub seed: u64,
    /// Tasks submitted per simulated hour (the whole fleet).
    pub tasks_per_hour: f64,
    /// One step, ms (status period and tick).
    pub step_ms: u64,
    /// Share of AGVs slower than planned (70-95 % of their speed).
    pub slow_share: f64,
    /// Pauses per AGV and hour (1-5 s standing still, path kept).
    pub pauses_per_hour: f64,
    /// Drop-outs per AGV and hour (offline 5-30 s, then back where they stopped).
    pub dropouts_per_hour: f64,
    /// Check footprints and coverage every this many steps (1: every step).
    pub check_every: u64,
    /// Print every step of this AGV, and the actions for it, to stderr (debugging).
    pub trace_agv: Option<u32>,
    /// Print every AGV and its task's wait to stderr at the end (debugging).
    pub dump_at_end: bool,
    /// Where tasks go.
    pub destinations: Destinations,
    /// Every this many tasks, one names an AGV (0: none does), as a business system that
    /// wants a particular vehicle: one with no open task naming it.
    pub named_every: u64,
    /// Which AGV a named task names.
    pub naming: Naming,
    /// A lift ride, door to door, ms.
    pub lift_ride_ms: u64,
    /// The core's settings.
    #[serde(skip)]
    pub settings: Settings,
}

/// Where the simulation sends tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Destinations {
    /// Stations only.
    Stations,
    /// Any node a move, pick or drop may go to (waypoints and stations the core accepts: not
    /// lift doors, not in forbidden areas), as `agv-sim run` sends them; never one that an open
    /// task already goes to or that an AGV stands on.
    Any,
}

/// Which AGV a named task names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Naming {
    /// Any AGV not named by an open task, at random.
    Random,
    /// At random among those on the destination's map, when there is one (a business system
    /// naming a vehicle that needs no lift to get there); else any.
    SameMap,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            agvs: 100,
            duration_ms: 15 * 60_000,
            drain_ms: 5 * 60_000,
            seed: 1,
            tasks_per_hour: 6_000.0,
            step_ms: 100,
            slow_share: 0.2,
            pauses_per_hour: 2.0,
            dropouts_per_hour: 0.5,
            check_every: 1,
            trace_agv: None,
            dump_at_end: false,
            destinations: Destinations::Stations,
            named_every: 0,
            naming: Naming::Random,
            lift_ride_ms: 8_000,
            settings: Settings::default(),
        }
    }
}
/// A small deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}
/// The AGV a named task to `dest` names: online, not named by an open task, by `naming`.
fn name_agv(
    site: &Site,
    naming: Naming,
    agvs: &[SimAgv],
    open: &BTreeMap<u32, (u32, Option<u32>)>,
    dest: u32,
    rng: &mut Rng,
) -> Option<u32> {
    let named: std::collections::BTreeSet<u32> = open.values().filter_map(|(_, a)| *a).collect();
    let free: Vec<&SimAgv> = agvs
        .iter()
        .filter(|a| a.online && !named.contains(&a.id))
        .collect();
    let map = site.node(dest).map(|n| n.map);
    let near: Vec<&SimAgv> = match naming {
        Naming::Random => Vec::new(),
        Naming::SameMap => free
            .iter()
            .copied()
            .filter(|a| Some(a.map) == map && a.riding.is_none())
            .collect(),
    };
    let pool = if near.is_empty() { &free } else { &near };
    (!pool.is_empty()).then(|| pool[rng.below(pool.len())].id)
}

/// Runs `cfg` on `site`; `progress` is called every simulated minute with the report so far.
pub fn run(site: &Site, cfg: &Config, mut progress: impl FnMut(u64, &SimReport)) -> SimReport {
    let run_start = Instant::now();
    let mut rng = Rng::new(cfg.seed);
    let mut core = Core::new(site, cfg.settings.clone(), 0);
    let mut report = SimReport {
        agvs: cfg.agvs,
        nodes: site.node_count(),
        ..SimReport::default()
    };
    // Task destinations; start places: plain nodes, distinct.
    let destinations: Vec<u32> = site
        .nodes()
        .iter()
        .filter(|n| match cfg.destinations {
            Destinations::Stations => n.kind == maps::file::NodeKind::Station,
            Destinations::Any => {
                matches!(
                    n.kind,
                    maps::file::NodeKind::Station | maps::file::NodeKind::Waypoint
                ) && crate::task::validate(site, &Spec::new(TaskKind::Move, n.id), |_| true).is_ok()
            }
        })
        .map(|n| n.id)
        .collect();
    // open tasks of the generator: destination, named AGV
    let mut open: BTreeMap<u32, (u32, Option<u32>)> = BTreeMap::new();
    let mut generated = 0u64;
    let mut places: Vec<&maps::Node> = site
        .nodes()
        .iter()
        .filter(|n| {
            (n.kind == maps::file::NodeKind::Waypoint || n.kind == maps::file::NodeKind::Parking)
                // (not in a forbidden area: nothing could get it out)
                && crate::task::validate(site, &Spec::new(TaskKind::Move, n.id), |_| true).is_ok()
        })
        .collect();
    for i in (1..places.len()).rev() {
        let j = rng.below(i + 1);
        places.swap(i, j);
    }
    let mut agvs: Vec<SimAgv> = places
        .iter()
        .take(cfg.agvs)
        .enumerate()
        .map(|(i, n)| SimAgv {
            id: i as u32 + 1,
            map: n.map,
            x: n.x,
            y: n.y,
            theta: 0.0,
            v: 0.0,
            slow: 1.0,
            path: Vec::new(),
            next: 0,
            last: true,
            task: 0,
            last_node: n.id,
            battery: 50.0 + 50.0 * rng.unit() as f32,
            charging: false,
            online: true,
            back_at: 0,
            paused_until: 0,
            riding: None,
            moving: false,
        })
        .collect();
    for a in &mut agvs {
        if rng.unit() < cfg.slow_share {
            a.slow = 0.7 + 0.25 * rng.unit();
        }
    }
    let mut core_time = Duration::ZERO;
    let mut ticks: Vec<f64> = Vec::new();
    let mut reports: Vec<f64> = Vec::new();
    let t0 = Instant::now();
    for a in &agvs {
        core.online(0, a.id, DIMS, VMAX);
        core.report(0, a.id, &a.report(a.battery));
    }
    core_time += t0.elapsed();
    let step_s = cfg.step_ms as f64 / 1000.0;
    let per_step_tasks = cfg.tasks_per_hour / 3_600_000.0 * cfg.step_ms as f64;
    let pause_p = cfg.pauses_per_hour / 3_600_000.0 * cfg.step_ms as f64;
    let drop_p = cfg.dropouts_per_hour / 3_600_000.0 * cfg.step_ms as f64;
    let mut submitted_at: BTreeMap<u32, u64> = BTreeMap::new();
    let mut durations: Vec<f64> = Vec::new();
    let mut run_times: Vec<f64> = Vec::new();
    let mut waits: BTreeMap<u32, (crate::wait::WaitReason, u64)> = BTreeMap::new();
    let mut owed = 0.0;
    let end = cfg.duration_ms + cfg.drain_ms;
    let mut now = 0;
    let mut step_no = 0u64;
    while now < end {
        now += cfg.step_ms;
        step_no += 1;
        // New tasks.
        if now <= cfg.duration_ms && !destinations.is_empty() {
            owed += per_step_tasks;
            while owed >= 1.0 {
                owed -= 1.0;
                report.requested += 1;
                let mut dest = destinations[rng.below(destinations.len())];
                if cfg.destinations == Destinations::Any {
                    // a free one: no open task goes there, no AGV stands there (a few tries)
                    for _ in 0..16 {
                        let taken = open.values().any(|(d, _)| *d == dest)
                            || agvs
                                .iter()
                                .any(|a| a.last_node == dest && a.path.is_empty());
                        if !taken {
                            break;
                        }
                        dest = destinations[rng.below(destinations.len())];
                    }
                }
                let kind = [TaskKind::Move, TaskKind::Pick, TaskKind::Drop][rng.below(3)];
                generated += 1;
                let mut spec = Spec::new(kind, dest);
                if cfg.named_every > 0 && generated % cfg.named_every == 0 {
                    spec.agv = name_agv(site, cfg.naming, &agvs, &open, dest, &mut rng);
                }
                let named = spec.agv;
                let t = Instant::now();
                let r = core.submit(now, spec);
                core_time += t.elapsed();
                match r {
                    Ok(id) => {
                        report.submitted += 1;
                        submitted_at.insert(id, now);
                        open.insert(id, (dest, named));
                    }
                    Err(e) => *report.refused.entry(e.to_string()).or_default() += 1,
                }
            }
        } else if now > cfg.duration_ms && core.running.is_empty() && core.queue.is_empty() {
            break;
        }
        // Disturbances and motion.
        for a in &mut agvs {
            if !a.online {
                if now >= a.back_at {
                    a.online = true;
                    let t = Instant::now();
                    core.online(now, a.id, DIMS, VMAX);
                    core_time += t.elapsed();
                }
                continue;
            }
            if a.riding.is_none() && rng.unit() < drop_p {
                // link lost: it stops and forgets its path
                a.online = false;
                a.back_at = now + 5_000 + rng.below(25_000) as u64;
                a.path.clear();
                a.next = 0;
                a.v = 0.0;
                a.task = 0;
                a.last = true;
                a.moving = false;
                let t = Instant::now();
                core.offline(now, a.id);
                core_time += t.elapsed();
                continue;
            }
            if rng.unit() < pause_p {
                a.paused_until = now + 1_000 + rng.below(4_000) as u64;
            }
            a.step(step_s, now);
        }
        // Lift rides that end.
        let mut done_rides = Vec::new();
        for a in &mut agvs {
            if let Some((at, cmd, map, exit)) = a.riding
                && now >= at
            {
                a.riding = None;
                if let Some(n) = site.node(exit) {
                    a.map = map;
                    a.x = n.x;
                    a.y = n.y;
                    a.last_node = exit;
                }
                done_rides.push(cmd);
            }
        }
        let t = Instant::now();
        for cmd in done_rides {
            core.answered(now, cmd, Outcome::Ok);
        }
        // Reports.
        for a in &agvs {
            if a.online && a.riding.is_none() {
                core.report(now, a.id, &a.report(a.battery));
            }
        }
        let r = t.elapsed();
        reports.push(r.as_secs_f64() * 1e6);
        // Decide.
        let t = Instant::now();
        core.tick(now);
        let d = t.elapsed();
        let us = d.as_secs_f64() * 1e6;
        ticks.push(us);
        if us > report.tick_max_us {
            report.tick_max_us = us;
            report.tick_max_at_s = now as f64 / 1000.0;
        }
        if us > 10_000.0 {
            report.ticks_over_10ms += 1;
        }
        core_time += r + d;
        // Carry out.
        let t = Instant::now();
        let mut answers = Vec::new();
        let trace = cfg.trace_agv;
        if let Some(x) = trace {
            let a = &agvs[x as usize - 1];
            let c = core.agv(x);
            let holds: Vec<String> = core
                .space()
                .holds(x)
                .iter()
                .map(|h| format!("{:?}", h.0))
                .collect();
            eprintln!(
                "{now} sim: pos ({:.2},{:.2}) th {:.2} v {:.2} moving {} next {}/{} last_node {} | core task {:?} {:?} | holds {}",
                a.x,
                a.y,
                a.theta,
                a.v,
                a.moving,
                a.next,
                a.path.len(),
                a.last_node,
                c.and_then(|c| c.task),
                c.and_then(|c| c.task).and_then(|t| core.task(t)).map(|t| (
                    t.step,
                    t.released,
                    t.sent,
                    t.wait.as_ref().map(|w| w.reason),
                    t.steps
                        .iter()
                        .map(|s| match s {
                            crate::task::Step::Drive { nodes, .. } => nodes.clone(),
                            _ => vec![],
                        })
                        .collect::<Vec<_>>()
                )),
                holds.join(",")
            );
        }
        loop {
            while let Some(action) = core.poll_action() {
                if let Some(x) = trace {
                    match &action {
                        Action::Motion { agv, .. }
                        | Action::Send { agv, .. }
                        | Action::Released { agv, .. }
                            if *agv == x =>
                        {
                            eprintln!("{now} action {action:?}");
                        }
                        _ => {}
                    }
                }
                match action {
                    Action::Motion {
                        id, agv, command, ..
                    }
                    | Action::Send { id, agv, command } => {
                        let a = &mut agvs[agv as usize - 1];
                        if !a.online {
                            answers.push((id, Outcome::Offline));
                            continue;
                        }
                        match command {
                            Command::Motion {
                                task,
                                nodes,
                                new_path,
                                last,
                                ..
                            } => {
                                let pts = nodes
                                    .iter()
                                    .filter_map(|n| site.node(*n).map(|x| (*n, x.x, x.y)));
                                if new_path {
                                    a.path = pts.collect();
                                    a.next = 0;
                                } else {
                                    a.path.extend(pts.skip(1));
                                }
                                a.task = task;
                                a.last = last;
                                answers.push((id, Outcome::Ok));
                            }
                            Command::Cancel { .. } => {
                                // stops at the node it drives to
                                let keep = (a.next + 1).min(a.path.len());
                                a.path.truncate(keep);
                                a.last = true;
                                answers.push((id, Outcome::Ok));
                            }
                            Command::NavSwitch { .. } => answers.push((id, Outcome::Ok)),
                            Command::Lift { to_map, exit, .. } => {
                                report.lift_rides += 1;
                                a.riding = Some((now + cfg.lift_ride_ms, id, to_map, exit));
                            }
                            Command::Charge { .. } => {
                                a.charging = true;
                                answers.push((id, Outcome::Ok));
                            }
                        }
                    }
                    Action::Publish(crate::action::Event::Ended { task, state }) => {
                        open.remove(&task);
                        if let Some(at) = submitted_at.remove(&task) {
                            match state {
                                TaskState::Completed => {
                                    durations.push((now - at) as f64 / 1000.0);
                                    if let Some(started) =
                                        core.task(task).and_then(|t| t.started_ms)
                                    {
                                        run_times.push(now.saturating_sub(started) as f64 / 1000.0);
                                    }
                                }
                                TaskState::Failed => {
                                    let why = core
                                        .task(task)
                                        .and_then(|t| t.error.clone())
                                        .unwrap_or_default();
                                    *report.failed.entry(why).or_default() += 1;
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            if answers.is_empty() {
                break;
            }
            let t2 = Instant::now();
            for (id, o) in answers.drain(..) {
                core.answered(now, id, o);
            }
            core_time += t2.elapsed();
        }
        let _ = t;
        // Waits: episodes and their length.
        for id in &core.running {
            let t = &core.tasks[id];
            match &t.wait {
                Some(w) => {
                    let e = waits.entry(*id).or_insert((w.reason, w.since_ms));
                    if e.0 != w.reason {
                        let (reason, since) = *e;
                        report.wait_ended(reason.name(), now.saturating_sub(since));
                        *e = (w.reason, w.since_ms);
                    }
                }
                None => {
                    if let Some((reason, since)) = waits.remove(id) {
                        report.wait_ended(reason.name(), now.saturating_sub(since));
                    }
                }
            }
        }
        waits.retain(|id, _| core.running.contains(id));
        // Invariants.
        if step_no % cfg.check_every.max(1) == 0 {
            check(&core, &agvs, &mut report, now);
        }
        if now % 60_000 == 0 {
            core.forget_finished(now.saturating_sub(60_000));
            let before: u64 = report.completed_by_minute.iter().sum();
            report
                .completed_by_minute
                .push(core.stats.completed.saturating_sub(before));
            report.completed = core.stats.completed;
            progress(now, &report);
        }
    }
    check_reservations(&core, &mut report, now);
    report.simulated_s = now as f64 / 1000.0;
    report.completed = core.stats.completed;
    report.open = (core.running.iter().chain(core.queue.iter().map(|k| &k.2)))
        .filter(|id| core.tasks.get(id).is_some_and(|t| !t.internal))
        .count() as u64;
    if cfg.dump_at_end {
        for a in core.agvs() {
            let t = a.task.and_then(|t| core.task(t));
            eprintln!(
                "AGV {} online {} mode {:?} node {} task {:?} internal {:?} wait {:?} settling {} queued_for {}",
                a.id,
                a.online,
                a.mode,
                a.last_node,
                a.task,
                t.map(|t| t.internal),
                t.and_then(|t| t.wait.as_ref()).map(|w| w.reason),
                core.settling.contains(&a.id),
                core.queued_for(a.id),
            );
            if let Some(t) = t
                && t.wait.is_none()
            {
                eprintln!(
                    "   task {} step {} released {} sent {} busy {:?} yield {:?} steps {:?} pose {:?}",
                    t.id, t.step, t.released, t.sent, t.busy, t.yield_to, t.steps, a.pose
                );
            }
        }
    }
    for t in core
        .tasks()
        .filter(|t| !t.state.is_final() && !t.internal)
        .take(20)
    {
        report.stuck.push(format!(
            "task {} ({:?}, node {}) {:?} AGV {:?} step {}/{} released {} wait {:?} since {:.1}s; AGV: {:?}",
            t.id,
            t.spec.kind,
            t.spec.destination,
            t.state,
            t.agv,
            t.step,
            t.steps.len(),
            t.released,
            t.wait.as_ref().map(|w| w.reason),
            t.wait.as_ref().map_or(0.0, |w| w.since_ms as f64 / 1000.0),
            t.agv.and_then(|a| core.agv(a)).map(|a| (a.mode, a.moving, a.settled, a.last_node, a.pose)),
        ));
    }
    for (reason, since) in waits.values() {
        let longest = report
            .wait_max_s
            .entry(reason.name().to_owned())
            .or_default();
        *longest = longest.max(now.saturating_sub(*since) as f64 / 1000.0);
    }
    for t in core.tasks().filter(|t| !t.state.is_final() && !t.internal) {
        match t.started_ms {
            Some(started) => {
                let age = now.saturating_sub(started) as f64 / 1000.0;
                report.oldest_running_s = report.oldest_running_s.max(age);
            }
            None => {
                let age = now.saturating_sub(t.created_ms) as f64 / 1000.0;
                report.oldest_queued_s = report.oldest_queued_s.max(age);
            }
        }
    }
    report.throughput_per_hour = report.completed as f64 / (cfg.duration_ms as f64 / 3_600_000.0);
    durations.sort_by(f64::total_cmp);
    report.task_p50_s = percentile(&durations, 0.5);
    report.task_p99_s = percentile(&durations, 0.99);
    run_times.sort_by(f64::total_cmp);
    report.run_p50_s = percentile(&run_times, 0.5);
    report.run_p99_s = percentile(&run_times, 0.99);
    ticks.sort_by(f64::total_cmp);
    reports.sort_by(f64::total_cmp);
    report.tick_p50_us = percentile(&ticks, 0.5);
    report.tick_p99_us = percentile(&ticks, 0.99);
    report.reports_p99_us = percentile(&reports, 0.99);
    report.core = core.stats.clone();
    report.core_cpu_s = core_time.as_secs_f64();
    report.run_cpu_s = run_start.elapsed().as_secs_f64();
    report.core_ms_per_sim_s = report.core_cpu_s * 1000.0 / report.simulated_s.max(1e-9);
    report
}
