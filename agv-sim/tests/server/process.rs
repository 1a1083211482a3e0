//! rcs-server instances as separate OS processes, so a test can kill one (`SIGKILL`), pause it
//! (`SIGSTOP`) or stop it (`SIGTERM`) as an operator or a crash would. Each instance is the
//! test binary run again as its `child_instance` test ([`child_main`], configured by
//! [`CHILD_ENV`]), so no other binary needs building; it dies with its [`Instance`] (and with
//! the test process).
//!
//! A test binary that starts instances has
//!
//! ```ignore
//! #[test]
//! fn child_instance() {
//!     server::process::child_main();
//! }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{CommandFactory, FromArgMatches, Parser};
use serde_json::Value;

/// Set (to the instance's command line as a JSON list) in a child process: [`child_main`]
/// runs an instance instead of returning.
pub const CHILD_ENV: &str = "AGV_SIM_SERVER_CHILD";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: rcs_server::Config,
}

/// In a child process: an rcs-server instance with the command line in [`CHILD_ENV`], until
/// SIGTERM (or its parent is gone). Elsewhere: nothing.
pub fn child_main() {
    let Ok(args) = std::env::var(CHILD_ENV) else {
        return;
    };
    let args: Vec<String> = serde_json::from_str(&args).expect("a JSON list of arguments");
    let matches = Cli::command().get_matches_from(&args);
    let mut cli = Cli::from_arg_matches(&matches).expect("a valid command line");
    cli.config.apply_file(&matches).expect("no file");
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("RCS_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        ))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let parent = std::os::unix::process::parent_id();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(1); // orphaned: the test is gone
                }
            }
        });
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        rcs_server::run(cli.config, async move {
            term.recv().await;
        })
        .await
        .unwrap();
    });
}

/// An instance: this test binary run again as its `child_instance` test. Killed when dropped.
pub struct Instance {
    /// Its name (in messages).
    pub name: &'static str,
    child: std::process::Child,
    http: SocketAddr,
    token: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Instance {
    /// Starts instance `name` with the server command line `args` gives for a directory of the
    /// instance's own (removed with it; its log is there, and it may serve as the data
    /// directory). The command line is without the program name and must give
    /// `--http-listen http` and `--api-token token`.
    pub fn start(
        name: &'static str,
        http: SocketAddr,
        token: &str,
        args: impl FnOnce(&std::path::Path) -> Vec<String>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec!["rcs-server".to_owned()];
        all.extend(args(dir.path()));
        let log = dir.path().join("log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_instance",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, serde_json::to_string(&all).unwrap())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Self {
            name,
            child,
            http,
            token: token.to_owned(),
            log,
            _dir: dir,
        }
    }

    /// Its HTTP API's base URL.
    pub fn api(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let done = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(done.success(), "kill -{signal} {}", self.name);
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill9(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    /// Stops the process (SIGTERM: a graceful stop) and waits up to `within` for it to end;
    /// whether it ended cleanly. Its log stays readable.
    pub fn stop(&mut self, within: Duration) -> bool {
        self.signal("TERM");
        let until = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// GET `path` with the token: status and JSON body (none when no answer came within 2 s).
    pub async fn get(&self, path: &str) -> Option<(u16, Value)> {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.api()))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        Some((r.status().as_u16(), r.json().await.ok()?))
    }

    /// Its `/api/v1/cluster`.
    pub async fn cluster(&self) -> Option<Value> {
        self.get("/api/v1/cluster").await.map(|(_, v)| v)
    }

    /// Waits until `/api/v1/cluster` says `role`; its answer then. Panics after `within`,
    /// with the end of the instance's log.
    pub async fn wait_role(&self, role: &str, within: Duration) -> Value {
        let until = Instant::now() + within;
        loop {
            if let Some(v) = self.cluster().await
                && v["role"] == role
            {
                return v;
            }
            assert!(
                Instant::now() < until,
                "{} not {role} within {within:?}\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `/healthz` answers 200 (the instance serves AGVs and the API); how long
    /// that took. Panics after `within`, with the end of the instance's log.
    pub async fn wait_up(&self, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if let Some((200, _)) = self.get("/healthz").await {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "{} not up within {within:?}\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `n` AGVs are online here (`/healthz`); how long that took.
    pub async fn wait_online(&self, n: u64, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if let Some((_, v)) = self.get("/healthz").await
                && v["agvs_online"].as_u64() >= Some(n)
            {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "{} has not {n} AGVs online within {within:?}\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last 30 lines of its log, headed by its name.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- {} log (end) ---\n{}",
            self.name,
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // kept for a look after the test when asked (its directory goes with it)
        if let Ok(dir) = std::env::var("RCS_TEST_KEEP_LOGS") {
            let _ = std::fs::copy(
                &self.log,
                Path::new(&dir).join(format!("{}.log", self.name)),
            );
        }
    }
}
