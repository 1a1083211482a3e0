//! An rcs-server in this process for the simulator's end-to-end tests and load scripts.

#![allow(dead_code)]

use rcs_server::{Config, Server};

/// rcs-server instances as OS processes (to be killed).
pub mod process;

/// Throwaway PostgreSQL databases: the same helper as rcs-server's tests.
#[path = "../../../rcs-server/tests/support/postgres.rs"]
pub mod postgres;

/// A local address nothing listens on now (for a listener the test starts later), below
/// Linux's ephemeral range (32768-60999): a port the kernel handed out for `bind(0)` would be
/// free again once checked, and could be handed out again before the test binds it (to an
/// AGV's connection or another listener: an instance of the cluster test once failed to start
/// on a port taken so, while soaks ran beside it).
pub fn free_port() -> std::net::SocketAddr {
    use std::hash::{BuildHasher, Hasher};
    // (not one port twice in this process)
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..1_000 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let port = 20_000 + (h.finish() % 12_000) as u16;
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if given.contains(&port) {
            continue;
        }
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            given.push(port);
            return l.local_addr().unwrap();
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The MQTT broker for a test with VDA 5050 vehicles: Mosquitto at 127.0.0.1:1883 when one
/// listens there (every machine of this project has it), otherwise the server's embedded broker
/// on a free port (`config.mqtt_listen`). Sets `config` to use it; returns its port.
pub fn mqtt_broker(config: &mut Config) -> u16 {
    let mosquitto = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], 1883)),
        std::time::Duration::from_secs(1),
    );
    if mosquitto.is_ok() {
        config.mqtt_url = Some("mqtt://127.0.0.1:1883".into());
        1883
    } else {
        let addr = free_port();
        eprintln!("no MQTT broker at 127.0.0.1:1883: the server's embedded one on {addr}");
        config.mqtt_listen = Some(addr);
        addr.port()
    }
}

/// A running server, its admin token, and how to stop it.
pub struct Serving {
    /// The server (its listeners' addresses).
    pub server: Server,
    /// The admin API token.
    pub token: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Serving {
    /// Starts a server with `config` (which must carry an API token, as `Config::for_tests`
    /// does).
    pub async fn start(config: Config) -> Self {
        let token = config.api_token.clone().expect("a test config has a token");
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let (server, serve) = rcs_server::start(config, async {
            let _ = rx.await;
        })
        .await
        .expect("the server starts");
        Self {
            server,
            token,
            stop,
            task: tokio::spawn(serve),
        }
    }

    /// The HTTP API's base URL.
    pub fn api(&self) -> String {
        format!("http://{}", self.server.http_addr)
    }

    /// Stops the server and waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("the server task ends cleanly");
    }
}
