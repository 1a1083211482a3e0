//! The embedded MQTT broker (`--mqtt-listen`): a one-box site runs VDA 5050 vehicles without a
//! broker of its own. It is [`rumqttd`] (MQTT 3.1.1 over plain TCP, retained messages and last
//! wills, which VDA 5050's `connection` topic needs), on threads of its own beside the server's
//! runtime; the gateway connects to it over loopback like to any broker.
//!
//! Bounds: a message up to [`MAX_PAYLOAD`], at most [`MAX_CONNECTIONS`] clients, and per
//! subscription a log of [`SEGMENT`] × [`SEGMENTS`] (rumqttd keeps what it forwards per filter in
//! a ring of segments): a fleet of 100 vehicles stays under about 100 MiB however long it runs.
//! A larger fleet, or several RCS instances, take an external broker (`--mqtt-url`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

/// The largest message taken (a state of a long order is a few tens of KiB).
pub const MAX_PAYLOAD: usize = 256 * 1024;
/// Clients at most (vehicles, the gateway, tools).
pub const MAX_CONNECTIONS: usize = 2_048;
/// The size of one segment of a subscription's log.
pub const SEGMENT: usize = 256 * 1024;
/// Segments per subscription's log (the oldest is dropped).
pub const SEGMENTS: usize = 2;

/// Why the broker does not run.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Its address cannot be listened on (in use, or not this host's).
    #[error("the embedded MQTT broker cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Its thread cannot be started.
    #[error("the embedded MQTT broker cannot start: {0}")]
    Thread(std::io::Error),
}

/// Brokers this process runs, by address: a server started again in the same process (tests,
/// a standby taking over) finds its broker still there. A broker runs until the process ends.
static RUNNING: Mutex<Vec<SocketAddr>> = Mutex::new(Vec::new());

/// Starts the broker on `addr` (nothing if this process already runs one there). Returns once
/// the address is known to be free and the broker's threads are started.
pub fn start(addr: SocketAddr) -> Result<(), BrokerError> {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    if running.contains(&addr) {
        return Ok(());
    }
    // rumqttd binds on its own thread and only logs a failure there: tried here first, so an
    // address in use stops the server at start with a clear error
    std::net::TcpListener::bind(addr).map_err(|source| BrokerError::Listen { addr, source })?;
    let mut broker = rumqttd::Broker::new(config(addr));
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .map_err(BrokerError::Thread)?;
    running.push(addr);
    tracing::info!(%addr, "embedded MQTT broker listening");
    Ok(())
}

/// Where a client on this host reaches a broker listening on `addr` (an unspecified address
/// such as `0.0.0.0` is reached over loopback).
pub fn local_address(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let loopback = match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        SocketAddr::new(loopback, addr.port())
    } else {
        addr
    }
}

fn config(addr: SocketAddr) -> rumqttd::Config {
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: MAX_PAYLOAD,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: "rcs-mqtt".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: MAX_CONNECTIONS,
            max_outgoing_packet_count: 200,
            max_segment_size: SEGMENT,
            max_segment_count: SEGMENTS,
            ..Default::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_address_is_reached_over_loopback() {
        let any: SocketAddr = "0.0.0.0:1883".parse().unwrap();
        assert_eq!(local_address(any), "127.0.0.1:1883".parse().unwrap());
        let v6: SocketAddr = "[::]:1883".parse().unwrap();
        assert_eq!(local_address(v6), "[::1]:1883".parse().unwrap());
        let given: SocketAddr = "10.0.0.5:1883".parse().unwrap();
        assert_eq!(local_address(given), given);
    }

    #[test]
    fn an_address_in_use_is_an_error_at_start() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = start(addr).unwrap_err();
        assert!(matches!(e, BrokerError::Listen { .. }), "{e}");
    }
}
