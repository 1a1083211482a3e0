//! The dispatcher's commands to a VDA 5050 vehicle (docs/vda5050.md, "Commands"): each becomes
//! an order, an order update or instant actions, and is answered when the vehicle's state
//! answers everything sent for it.

use protocol::message::{Ack, ChargeOp, Message, MessageType, MotionCommand, StopOp};
use protocol::types::ResultCode;
use vda5050::action::{self, Action};
use vda5050::guide;
use vda5050::master::{Master, Sent, VehicleKey};

use super::{Gateway, SentOrder, Vehicle, Waiting};
use crate::connections::{CommandError, Order};
use crate::state::{Shared, now_ms};

/// How far from a map switch's pose the lift's exit node may lie (it is the node's pose).
const EXIT_TOLERANCE_M: f64 = 0.05;

impl Gateway {
    /// An order from the fleet's side for the vehicle serving `agv` in `session`.
    pub(super) fn order(&mut self, agv: u32, session: u32, order: Order) {
        let (message, reply, generation) = match order {
            Order::Command {
                message,
                reply,
                generation,
            } => (message, reply, generation),
            Order::Close(reason) => {
                // (a VDA 5050 vehicle is never taken over; nothing else closes a link)
                tracing::debug!(
                    agv_id = agv,
                    ?reason,
                    "close for a VDA 5050 vehicle ignored"
                );
                return;
            }
        };
        let Some(key) = self.by_agv.get(&agv).cloned() else {
            let _ = reply.send(Err(CommandError::Offline));
            return;
        };
        let Some(v) = self
            .online
            .get_mut(&key)
            .filter(|v| v.session_id == session)
        else {
            let _ = reply.send(Err(CommandError::OtherSession));
            return;
        };
        v.taken = generation;
        let message_type = message.message_type();
        tracing::debug!(
            agv_id = agv,
            generation,
            ?message_type,
            "command for a VDA 5050 vehicle"
        );
        let now = now_ms();
        let mut cancel_may_fail = false;
        let sent: Result<Vec<Sent>, String> = match *message {
            Message::MotionCommand(cmd) => {
                send_motion(&mut self.master, &self.shared, &key, v, &cmd, now)
            }
            Message::TaskControl(control) => {
                if control.op == protocol::message::TaskOp::Cancel {
                    v.order = None;
                }
                self.next_action += 1;
                let id = format!("rcs-{}", self.next_action);
                let kind = match control.op {
                    protocol::message::TaskOp::Pause => action::START_PAUSE,
                    protocol::message::TaskOp::Resume => action::STOP_PAUSE,
                    protocol::message::TaskOp::Cancel => action::CANCEL_ORDER,
                };
                send_instant(
                    &mut self.master,
                    &key,
                    vec![Action::instant(kind, &id)],
                    now,
                )
            }
            Message::SafetyStop(stop) => {
                self.next_action += 1;
                let n = self.next_action;
                let actions = if stop.op == StopOp::Stop {
                    // at once, and the order is void (as a guide AGV's released path is)
                    v.order = None;
                    cancel_may_fail = true;
                    vec![
                        Action::instant(action::START_PAUSE, &format!("rcs-{n}-stop")),
                        Action::instant(action::CANCEL_ORDER, &format!("rcs-{n}-void")),
                    ]
                } else {
                    vec![Action::instant(
                        action::STOP_PAUSE,
                        &format!("rcs-{n}-clear"),
                    )]
                };
                send_instant(&mut self.master, &key, actions, now)
            }
            Message::ChargeControl(c) => {
                self.next_action += 1;
                let id = format!("rcs-{}", self.next_action);
                let kind = if c.op == ChargeOp::Start {
                    action::START_CHARGING
                } else {
                    action::STOP_CHARGING
                };
                send_instant(
                    &mut self.master,
                    &key,
                    vec![Action::instant(kind, &id)],
                    now,
                )
            }
            // the lift car stands at the target floor: the vehicle takes the lift's exit on the
            // target map as where it stands
            Message::MapSwitch(switch) => {
                self.next_action += 1;
                let id = format!("rcs-{}", self.next_action);
                let p = &switch.initial_pose;
                let exit = self
                    .shared
                    .site
                    .nearest_node(switch.target_map_id, p.x, p.y)
                    .filter(|(_, d)| *d < EXIT_TOLERANCE_M)
                    .map_or(0, |(n, _)| n.id);
                guide::init_position_of(&switch, exit, self.shared.site.as_ref(), &id)
                    .map_err(|e| e.to_string())
                    .and_then(|a| send_instant(&mut self.master, &key, vec![a], now))
            }
            // A VDA 5050 vehicle localises by its own means (its factsheet's
            // `localizationTypes`): the site's navigation zones are the guide AGVs' concern.
            // Nothing is sent; the switch is taken as done.
            Message::NavSwitch(_) => {
                let _ = reply.send(Ok(ack(message_type, ResultCode::Ok, String::new())));
                return;
            }
            other => Err(format!(
                "{:?} has no VDA 5050 counterpart",
                other.message_type()
            )),
        };
        match sent {
            Ok(pending) => v.waiting.push(Waiting {
                generation,
                reply,
                message_type,
                pending,
                refused: None,
                cancel_may_fail,
            }),
            Err(detail) => {
                tracing::warn!(
                    agv_id = agv,
                    "command not sent to the VDA 5050 vehicle: {detail}"
                );
                let _ = reply.send(Ok(ack(message_type, ResultCode::Unsupported, detail)));
            }
        }
    }

    /// The vehicle's state answered `sent` (refused, with the reason).
    pub(super) fn answered(&mut self, vehicle: &VehicleKey, sent: &Sent, refused: Option<String>) {
        let Some(v) = self.online.get_mut(vehicle) else {
            return;
        };
        let Some(i) = v.waiting.iter().position(|w| w.pending.contains(sent)) else {
            return; // (a factsheet request, or a command that timed out)
        };
        let w = &mut v.waiting[i];
        w.pending.retain(|p| p != sent);
        let tolerated = w.cancel_may_fail
            && matches!(sent, Sent::Instant { action_id } if action_id.ends_with("-void"));
        if let Some(reason) = refused
            && !tolerated
            && w.refused.is_none()
        {
            w.refused = Some(reason);
        }
        if !w.pending.is_empty() {
            return;
        }
        let w = v.waiting.remove(i);
        tracing::debug!(agv_id = v.agv_id, generation = w.generation, refused = ?w.refused, "VDA 5050 command answered");
        let answer = match w.refused {
            None => ack(w.message_type, ResultCode::Ok, String::new()),
            Some(reason) => {
                tracing::warn!(agv_id = v.agv_id, ?w.message_type, "VDA 5050 vehicle refused: {reason}");
                ack(w.message_type, ResultCode::Rejected, reason)
            }
        };
        let _ = w.reply.send(Ok(answer));
    }

    /// No state answered `sent` in time.
    pub(super) fn unanswered(&mut self, vehicle: &VehicleKey, sent: &Sent) {
        let Some(v) = self.online.get_mut(vehicle) else {
            return;
        };
        if let Some(i) = v.waiting.iter().position(|w| w.pending.contains(sent)) {
            let w = v.waiting.remove(i);
            tracing::warn!(agv_id = v.agv_id, ?w.message_type, "VDA 5050 vehicle did not answer");
            let _ = w.reply.send(Err(CommandError::Timeout));
        }
    }
}

/// The order (or order update) a motion command becomes, sent. A command of the task the
/// vehicle runs whose first node is the last node of the base sent so far continues that order
/// (an order update); any other starts a new order (a new task, or a new path of the same task:
/// [`guide::path_order_id`]).
fn send_motion(
    master: &mut Master,
    shared: &Shared,
    key: &VehicleKey,
    v: &mut Vehicle,
    cmd: &MotionCommand,
    now: u64,
) -> Result<Vec<Sent>, String> {
    let first = cmd.nodes.first().ok_or("a motion command without nodes")?;
    let placeholder = vda5050::header::Header::new(
        master
            .version(key)
            .ok_or("the vehicle's version is not known")?,
        0,
        now,
        &key.manufacturer,
        &key.serial_number,
    );
    let mut order = guide::order_of(cmd, placeholder, &*shared.site).map_err(|e| e.to_string())?;
    let continues = v
        .order
        .as_ref()
        .filter(|o| o.task_id == cmd.task_id && o.base_end == (first.node_id, first.sequence));
    order.order_id = match continues {
        Some(o) => o.order_id.clone(),
        // the task's first path; a later one (after a step, a replan, a safety stop, the
        // vehicle's return) is an order of its own: the vehicle may still hold the first
        None if cmd.segment <= 1 => cmd.task_id.to_string(),
        None => guide::path_order_id(cmd.task_id, cmd.segment),
    };
    let released = usize::from(cmd.released_nodes).clamp(1, cmd.nodes.len());
    let end = &cmd.nodes[released - 1];
    let sent = Sent::Order {
        order_id: order.order_id.clone(),
        order_update_id: order.order_update_id,
    };
    v.order = Some(SentOrder {
        task_id: cmd.task_id,
        order_id: order.order_id.clone(),
        base_end: (end.node_id, end.sequence),
    });
    master
        .send_order(now, key, order)
        .map_err(|e| e.to_string())?;
    Ok(vec![sent])
}

fn send_instant(
    master: &mut Master,
    key: &VehicleKey,
    actions: Vec<Action>,
    now: u64,
) -> Result<Vec<Sent>, String> {
    let sent = actions
        .iter()
        .map(|a| Sent::Instant {
            action_id: a.action_id.clone(),
        })
        .collect();
    master
        .send_instant(now, key, actions)
        .map_err(|e| e.to_string())?;
    Ok(sent)
}

fn ack(request_type: MessageType, result: ResultCode, detail: String) -> Message {
    Ack {
        request_seq: 0,
        request_type,
        result,
        detail,
    }
    .into()
}
