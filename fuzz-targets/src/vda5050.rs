//! `vda5050`: a message as either VDA 5050 end receives it. The first byte picks the version
//! (its value mod 3) and the topic (its value / 3, mod 8); the rest is the payload. Nothing may
//! panic; a message that reads writes again in its version and reads back the same; master
//! control (with the vehicle online) and a vehicle both take it.

use vda5050::{
    Connection, ConnectionState, Factsheet, InstantActions, Master, Order, State, VehicleEnd,
    VehicleKey, Version,
};

/// The topics, in the order the first byte picks them.
pub const KINDS: [&str; 8] = [
    "state",
    "connection",
    "factsheet",
    "order",
    "instantActions",
    "visualization",
    "zoneSet",
    "responses",
];

/// The first byte of an input for `version` and topic `kind` (an index into [`KINDS`]).
pub fn selector(version: Version, kind: usize) -> u8 {
    let v = Version::ALL.iter().position(|x| *x == version).unwrap_or(0);
    (kind * 3 + v) as u8
}

/// What came of an input (lets tests check the seeds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The payload read as the message of its topic.
    pub read: bool,
}

/// Reads `payload` with `from`; if it reads, writes it with `to` and reads that back: the same.
fn roundtrip<T: PartialEq + core::fmt::Debug>(
    payload: &[u8],
    from: fn(&[u8]) -> Result<T, vda5050::MessageError>,
    to: fn(&T) -> Result<Vec<u8>, vda5050::MessageError>,
) -> bool {
    let Ok(message) = from(payload) else {
        return false;
    };
    let written = to(&message).expect("what was read writes again in its version");
    let again = from(&written).expect("what was written reads");
    assert_eq!(again, message, "read, written and read again");
    true
}

/// The target. See the module's documentation.
pub fn vda5050(data: &[u8]) -> Outcome {
    let (&first, payload) = data.split_first().unwrap_or((&0, &[]));
    let version = Version::ALL[usize::from(first % 3)];
    let kind = KINDS[usize::from(first / 3) % KINDS.len()];
    let read = match kind {
        "state" => roundtrip(payload, State::from_json, State::to_json),
        "connection" => roundtrip(payload, Connection::from_json, Connection::to_json),
        "factsheet" => roundtrip(payload, Factsheet::from_json, Factsheet::to_json),
        "order" => roundtrip(payload, Order::from_json, Order::to_json),
        "instantActions" => roundtrip(payload, InstantActions::from_json, InstantActions::to_json),
        _ => false,
    };
    let key = VehicleKey {
        manufacturer: "Acme".into(),
        serial_number: "SN-1".into(),
    };
    let topic = format!("uagv/{}/Acme/SN-1/{kind}", version.major().as_str());
    let mut vehicle = VehicleEnd::new("uagv", key, version);
    let mut master = Master::new("uagv");
    if let Ok(online) = vehicle.connection(0, ConnectionState::Online) {
        master.handle_message(0, &online.topic, &online.payload);
    }
    master.handle_message(1, &topic, payload);
    while master.poll_event().is_some() {}
    master.handle_timeout(u64::MAX);
    vehicle.handle_message(&topic, payload);
    while vehicle.poll_event().is_some() {}
    Outcome { read }
}
