//! Safety episodes (docs/traffic.md, "When an overlap appears anyway"). An AGV whose reported
//! footprint overlaps space another AGV holds is physically where the RCS did not put it: an
//! **intruder**. At once (in the connection task that took the report, before anything else
//! happens with it) the intruder and every AGV whose held space its footprint touches get a
//! `SafetyStop`; an alarm names them all and the episode goes to the audit log. Nothing that
//! overlaps the intruder is given to anyone while its footprint is in the space table, and the
//! dispatcher sends no motion to a stopped AGV.
//!
//! The episode resolves itself where that is safe: a stopped AGV that acknowledged the stop and
//! stands still has a void released path (docs/protocol.md, SafetyStop), so its task goes back
//! to the queue and its reservations are withdrawn; once the intruder's footprint overlaps
//! nobody's space any more, every AGV stopped for the episode is cleared (`SafetyStop(Clear)`)
//! and the dispatcher replans from where they stand. An episode where two footprints touch, or
//! where an AGV concerned is offline or does not acknowledge, stays open (and stopped) until the
//! AGVs are moved apart or an operator clears an offline AGV's space.
//!
//! [`Episodes`] is the bookkeeping, without I/O; [`on_footprint`] and [`run`] drive it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::message::{Message, SafetyStop, StopOp, StopReason};
use protocol::types::ResultCode;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::connections::CommandError;
use crate::state::{Shared, now_ms};

/// How often open episodes are looked at.
pub const CHECK: Duration = Duration::from_millis(100);
/// How many acknowledgements may wait for the safety task.
const QUEUE: usize = 4096;

/// An open safety episode.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Episode {
    /// Episode id (the `episode` of its SafetyStop frames).
    pub id: u32,
    /// The AGV whose footprint overlapped space held by others.
    pub intruder: u32,
    /// The map it was on.
    pub map_id: u16,
    /// The AGVs whose held space it overlapped (the AGVs it stopped, but for the intruder).
    pub others: Vec<u32>,
    /// Every AGV stopped for it.
    pub stopped: Vec<u32>,
    /// Opened at, UTC ms.
    pub opened_at_ms: u64,
}

/// A stop (or its clear) to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopOrder {
    /// The AGV.
    pub agv: u32,
    /// Stop or clear.
    pub op: StopOp,
    /// The episode.
    pub episode: u32,
    /// The other AGV involved.
    pub other: u32,
}

#[derive(Debug, Default, Clone)]
struct Stopped {
    /// The episodes that stop it.
    episodes: BTreeSet<u32>,
    /// The session in which it acknowledged the stop.
    acked_in: Option<u32>,
}

/// The episodes and who is stopped for them: pure bookkeeping.
#[derive(Debug, Default)]
pub struct Episodes {
    next: u32,
    open: BTreeMap<u32, Episode>,
    by_intruder: HashMap<u32, u32>,
    stopped: HashMap<u32, Stopped>,
}

impl Episodes {
    /// `intruder`'s footprint on `map` overlaps space held by `others` (sorted, without it).
    /// Opens an episode (or adds to the intruder's open one); returns it when it is new or grew,
    /// with the stops to send.
    pub fn observe(
        &mut self,
        intruder: u32,
        map: u16,
        others: &[u32],
        now_ms: u64,
    ) -> Option<(Episode, Vec<StopOrder>)> {
        if others.is_empty() {
            return None;
        }
        let id = match self.by_intruder.get(&intruder) {
            Some(id) => *id,
            None => {
                self.next = self.next.wrapping_add(1).max(1);
                let id = self.next;
                self.open.insert(
                    id,
                    Episode {
                        id,
                        intruder,
                        map_id: map,
                        others: Vec::new(),
                        stopped: Vec::new(),
                        opened_at_ms: now_ms,
                    },
                );
                self.by_intruder.insert(intruder, id);
                id
            }
        };
        let episode = self.open.get_mut(&id).expect("indexed");
        let mut orders = Vec::new();
        let first_other = others[0];
        for &agv in std::iter::once(&intruder).chain(others) {
            if agv != intruder && !episode.others.contains(&agv) {
                episode.others.push(agv);
            }
            if !episode.stopped.contains(&agv) {
                episode.stopped.push(agv);
                self.stopped.entry(agv).or_default().episodes.insert(id);
                orders.push(StopOrder {
                    agv,
                    op: StopOp::Stop,
                    episode: id,
                    other: if agv == intruder {
                        first_other
                    } else {
                        intruder
                    },
                });
            }
        }
        (!orders.is_empty()).then(|| (episode.clone(), orders))
    }

    /// Closes episode `id` (the intruder overlaps nobody any more); returns it and the clears
    /// to send to the AGVs no other episode stops.
    pub fn resolve(&mut self, id: u32) -> Option<(Episode, Vec<StopOrder>)> {
        let episode = self.open.remove(&id)?;
        self.by_intruder.remove(&episode.intruder);
        let mut orders = Vec::new();
        for &agv in &episode.stopped {
            let Some(s) = self.stopped.get_mut(&agv) else {
                continue;
            };
            s.episodes.remove(&id);
            if s.episodes.is_empty() {
                self.stopped.remove(&agv);
                orders.push(StopOrder {
                    agv,
                    op: StopOp::Clear,
                    episode: id,
                    other: if agv == episode.intruder {
                        episode.others.first().copied().unwrap_or(0)
                    } else {
                        episode.intruder
                    },
                });
            }
        }
        Some((episode, orders))
    }

    /// Whether `agv` is stopped by an open episode.
    pub fn is_stopped(&self, agv: u32) -> bool {
        self.stopped.contains_key(&agv)
    }

    /// Records that `agv` acknowledged its stop in session `session`.
    pub fn acknowledged(&mut self, agv: u32, session: u32) {
        if let Some(s) = self.stopped.get_mut(&agv) {
            s.acked_in = Some(session);
        }
    }

    /// Whether `agv` acknowledged its stop in session `session`.
    pub fn acknowledged_in(&self, agv: u32, session: u32) -> bool {
        self.stopped
            .get(&agv)
            .is_some_and(|s| s.acked_in == Some(session))
    }

    /// The stop `agv` is under (to send again in a new session), if any.
    pub fn stop_of(&self, agv: u32) -> Option<StopOrder> {
        let id = *self.stopped.get(&agv)?.episodes.first()?;
        let e = self.open.get(&id)?;
        Some(StopOrder {
            agv,
            op: StopOp::Stop,
            episode: id,
            other: if agv == e.intruder {
                e.others.first().copied().unwrap_or(0)
            } else {
                e.intruder
            },
        })
    }

    /// The open episodes, by id.
    pub fn open(&self) -> Vec<Episode> {
        self.open.values().cloned().collect()
    }
}

/// Work for the safety task.
enum Job {
    /// A stop or clear was handed to a connection: follow its answer.
    Answer(Pending),
    /// An episode opened or grew: into the audit log (committed).
    Audit {
        intruder: u32,
        detail: serde_json::Value,
    },
}

/// An acknowledgement to wait for.
struct Pending {
    order: StopOrder,
    session: u32,
    detected: Instant,
    answer: oneshot::Receiver<Result<Message, CommandError>>,
}

/// The server's safety state: the episodes and the queue of stops awaiting their answer.
#[derive(Debug)]
pub struct Safety {
    episodes: Mutex<Episodes>,
    revoking: Mutex<BTreeSet<u32>>,
    jobs: mpsc::Sender<Job>,
    queued: Mutex<Option<mpsc::Receiver<Job>>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Answer(p) => f.debug_tuple("Answer").field(&p.order).finish(),
            Job::Audit { intruder, .. } => {
                f.debug_struct("Audit").field("intruder", intruder).finish()
            }
        }
    }
}

impl Default for Safety {
    fn default() -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        Self {
            episodes: Mutex::new(Episodes::default()),
            revoking: Mutex::default(),
            jobs,
            queued: Mutex::new(Some(rx)),
        }
    }
}

impl Safety {
    /// Whether `agv` is stopped by an open episode.
    pub fn is_stopped(&self, agv: u32) -> bool {
        self.lock().is_stopped(agv)
    }

    /// Every AGV stopped by an open episode.
    pub fn stopped(&self) -> std::collections::BTreeSet<u32> {
        self.lock().stopped.keys().copied().collect()
    }

    /// The open episodes.
    pub fn open(&self) -> Vec<Episode> {
        self.lock().open()
    }

    /// Marks grant `id` as being revoked for safety; false if it already is.
    pub fn start_revoke(&self, id: u32) -> bool {
        self.revoking.lock().expect("not poisoned").insert(id)
    }

    /// The revoke of grant `id` is over (acknowledged or not).
    pub fn end_revoke(&self, id: u32) {
        self.revoking.lock().expect("not poisoned").remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Episodes> {
        self.episodes.lock().expect("not poisoned")
    }
}

fn stop_message(o: &StopOrder) -> Message {
    SafetyStop {
        op: o.op,
        reason: StopReason::Overlap,
        episode: o.episode,
        other_agv_id: o.other,
    }
    .into()
}

/// Hands `order` to the AGV's connection at once (no waiting); its answer is awaited by the
/// safety task.
fn send(shared: &Shared, order: StopOrder, detected: Instant) {
    let session = shared.fleet.get(order.agv).map_or(0, |v| v.session_id);
    match shared
        .connections
        .start_command(order.agv, stop_message(&order))
    {
        Ok(answer) => {
            let pending = Pending {
                order,
                session,
                detected,
                answer,
            };
            if shared.safety.jobs.try_send(Job::Answer(pending)).is_err() {
                tracing::error!(
                    agv_id = order.agv,
                    "safety queue full: acknowledgement not followed"
                );
            }
        }
        // Offline: it is not moving; its space stays held. A new session gets the stop again.
        Err(e) => {
            tracing::warn!(agv_id = order.agv, error = %e, op = ?order.op, "safety stop not sent")
        }
    }
}

/// A footprint was placed (`detected`: when its report was taken) and overlaps `others`: an
/// intrusion. Stops go out before this returns.
pub fn on_footprint(shared: &Shared, intruder: u32, map: u16, others: &[u32], detected: Instant) {
    let observed = shared
        .safety
        .lock()
        .observe(intruder, map, others, now_ms());
    let Some((episode, orders)) = observed else {
        return;
    };
    for order in &orders {
        send(shared, *order, detected);
    }
    shared.metrics.safety_overlaps.inc();
    shared.metrics.safety_stops.inc_by(orders.len() as u64);
    tracing::error!(
        episode = episode.id,
        agv_id = intruder,
        others = ?episode.others,
        "safety: footprint overlaps space held by other AGVs; stopped {:?}",
        orders.iter().map(|o| o.agv).collect::<Vec<_>>()
    );
    let detail = alarm_detail(shared, &episode);
    // Committed to the audit log (and broadcast) by the safety task.
    let job = Job::Audit { intruder, detail };
    if let Err(mpsc::error::TrySendError::Full(Job::Audit { intruder, detail })) =
        shared.safety.jobs.try_send(job)
    {
        shared
            .events
            .publish("safety.overlap", Some(intruder), "server", detail);
    }
}

/// What an alarm says: the episode, every AGV's pose and held space, whether footprints touch.
fn alarm_detail(shared: &Shared, e: &Episode) -> serde_json::Value {
    let space = shared.space();
    let mut agvs = serde_json::Map::new();
    let mut contact = Vec::new();
    for &agv in std::iter::once(&e.intruder).chain(&e.others) {
        let pose = shared
            .fleet
            .get(agv)
            .and_then(|v| v.footprint_at)
            .map(|(map, p)| json!({ "map_id": map, "x": p[0], "y": p[1], "theta": p[2] }));
        let held: Vec<serde_json::Value> = space
            .holds(agv)
            .iter()
            .map(|(h, map, _)| match h {
                maps::Hold::Footprint => json!({ "kind": "footprint", "map_id": map }),
                maps::Hold::Reservation { resource } => {
                    json!({ "kind": "reservation", "map_id": map, "id": resource })
                }
                maps::Hold::Grant { id } => json!({ "kind": "grant", "map_id": map, "id": id }),
            })
            .collect();
        if agv != e.intruder && space.footprints_touch(e.intruder, agv) {
            contact.push(agv);
        }
        agvs.insert(
            agv.to_string(),
            json!({ "pose": pose, "online": shared.fleet.get(agv).is_some_and(|v| v.online), "held": held }),
        );
    }
    json!({
        "episode": e.id, "map_id": e.map_id, "others": e.others, "stopped": e.stopped,
        "contact": contact, "agvs": agvs,
        "action": if contact.is_empty() {
            "stopped; resolves itself once the AGVs concerned stand still"
        } else {
            "footprints touch: move the AGVs apart by hand"
        },
    })
}

/// A stopped AGV registered in a new session: its stop is sent again there.
pub fn on_registered(shared: &Shared, agv: u32) {
    let order = shared.safety.lock().stop_of(agv);
    if let Some(order) = order {
        send(shared, order, Instant::now());
    }
}

/// Follows acknowledgements and looks at the open episodes every [`CHECK`] until the server
/// stops.
pub async fn run(shared: Arc<Shared>) {
    let Some(mut jobs) = shared.safety.queued.lock().expect("not poisoned").take() else {
        return;
    };
    let mut stop = shared.stop_signal();
    let mut tick = tokio::time::interval(CHECK);
    loop {
        tokio::select! {
            Some(job) = jobs.recv() => match job {
                Job::Answer(p) => {
                    let shared = shared.clone();
                    tokio::spawn(async move { follow(&shared, p).await });
                }
                Job::Audit { intruder, detail } => {
                    if let Err(e) = shared
                        .events
                        .audit(&shared.db, "safety.overlap", Some(intruder), "server", detail)
                        .await
                    {
                        tracing::error!(error = %e, "safety episode not stored");
                    }
                }
            },
            _ = tick.tick() => check(&shared).await,
            _ = stop.changed() => return,
        }
    }
}

/// Waits for one stop's answer.
async fn follow(shared: &Shared, p: Pending) {
    let wait = Duration::from_millis(shared.config.command_timeout_ms);
    let answer = tokio::time::timeout(wait, p.answer).await;
    let acked = matches!(&answer, Ok(Ok(Ok(Message::Ack(a)))) if a.result == ResultCode::Ok);
    let ms = p.detected.elapsed().as_secs_f64() * 1000.0;
    if p.order.op == StopOp::Stop {
        if acked {
            shared.safety.lock().acknowledged(p.order.agv, p.session);
            shared.metrics.safety_stop_seconds.observe(ms / 1000.0);
        } else {
            tracing::error!(
                agv_id = p.order.agv,
                episode = p.order.episode,
                ?answer,
                "safety stop not acknowledged"
            );
        }
    }
    shared.events.publish(
        if p.order.op == StopOp::Stop {
            "safety.stop"
        } else {
            "safety.clear"
        },
        Some(p.order.agv),
        "server",
        json!({ "episode": p.order.episode, "other": p.order.other, "acknowledged": acked,
                "ms": (ms * 10.0).round() / 10.0 }),
    );
}

/// Looks at every open episode: withdraws the paths of stopped AGVs standing still, resolves
/// the episodes whose intruder overlaps nobody any more.
async fn check(shared: &Arc<Shared>) {
    let open = shared.safety.open();
    for e in open {
        let (overlaps, contact) = {
            let space = shared.space();
            let overlaps = space.footprint_overlaps(e.intruder);
            let contact: Vec<u32> = overlaps
                .iter()
                .copied()
                .filter(|o| space.footprints_touch(e.intruder, *o))
                .collect();
            (overlaps, contact)
        };
        if overlaps.is_empty() {
            resolve(shared, e.id).await;
            continue;
        }
        // Withdraw what stopped, still AGVs hold (their released path is void), the intruder's
        // included: what is left overlapping the intruder is footprints and the space of AGVs
        // that are offline or did not acknowledge.
        for agv in std::iter::once(e.intruder).chain(overlaps.iter().copied()) {
            if contact.contains(&agv) && agv != e.intruder {
                continue;
            }
            if !withdrawable(shared, agv) {
                continue;
            }
            crate::dispatch::withdraw(shared, agv, e.id).await;
        }
        // Grown: AGVs whose space the intruder touches now but that are not stopped yet.
        let new: Vec<u32> = overlaps
            .iter()
            .copied()
            .filter(|o| !e.stopped.contains(o))
            .collect();
        if !new.is_empty() {
            on_footprint(shared, e.intruder, e.map_id, &new, Instant::now());
        }
    }
}

/// Whether `agv` is stopped, acknowledged the stop in its current session and stands still:
/// its released path is void and it will not move before it is cleared.
fn withdrawable(shared: &Shared, agv: u32) -> bool {
    let Some(view) = shared.fleet.get(agv) else {
        return false;
    };
    shared.still_status(agv).is_some() && shared.safety.lock().acknowledged_in(agv, view.session_id)
}

async fn resolve(shared: &Shared, id: u32) {
    let resolved = shared.safety.lock().resolve(id);
    let Some((episode, orders)) = resolved else {
        return;
    };
    for order in &orders {
        send(shared, *order, Instant::now());
    }
    let took = now_ms().saturating_sub(episode.opened_at_ms);
    tracing::info!(
        episode = id,
        agv_id = episode.intruder,
        took_ms = took,
        "safety episode resolved"
    );
    let detail = json!({ "episode": id, "others": episode.others,
        "cleared": orders.iter().map(|o| o.agv).collect::<Vec<_>>(), "open_ms": took });
    if let Err(e) = shared
        .events
        .audit(
            &shared.db,
            "safety.resolved",
            Some(episode.intruder),
            "server",
            detail,
        )
        .await
    {
        tracing::error!(error = %e, "safety episode end not stored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_stops_everyone_once_and_clears_only_the_last_stop() {
        let mut e = Episodes::default();
        assert!(e.observe(5, 1, &[], 0).is_none());
        let (ep, orders) = e.observe(5, 1, &[2, 3], 10).unwrap();
        assert_eq!(ep.stopped, vec![5, 2, 3]);
        assert_eq!(
            orders.iter().map(|o| (o.agv, o.other)).collect::<Vec<_>>(),
            vec![(5, 2), (2, 5), (3, 5)]
        );
        assert!(e.observe(5, 1, &[2, 3], 20).is_none(), "nothing new");
        let (_, more) = e.observe(5, 1, &[4], 30).unwrap();
        assert_eq!(more.iter().map(|o| o.agv).collect::<Vec<_>>(), vec![4]);
        // AGV 2 intrudes on 7 as well: a second episode
        let (ep2, orders2) = e.observe(2, 1, &[7], 40).unwrap();
        assert_ne!(ep2.id, ep.id);
        assert_eq!(
            orders2.iter().map(|o| o.agv).collect::<Vec<_>>(),
            vec![2, 7]
        );
        assert!(e.is_stopped(2) && e.is_stopped(7));
        // the first resolves: 2 stays stopped by the second
        let (_, clears) = e.resolve(ep.id).unwrap();
        assert_eq!(
            clears.iter().map(|o| o.agv).collect::<Vec<_>>(),
            vec![5, 3, 4]
        );
        assert!(e.is_stopped(2) && !e.is_stopped(5));
        assert_eq!(e.stop_of(2).map(|o| o.episode), Some(ep2.id));
        let (_, clears) = e.resolve(ep2.id).unwrap();
        assert_eq!(clears.iter().map(|o| o.agv).collect::<Vec<_>>(), vec![2, 7]);
        assert!(e.open().is_empty() && e.resolve(ep2.id).is_none());
    }

    #[test]
    fn an_acknowledgement_counts_in_its_session_only() {
        let mut e = Episodes::default();
        e.observe(1, 1, &[2], 0);
        assert!(!e.acknowledged_in(2, 7));
        e.acknowledged(2, 7);
        assert!(e.acknowledged_in(2, 7) && !e.acknowledged_in(2, 8));
    }
}
