//! An rcs-server in this process for the simulator's end-to-end tests and load scripts.

#![allow(dead_code)]

use rcs_server::{Config, Server};

/// rcs-server instances as OS processes (to be killed).
pub mod process;

/// Throwaway PostgreSQL databases: the same helper as rcs-server's tests.
#[path = "../../../rcs-server/tests/support/postgres.rs"]
pub mod postgres;

/// A local address nothing listens on now (for a listener the test starts later).
pub fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
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
