//! The master-control end of VDA 5050, sans I/O: what the gateway does with the messages of
//! its vehicles and the messages it sends them, with no broker and no clock (the caller hands
//! it what it received, with the time, and publishes what it hands back), as
//! `protocol::session` is for the guide's binary protocol.
//!
//! It tracks each vehicle (manufacturer and serial number): the version it speaks (from its
//! messages), whether it is online (from `connection`, including the broker's last will),
//! its header ids, and the orders and instant actions sent to it until its state answers them:
//! an order (update) is accepted once the vehicle reports its `orderId` at that
//! `orderUpdateId` or later, refused when it reports an order error naming it, unanswered after
//! [`Master::answer_timeout_ms`]. A message that is invalid (not JSON, not its version's, not
//! matching its topic) is refused whole and reported once per vehicle and episode: the next
//! valid message from the vehicle ends the episode.

use std::collections::{HashMap, VecDeque};

use crate::MessageError;
use crate::action::Action;
use crate::connection::{Connection, ConnectionState};
use crate::factsheet::Factsheet;
use crate::header::Header;
use crate::instant::InstantActions;
use crate::order::Order;
use crate::state::{ActionStatus, State};
use crate::topic::{Topic, TopicKind};
use crate::version::{Major, Version};

/// A vehicle: its manufacturer and serial number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VehicleKey {
    /// Manufacturer.
    pub manufacturer: String,
    /// Serial number.
    pub serial_number: String,
}

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The topic.
    pub topic: String,
    /// The JSON.
    pub payload: Vec<u8>,
}

/// What happened, for the application.
#[derive(Debug, Clone, PartialEq)]
pub enum MasterEvent {
    /// The vehicle reported `ONLINE`.
    Online {
        /// The vehicle.
        vehicle: VehicleKey,
        /// The version it speaks.
        version: Version,
    },
    /// The vehicle is offline: it said so (`OFFLINE`, 3.0's `HIBERNATING`) or its connection
    /// broke (the broker's last will, `broken`).
    Offline {
        /// The vehicle.
        vehicle: VehicleKey,
        /// Whether the connection broke (rather than an orderly goodbye).
        broken: bool,
    },
    /// A state.
    State {
        /// The vehicle.
        vehicle: VehicleKey,
        /// What it reported.
        state: Box<State>,
    },
    /// A factsheet.
    Factsheet {
        /// The vehicle.
        vehicle: VehicleKey,
        /// Its factsheet.
        factsheet: Box<Factsheet>,
    },
    /// An order or instant action the vehicle took on (its state shows it).
    Accepted {
        /// The vehicle.
        vehicle: VehicleKey,
        /// What was sent.
        sent: Sent,
    },
    /// One it refused (an order error naming it, or the instant action failed).
    Refused {
        /// The vehicle.
        vehicle: VehicleKey,
        /// What was sent.
        sent: Sent,
        /// The error type it reported (`orderUpdateError`, ...) or the action's result.
        reason: String,
    },
    /// One its state did not answer in time.
    Unanswered {
        /// The vehicle.
        vehicle: VehicleKey,
        /// What was sent.
        sent: Sent,
    },
    /// An invalid message: the first of an episode (later ones are only counted).
    Invalid {
        /// The vehicle, when the topic names one.
        vehicle: Option<VehicleKey>,
        /// The topic it came on.
        topic: String,
        /// What is wrong.
        error: String,
    },
}

/// Something sent to a vehicle that its state answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// An order or order update.
    Order {
        /// Its order id.
        order_id: String,
        /// Its update id.
        order_update_id: u32,
    },
    /// An instant action.
    Instant {
        /// Its action id.
        action_id: String,
    },
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The vehicle has not said which version it speaks (no message from it yet).
    #[error("vehicle {0:?} has not reported yet: its version is not known")]
    UnknownVehicle(VehicleKey),
    /// The message cannot be written (see [`MessageError`]).
    #[error(transparent)]
    Message(#[from] MessageError),
    /// Its topic cannot be formed (a manufacturer or serial number with `/`, `+`, `#`).
    #[error(transparent)]
    Topic(#[from] crate::topic::TopicError),
}

#[derive(Debug)]
struct Vehicle {
    version: Version,
    online: bool,
    /// The next header id per topic kind sent.
    header_ids: HashMap<TopicKind, u32>,
    /// Sent, not answered yet, with the time it was sent.
    pending: Vec<(Sent, u64)>,
    /// In an episode of invalid messages.
    invalid: bool,
    /// When its last valid message came.
    last_seen_ms: u64,
}

/// The order errors that refuse an order (VDA 5050's error types for a rejected order).
const ORDER_ERRORS: [&str; 4] = [
    "orderError",
    "orderUpdateError",
    "noRouteError",
    "validationError",
];

/// The master-control state machine. See the module's documentation.
#[derive(Debug)]
pub struct Master {
    interface_name: String,
    vehicles: HashMap<VehicleKey, Vehicle>,
    events: VecDeque<MasterEvent>,
    outbox: VecDeque<Publish>,
    invalid_count: u64,
    /// How long an order or instant action waits for the vehicle's state to answer it, ms.
    pub answer_timeout_ms: u64,
    /// The most vehicles tracked: a message from one more is refused as invalid (whoever can
    /// publish on the broker cannot grow master control's memory without bound).
    pub max_vehicles: usize,
}

impl Master {
    /// Master control for the vehicles under `interface_name` (`uagv`, say).
    pub fn new(interface_name: &str) -> Master {
        Master {
            interface_name: interface_name.to_owned(),
            vehicles: HashMap::new(),
            events: VecDeque::new(),
            outbox: VecDeque::new(),
            invalid_count: 0,
            answer_timeout_ms: 10_000,
            max_vehicles: 10_000,
        }
    }

    /// The topics to subscribe to: every vehicle's `connection`, `state` and `factsheet`, for
    /// both major versions.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut topics = Vec::new();
        for major in [Major::V2, Major::V3] {
            for kind in [
                TopicKind::Connection,
                TopicKind::State,
                TopicKind::Factsheet,
            ] {
                topics.push(Topic::subscription(&self.interface_name, major, kind));
            }
        }
        topics
    }

    /// Invalid messages received so far (every one, not only the first of each episode).
    pub fn invalid_count(&self) -> u64 {
        self.invalid_count
    }

    /// The version a vehicle speaks, once it has sent a valid message.
    pub fn version(&self, vehicle: &VehicleKey) -> Option<Version> {
        self.vehicles.get(vehicle).map(|v| v.version)
    }

    /// When the vehicle's last valid message came (UTC ms).
    pub fn last_seen_ms(&self, vehicle: &VehicleKey) -> Option<u64> {
        self.vehicles.get(vehicle).map(|v| v.last_seen_ms)
    }

    /// Whether the vehicle is online.
    pub fn is_online(&self, vehicle: &VehicleKey) -> bool {
        self.vehicles.get(vehicle).is_some_and(|v| v.online)
    }

    /// Handles a message received on `topic` at `now_ms`.
    pub fn handle_message(&mut self, now_ms: u64, topic: &str, payload: &[u8]) {
        let parsed = match Topic::parse(topic) {
            // another installation's, or visualization (not subscribed to; not for control)
            Ok(t) if t.interface_name != self.interface_name => return,
            Ok(t) if t.kind == TopicKind::Visualization => return,
            Ok(t) if t.kind.from_vehicle() => t,
            Ok(t) => {
                let key = key_of(&t);
                return self.invalid(Some(key), topic, "a topic master control publishes on");
            }
            Err(e) => return self.invalid(None, topic, &e.to_string()),
        };
        let key = key_of(&parsed);
        match self.apply(&parsed, &key, payload) {
            Ok(()) => {
                if let Some(v) = self.vehicles.get_mut(&key) {
                    v.last_seen_ms = now_ms;
                }
            }
            Err(e) => self.invalid(Some(key), topic, &e.to_string()),
        }
    }

    fn apply(
        &mut self,
        topic: &Topic,
        key: &VehicleKey,
        payload: &[u8],
    ) -> Result<(), MessageError> {
        // the header is checked before anything of the message is kept (no copy of it)
        let (version, event) = match topic.kind {
            TopicKind::Connection => {
                let c = Connection::from_json(payload)?;
                let version = self.check_header(topic, key, &c.header)?;
                let event = match c.connection_state {
                    ConnectionState::Online => MasterEvent::Online {
                        vehicle: key.clone(),
                        version,
                    },
                    ConnectionState::Offline | ConnectionState::Hibernating => {
                        MasterEvent::Offline {
                            vehicle: key.clone(),
                            broken: false,
                        }
                    }
                    ConnectionState::ConnectionBroken => MasterEvent::Offline {
                        vehicle: key.clone(),
                        broken: true,
                    },
                };
                (version, event)
            }
            TopicKind::State => {
                let s = State::from_json(payload)?;
                let version = self.check_header(topic, key, &s.header)?;
                (
                    version,
                    MasterEvent::State {
                        vehicle: key.clone(),
                        state: Box::new(s),
                    },
                )
            }
            TopicKind::Factsheet => {
                let f = Factsheet::from_json(payload)?;
                let version = self.check_header(topic, key, &f.header)?;
                (
                    version,
                    MasterEvent::Factsheet {
                        vehicle: key.clone(),
                        factsheet: Box::new(f),
                    },
                )
            }
            // master control's own topics and visualization never get here
            _ => return Ok(()),
        };
        let vehicle = self.vehicles.entry(key.clone()).or_insert(Vehicle {
            version,
            online: false,
            header_ids: HashMap::new(),
            pending: Vec::new(),
            invalid: false,
            last_seen_ms: 0,
        });
        vehicle.version = version;
        vehicle.invalid = false;
        match &event {
            MasterEvent::Online { .. } => vehicle.online = true,
            MasterEvent::Offline { .. } => vehicle.online = false,
            MasterEvent::State { state, .. } => {
                // a state comes only from a vehicle that is there
                vehicle.online = true;
                let answers = answers(&mut vehicle.pending, state);
                self.events.push_back(event);
                for (sent, refused) in answers {
                    self.events.push_back(match refused {
                        None => MasterEvent::Accepted {
                            vehicle: key.clone(),
                            sent,
                        },
                        Some(reason) => MasterEvent::Refused {
                            vehicle: key.clone(),
                            sent,
                            reason,
                        },
                    });
                }
                return Ok(());
            }
            _ => {}
        }
        self.events.push_back(event);
        Ok(())
    }

    /// The version of a message from `key` on `topic`, if its header names that vehicle and a
    /// version of the topic's major (and the vehicle is known, or there is room for one more).
    fn check_header(
        &self,
        topic: &Topic,
        key: &VehicleKey,
        header: &Header,
    ) -> Result<Version, MessageError> {
        let version = header.version()?;
        if !self.vehicles.contains_key(key) && self.vehicles.len() >= self.max_vehicles {
            return Err(MessageError::Invalid {
                field: "serialNumber".into(),
                reason: format!("more than {} vehicles", self.max_vehicles),
            });
        }
        if version.major() != topic.major
            || header.manufacturer != key.manufacturer
            || header.serial_number != key.serial_number
        {
            return Err(MessageError::Invalid {
                field: "header".into(),
                reason: format!(
                    "version {} of {}/{} on a topic of {}/{}/{}",
                    header.version,
                    header.manufacturer,
                    header.serial_number,
                    topic.major.as_str(),
                    key.manufacturer,
                    key.serial_number
                ),
            });
        }
        Ok(version)
    }

    fn invalid(&mut self, vehicle: Option<VehicleKey>, topic: &str, error: &str) {
        self.invalid_count += 1;
        let first = match vehicle.as_ref().and_then(|k| self.vehicles.get_mut(k)) {
            Some(v) => !std::mem::replace(&mut v.invalid, true),
            // not known yet (or no vehicle): reported every time, there is no episode to end
            None => true,
        };
        if first {
            self.events.push_back(MasterEvent::Invalid {
                vehicle,
                topic: topic.to_owned(),
                error: error.to_owned(),
            });
        }
    }

    fn header(
        &mut self,
        key: &VehicleKey,
        kind: TopicKind,
        now_ms: u64,
    ) -> Result<(Header, Topic), SendError> {
        let vehicle = self
            .vehicles
            .get_mut(key)
            .ok_or_else(|| SendError::UnknownVehicle(key.clone()))?;
        let id = vehicle.header_ids.entry(kind).or_insert(0);
        let header = Header::new(
            vehicle.version,
            *id,
            now_ms,
            &key.manufacturer,
            &key.serial_number,
        );
        *id = id.wrapping_add(1);
        let topic = Topic::new(
            &self.interface_name,
            vehicle.version.major(),
            &key.manufacturer,
            &key.serial_number,
            kind,
        )?;
        Ok((header, topic))
    }

    /// Sends an order (or order update) to a vehicle: the order's header is set here (the
    /// vehicle's version, the next header id, `now_ms`). Its answer comes as an event.
    pub fn send_order(
        &mut self,
        now_ms: u64,
        vehicle: &VehicleKey,
        mut order: Order,
    ) -> Result<(), SendError> {
        let (header, topic) = self.header(vehicle, TopicKind::Order, now_ms)?;
        order.header = header;
        let payload = order.to_json()?;
        let sent = Sent::Order {
            order_id: order.order_id,
            order_update_id: order.order_update_id,
        };
        self.track(vehicle, sent, now_ms);
        self.outbox.push_back(Publish {
            topic: topic.to_string(),
            payload,
        });
        Ok(())
    }

    /// Sends instant actions to a vehicle (header set here, as for orders); each action's
    /// answer comes as an event.
    pub fn send_instant(
        &mut self,
        now_ms: u64,
        vehicle: &VehicleKey,
        actions: Vec<Action>,
    ) -> Result<(), SendError> {
        let (header, topic) = self.header(vehicle, TopicKind::InstantActions, now_ms)?;
        let message = InstantActions { header, actions };
        let payload = message.to_json()?;
        for a in message.actions {
            self.track(
                vehicle,
                Sent::Instant {
                    action_id: a.action_id,
                },
                now_ms,
            );
        }
        self.outbox.push_back(Publish {
            topic: topic.to_string(),
            payload,
        });
        Ok(())
    }

    fn track(&mut self, vehicle: &VehicleKey, sent: Sent, now_ms: u64) {
        if let Some(v) = self.vehicles.get_mut(vehicle) {
            v.pending.push((sent, now_ms));
        }
    }

    /// Ends the waits that passed [`Master::answer_timeout_ms`] (as `Unanswered` events).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let timeout = self.answer_timeout_ms;
        let mut keys: Vec<&VehicleKey> = self.vehicles.keys().collect();
        keys.sort();
        let keys: Vec<VehicleKey> = keys.into_iter().cloned().collect();
        for key in keys {
            let v = self.vehicles.get_mut(&key).expect("listed");
            let (late, waiting): (Vec<_>, Vec<_>) = v
                .pending
                .drain(..)
                .partition(|(_, at)| now_ms.saturating_sub(*at) >= timeout);
            v.pending = waiting;
            for (sent, _) in late {
                self.events.push_back(MasterEvent::Unanswered {
                    vehicle: key.clone(),
                    sent,
                });
            }
        }
    }

    /// When [`Master::handle_timeout`] must be called next, if anything waits.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.vehicles
            .values()
            .flat_map(|v| v.pending.iter().map(|(_, at)| at + self.answer_timeout_ms))
            .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MasterEvent> {
        self.events.pop_front()
    }

    /// The next message to publish.
    pub fn poll_publish(&mut self) -> Option<Publish> {
        self.outbox.pop_front()
    }
}

fn key_of(topic: &Topic) -> VehicleKey {
    VehicleKey {
        manufacturer: topic.manufacturer.clone(),
        serial_number: topic.serial_number.clone(),
    }
}

/// What a state answers of what waits: `(sent, None)` accepted, `(sent, Some(reason))` refused.
/// The answered are taken out of `pending`.
fn answers(pending: &mut Vec<(Sent, u64)>, state: &State) -> Vec<(Sent, Option<String>)> {
    let mut out = Vec::new();
    pending.retain(|(sent, _)| {
        let answer = match sent {
            Sent::Order {
                order_id,
                order_update_id,
            } => {
                let refused = state.errors.iter().find(|e| {
                    ORDER_ERRORS.contains(&e.error_type.as_str())
                        && e.references
                            .iter()
                            .any(|(k, v)| k == "orderId" && v == order_id)
                        && e.references
                            .iter()
                            .all(|(k, v)| k != "orderUpdateId" || v.parse() == Ok(*order_update_id))
                });
                match refused {
                    Some(e) => Some(Some(e.error_type.clone())),
                    None if state.order_id == *order_id
                        && state.order_update_id >= *order_update_id =>
                    {
                        Some(None)
                    }
                    None => None,
                }
            }
            Sent::Instant { action_id } => state
                .instant_action_states
                .iter()
                .chain(&state.action_states)
                .find(|a| a.action_id == *action_id)
                .and_then(|a| match a.status {
                    ActionStatus::Failed => Some(Some(
                        a.result.clone().unwrap_or_else(|| "failed".to_owned()),
                    )),
                    ActionStatus::Waiting => None,
                    _ => Some(None),
                }),
        };
        match answer {
            Some(refused) => {
                out.push((sent.clone(), refused));
                false
            }
            None => true,
        }
    });
    out
}
