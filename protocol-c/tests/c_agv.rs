//! The C example AGV (`examples/c-agv`) end to end: built with the machine's gcc and make
//! against this crate's static library, it connects over TCP to a real rcs-server (in this
//! process, demo site, normal mode), registers, reports, asks for a safe space, gets it and
//! releases it; then a task submitted through the HTTP API for it is driven to its end and
//! completes. Its standard input closing ends it cleanly.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The admin token `Config::for_tests` sets.
const ADMIN: &str = "test-admin-token";

/// Where cargo put this crate's static library: the test binary is in `<target>/<profile>/deps`,
/// the library beside it (and, after a plain build, in `<target>/<profile>`).
fn static_library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    [deps.clone(), deps.parent().unwrap().to_path_buf()]
        .into_iter()
        .find(|dir| dir.join("librcs_protocol.a").exists())
        .unwrap_or_else(|| panic!("no librcs_protocol.a in or beside {}", deps.display()))
}

/// Builds the example with `make` into `out`, statically linked.
fn build_example(out: &Path) {
    build_example_linked(out, "static");
}

/// Builds the example with `make` into `out`, linked `static` or `shared`.
fn build_example_linked(out: &Path, link: &str) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/c-agv");
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&example)
        .arg(format!("LIB_DIR={}", static_library_dir().display()))
        .arg(format!("OUT={}", out.display()))
        .arg(format!("LINK={link}"))
        .status()
        .expect("make runs");
    assert!(status.success(), "the C example builds");
}

/// The C AGV as a child process, its stdout lines collected.
struct CAgv {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl CAgv {
    fn spawn(program: &Path, args: &[String]) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the C AGV starts");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    fn has(&self, f: impl Fn(&str) -> bool) -> bool {
        self.lines.lock().unwrap().iter().any(|l| f(l))
    }

    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits up to `secs` for a line that `f` accepts.
    async fn wait_for(&self, what: &str, secs: u64, f: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.has(&f) {
            assert!(
                Instant::now() < deadline,
                "the C AGV did not print {what} within {secs} s; it printed:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Closes its standard input (it closes its session and exits) and waits for it.
    fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the C AGV exits cleanly: {status}");
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the C AGV did not exit:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
        self.output()
    }
}

impl Drop for CAgv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn api(
    server: &rcs_server::Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://{}{path}", server.http_addr))
        .bearer_auth(ADMIN)
        .timeout(Duration::from_secs(10));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A server on the demo site (normal and secure mode allowed), and how to stop it.
async fn start_server(
    dir: &Path,
) -> (
    rcs_server::Server,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let config = rcs_server::Config::for_tests(&dir.join("data"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (server, serve) = rcs_server::start(config, async {
        let _ = stopped.await;
    })
    .await
    .expect("the server starts");
    (server, stop, tokio::spawn(serve))
}

/// The options of a C AGV with `id` at `(x, 0)` on the demo hall, driving at 4 m/s.
fn options(server: &rcs_server::Server, id: u32, x: f64, more: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--server",
        &server.agv_addr.to_string(),
        "--id",
        &id.to_string(),
        "--x",
        &x.to_string(),
        "--y",
        "0",
        "--speed",
        "4",
        "--stdin",
        "--run-ms",
        "60000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

/// Waits until the server has AGV `id` registered and reporting.
async fn reporting(server: &rcs_server::Server, id: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .state
        .fleet
        .get(id)
        .is_some_and(|v| v.registered && v.status.is_some())
    {
        assert!(Instant::now() < deadline, "the server sees AGV {id} report");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Submits a move of AGV `id` to `destination` and waits for it to complete.
async fn task_completes(server: &rcs_server::Server, agv: &CAgv, id: u32, destination: &str) {
    let (status, task) = api(
        server,
        reqwest::Method::POST,
        "/api/v1/tasks",
        Some(json!({ "kind": "move", "destination": destination, "agv_id": id })),
    )
    .await;
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, t) = api(
            server,
            reqwest::Method::GET,
            &format!("/api/v1/tasks/{task_id}"),
            None,
        )
        .await;
        if t["state"] == "completed" {
            assert_eq!(t["agv"], id);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "task {task_id} not completed: {t}\nthe C AGV printed:\n{}",
            agv.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stop_server(stop: tokio::sync::oneshot::Sender<()>, serving: tokio::task::JoinHandle<()>) {
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), serving)
        .await
        .expect("the server stops")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_agv_registers_gets_a_safe_space_and_completes_a_task() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("c-agv");
    build_example(&program);
    println!("built the C AGV in {:?}", started.elapsed());
    let (server, stop, serving) = start_server(dir.path()).await;

    // AGV 1 at park-1 (3, 0) of the demo hall
    let agv = CAgv::spawn(&program, &options(&server, 1, 3.0, &[]));
    agv.wait_for("registered", 10, |l| l == "registered").await;
    assert!(
        agv.has(|l| l.starts_with("connected mode 0 ")),
        "normal mode"
    );
    reporting(&server, 1).await;

    // the safe space: asked, granted, released (the server answers the release with Ok)
    agv.wait_for("granted", 10, |l| l.starts_with("granted "))
        .await;
    agv.wait_for("released", 10, |l| {
        l.starts_with("released ") && l.ends_with(" result 0")
    })
    .await;

    // a task for it through the API, driven to its end: dock-A is node 8, across the QR zone
    task_completes(&server, &agv, 1, "dock-A").await;
    assert!(agv.has(|l| l == "reached 8"), "{}", agv.output());
    assert!(agv.has(|l| l.starts_with("task ")));
    assert!(agv.has(|l| l.starts_with("progress completed ")));

    let output = agv.finish();
    assert!(output.ends_with("bye"), "{output}");
    stop_server(stop, serving).await;
    println!("C AGV end to end in {:?}\n{output}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_agv_in_secure_mode_registers_and_completes_a_task() {
    use crypto::sign::{SigningKey, VerifyingKey};
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("c-agv");
    build_example(&program);
    let (server, stop, serving) = start_server(dir.path()).await;

    // the AGV's key, enrolled through the API; the server's public key from its data dir
    let mut rng = crypto::system_rng();
    let key = SigningKey::generate(crypto::DEFAULT_ID, &mut rng).unwrap();
    let pem = dir.path().join("agv.pub");
    crypto::keys::write_public_pem(&pem, key.verifying_key().public_key()).unwrap();
    let (status, body) = api(
        &server,
        reqwest::Method::POST,
        "/api/v1/agvs/enroll",
        Some(json!({ "agv_id": 2, "public_key_pem": std::fs::read_to_string(&pem).unwrap() })),
    )
    .await;
    assert!((200..300).contains(&status), "{status} {body}");
    let rcs = crypto::keys::read_public_pem(&dir.path().join("data/server.pub")).unwrap();
    let rcs = VerifyingKey::new(crypto::DEFAULT_ID, rcs)
        .unwrap()
        .to_sec1();
    let private = hex::encode(key.secret().to_bytes());
    let public = hex::encode(rcs);

    // AGV 2 at park-1 (3, 0), the fast profile, no safe space
    let more = ["--secure", &private, &public, "--fast", "--no-space"];
    let agv = CAgv::spawn(&program, &options(&server, 2, 3.0, &more));
    agv.wait_for("registered", 10, |l| l == "registered").await;
    assert!(
        agv.has(|l| l.starts_with("connected mode 1 ")),
        "secure mode"
    );
    reporting(&server, 2).await;
    task_completes(&server, &agv, 2, "dock-A").await;
    assert!(agv.has(|l| l == "reached 8"), "{}", agv.output());

    let output = agv.finish();
    assert!(output.ends_with("bye"), "{output}");

    // the same AGV again in the gcm profile (SM4-GCM): granted, registered, its reports taken
    let more = ["--secure", &private, &public, "--gcm", "--no-space"];
    let again = CAgv::spawn(&program, &options(&server, 2, 3.0, &more));
    again
        .wait_for("registered", 10, |l| l == "registered")
        .await;
    assert!(
        again.has(|l| l.starts_with("connected mode 1 profile 2 ")),
        "the gcm profile: {}",
        again.output()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = api(&server, reqwest::Method::GET, "/api/v1/agvs/2", None).await;
        if body["session"]["profile"] == "gcm" && body["online"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the API shows the gcm session: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gcm_output = again.finish();
    assert!(gcm_output.ends_with("bye"), "{gcm_output}");
    stop_server(stop, serving).await;
    println!(
        "C AGV in secure mode end to end in {:?}\n{output}\n{gcm_output}",
        started.elapsed()
    );
}

#[test]
fn the_example_links_statically_and_dynamically_and_reads_its_options() {
    // a bad option is refused with the usage's exit code, without connecting anywhere; the
    // shared library loads (its rpath is set)
    let dir = tempfile::tempdir().unwrap();
    for link in ["static", "shared"] {
        let program = dir.path().join(format!("c-agv-{link}"));
        build_example_linked(&program, link);
        let out = Command::new(&program)
            .arg("--bogus")
            .arg("1")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{link}: {out:?}");
        let out = Command::new(&program).arg("--id").output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{link}: an option without its value"
        );
    }
}
