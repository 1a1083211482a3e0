//! The vehicle end of VDA 5050, sans I/O: what a VDA 5050 vehicle (rcs's simulated one, or a
//! test's) does with the orders and instant actions it receives, and the messages it publishes.
//!
//! An order is taken when it is new (another `orderId`) or updates the order being run (same
//! `orderId`, higher `orderUpdateId`, starting at the last node of the base so far: VDA 5050's
//! rule for stitching); an update with the same or a lower `orderUpdateId` is a duplicate and is
//! ignored; one that does not stitch is refused with an `orderUpdateError` that the vehicle
//! reports in its next state ([`VehicleEnd::errors`]).

use std::collections::{HashMap, VecDeque};

use crate::MessageError;
use crate::action::Action;
use crate::connection::{Connection, ConnectionState};
use crate::factsheet::Factsheet;
use crate::header::Header;
use crate::instant::InstantActions;
use crate::master::{Publish, VehicleKey};
use crate::order::Order;
use crate::state::{ErrorLevel, State, VehicleError};
use crate::topic::{Topic, TopicKind};
use crate::version::Version;

/// What the vehicle is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum VehicleEvent {
    /// An order to run: a new one, or the order run so far with an update stitched on (the
    /// whole order, nodes and edges from its start).
    Order(Box<Order>),
    /// An instant action to run.
    Instant(Action),
    /// An invalid message (the first of an episode).
    Invalid {
        /// The topic it came on.
        topic: String,
        /// What is wrong.
        error: String,
    },
}

/// A VDA 5050 vehicle's protocol state. See the module's documentation.
#[derive(Debug)]
pub struct VehicleEnd {
    interface_name: String,
    key: VehicleKey,
    version: Version,
    header_ids: HashMap<TopicKind, u32>,
    order: Option<Order>,
    errors: Vec<VehicleError>,
    events: VecDeque<VehicleEvent>,
    outbox: VecDeque<Publish>,
    invalid: bool,
}

impl VehicleEnd {
    /// A vehicle of `version` under `interface_name`.
    pub fn new(interface_name: &str, key: VehicleKey, version: Version) -> VehicleEnd {
        VehicleEnd {
            interface_name: interface_name.to_owned(),
            key,
            version,
            header_ids: HashMap::new(),
            order: None,
            errors: Vec::new(),
            events: VecDeque::new(),
            outbox: VecDeque::new(),
            invalid: false,
        }
    }

    fn topic(&self, kind: TopicKind) -> Result<Topic, crate::topic::TopicError> {
        Topic::new(
            &self.interface_name,
            self.version.major(),
            &self.key.manufacturer,
            &self.key.serial_number,
            kind,
        )
    }

    /// The topics to subscribe to: its `order` and `instantActions`.
    pub fn subscriptions(&self) -> Result<Vec<String>, crate::topic::TopicError> {
        Ok(vec![
            self.topic(TopicKind::Order)?.to_string(),
            self.topic(TopicKind::InstantActions)?.to_string(),
        ])
    }

    /// The next header for `kind` (its id counting up).
    pub fn header(&mut self, kind: TopicKind, now_ms: u64) -> Header {
        let id = self.header_ids.entry(kind).or_insert(0);
        let header = Header::new(
            self.version,
            *id,
            now_ms,
            &self.key.manufacturer,
            &self.key.serial_number,
        );
        *id = id.wrapping_add(1);
        header
    }

    /// The `connection` message for `state`, to publish retained (`CONNECTIONBROKEN` is the
    /// last will to give the broker when connecting).
    pub fn connection(
        &mut self,
        now_ms: u64,
        state: ConnectionState,
    ) -> Result<Publish, MessageError> {
        let message = Connection {
            header: self.header(TopicKind::Connection, now_ms),
            connection_state: state,
        };
        Ok(Publish {
            topic: self
                .topic(TopicKind::Connection)
                .map_err(topic_error)?
                .to_string(),
            payload: message.to_json()?,
        })
    }

    /// Publishes a state (its header is set here; the errors of refused orders are added).
    pub fn publish_state(&mut self, now_ms: u64, mut state: State) -> Result<(), MessageError> {
        state.header = self.header(TopicKind::State, now_ms);
        state.errors.extend(self.errors.iter().cloned());
        let payload = state.to_json()?;
        self.outbox.push_back(Publish {
            topic: self
                .topic(TopicKind::State)
                .map_err(topic_error)?
                .to_string(),
            payload,
        });
        Ok(())
    }

    /// Publishes its factsheet (header set here).
    pub fn publish_factsheet(
        &mut self,
        now_ms: u64,
        mut factsheet: Factsheet,
    ) -> Result<(), MessageError> {
        factsheet.header = self.header(TopicKind::Factsheet, now_ms);
        let payload = factsheet.to_json()?;
        self.outbox.push_back(Publish {
            topic: self
                .topic(TopicKind::Factsheet)
                .map_err(topic_error)?
                .to_string(),
            payload,
        });
        Ok(())
    }

    /// The order being run (with every update stitched on).
    pub fn order(&self) -> Option<&Order> {
        self.order.as_ref()
    }

    /// The order is over (the vehicle ran `cancelOrder`): an order with its id is a new order
    /// again, not an update to stitch.
    pub fn cancel_order(&mut self) {
        self.order = None;
    }

    /// The errors of orders refused, reported with every state until the next order is taken.
    pub fn errors(&self) -> &[VehicleError] {
        &self.errors
    }

    /// Handles a message received on `topic`.
    pub fn handle_message(&mut self, topic: &str, payload: &[u8]) {
        let kind = match Topic::parse(topic) {
            Ok(t)
                if t.interface_name == self.interface_name
                    && t.manufacturer == self.key.manufacturer
                    && t.serial_number == self.key.serial_number =>
            {
                t.kind
            }
            _ => return,
        };
        let result = match kind {
            TopicKind::Order => Order::from_json(payload)
                .and_then(|o| self.check_header(&o.header).map(|()| o))
                .map(|o| self.take_order(o)),
            TopicKind::InstantActions => InstantActions::from_json(payload)
                .and_then(|m| self.check_header(&m.header).map(|()| m))
                .map(|m| {
                    for a in m.actions {
                        self.events.push_back(VehicleEvent::Instant(a));
                    }
                }),
            _ => return,
        };
        match result {
            Ok(()) => self.invalid = false,
            Err(e) => {
                if !std::mem::replace(&mut self.invalid, true) {
                    self.events.push_back(VehicleEvent::Invalid {
                        topic: topic.to_owned(),
                        error: e.to_string(),
                    });
                }
            }
        }
    }

    fn check_header(&self, header: &Header) -> Result<(), MessageError> {
        if header.version()? != self.version
            || header.manufacturer != self.key.manufacturer
            || header.serial_number != self.key.serial_number
        {
            return Err(MessageError::Invalid {
                field: "header".into(),
                reason: format!(
                    "{} {}/{} for vehicle {}/{} of {}",
                    header.version,
                    header.manufacturer,
                    header.serial_number,
                    self.key.manufacturer,
                    self.key.serial_number,
                    self.version
                ),
            });
        }
        Ok(())
    }

    fn take_order(&mut self, update: Order) {
        let refuse = |this: &mut VehicleEnd, why: &str| {
            this.errors = vec![VehicleError {
                error_type: "orderUpdateError".into(),
                level: ErrorLevel::Warning,
                description: Some(why.to_owned()),
                hint: None,
                references: vec![
                    ("orderId".into(), update.order_id.clone()),
                    ("orderUpdateId".into(), update.order_update_id.to_string()),
                ],
            }];
        };
        let Some(current) = self
            .order
            .as_mut()
            .filter(|o| o.order_id == update.order_id)
        else {
            self.errors.clear();
            self.order = Some(update.clone());
            self.events.push_back(VehicleEvent::Order(Box::new(update)));
            return;
        };
        if update.order_update_id <= current.order_update_id {
            return; // a duplicate
        }
        // stitch: the update starts at the last node of the base so far
        let Some(at) = current.nodes.iter().rposition(|n| n.released) else {
            return refuse(self, "no base to stitch onto");
        };
        let first = &update.nodes[0];
        if first.node_id != current.nodes[at].node_id
            || first.sequence_id != current.nodes[at].sequence_id
        {
            return refuse(self, "an update starts at the last node of the base so far");
        }
        current.nodes.truncate(at);
        current.edges.truncate(at);
        current.nodes.extend(update.nodes.iter().cloned());
        current.edges.extend(update.edges.iter().cloned());
        current.order_update_id = update.order_update_id;
        current.header = update.header.clone();
        self.errors.clear();
        let whole = current.clone();
        self.events.push_back(VehicleEvent::Order(Box::new(whole)));
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<VehicleEvent> {
        self.events.pop_front()
    }

    /// The next message to publish.
    pub fn poll_publish(&mut self) -> Option<Publish> {
        self.outbox.pop_front()
    }
}

fn topic_error(e: crate::topic::TopicError) -> MessageError {
    MessageError::Invalid {
        field: "topic".into(),
        reason: e.to_string(),
    }
}
