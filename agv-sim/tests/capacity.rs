//! The capacity run end to end, sized for CI (`agv-sim capacity`, docs/operations.md; the
//! figures come from the real runs, docs/performance.md "Capacity"): 200 AGVs in normal mode for
//! a 3-second window against a server that is this test binary run again
//! ([`server::process`], behind a small script, as `--rcs-server`). Over veth where this
//! machine can make one (root, `ip netns`), else over loopback (the test says which). Checks
//! that the row is measured and written: every AGV online, the reports counted at 10 Hz, the
//! server's CPU per frame and memory, its CPUs' own busy time when it is pinned, the commands
//! answered, no errors; and that a veth run leaves no namespace behind.

use std::path::Path;
use std::process::{Command, Stdio};

mod server;
use server::free_port;

/// In a child process: the server ([`server::process`]). Elsewhere: nothing.
#[test]
fn child_instance() {
    server::process::child_main();
}

/// Whether a veth run can be made here: root, and `ip` allowed to add a network namespace.
fn veth_possible() -> bool {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
    });
    let ip = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let probe = "rcs-capacity-test-probe";
    let made = root && ip(&["netns", "add", probe]);
    if made {
        ip(&["netns", "del", probe]);
    }
    made
}

/// `--rcs-server`: a script that runs this test binary as the server with its arguments.
fn server_script(dir: &Path) -> std::path::PathBuf {
    let script = dir.join("rcs-server");
    let me = std::env::current_exe().unwrap();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             {env}=$(python3 -c 'import json, sys; print(json.dumps([\"rcs-server\"] + sys.argv[1:]))' \"$@\")\n\
             export {env}\n\
             exec '{me}' --exact child_instance --nocapture --test-threads 1\n",
            env = server::process::CHILD_ENV,
            me = me.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// A port whose next one is free too (the API listens there).
fn two_free_ports() -> u16 {
    loop {
        let port = free_port().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

#[test]
fn a_small_capacity_run_measures_and_writes_its_row() {
    if Command::new("python3")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("SKIPPED: the server script needs python3");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let network = if veth_possible() {
        "veth"
    } else {
        eprintln!("over loopback: this machine cannot make a veth link (root, ip netns)");
        "loopback"
    };
    let out = dir.path().join("out");
    let port = two_free_ports();
    let status = Command::new(env!("CARGO_BIN_EXE_agv-sim"))
        .arg("capacity")
        .arg("--rcs-server")
        .arg(server_script(dir.path()))
        .args(["--modes", "normal", "--sizes", "200", "--window", "3s"])
        .args(["--warmup", "1s", "--commands-per-sec", "10"])
        .args(["--network", network, "--port", &port.to_string()])
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the capacity run failed (logs under {out:?})"
    );
    let rows = agv_sim::capacity::read_csv(&out.join("capacity.csv")).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!((r.mode.as_str(), r.agvs, r.online), ("normal", 200, 200));
    assert_eq!(r.network, network);
    // `saturated` where other work keeps the server's CPU busy (a build beside the test): the
    // CPUs' measure counts whatever ran on them
    assert!(matches!(r.verdict.as_str(), "ok" | "saturated"), "{r:?}");
    assert!(
        (1_500.0..=2_500.0).contains(&r.status_per_sec),
        "200 AGVs report at 10 Hz: {r:?}"
    );
    assert!(r.cpu_us_per_frame > 0.0 && r.rss_kib > 0, "{r:?}");
    assert!(r.commands > 0 && r.command_p50_ms > 0.0, "{r:?}");
    assert_eq!((r.server_errors, r.command_errors), (0, 0), "{r:?}");
    // both runtimes' lag sampled in the window (the smallest bucket is 1 ms)
    assert!(
        r.runtime_lag_p99_ms >= 1.0 && r.api_runtime_lag_p99_ms >= 1.0,
        "{r:?}"
    );
    // pinned by default where there are two CPUs: the CPUs' own busy time is read
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus >= 2 {
        assert!(
            r.server_cpus_load > 0.0 && r.cpu_all_us_per_frame > 0.0 && r.fleet_cpus_load > 0.0,
            "{r:?}"
        );
    }
    assert!(out.join("capacity.png").exists() || !fonts_installed());
    if network == "veth" {
        let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
        assert!(
            !String::from_utf8_lossy(&left.stdout).contains("rcs-capacity"),
            "the run's namespace is gone"
        );
    }
}

/// Whether a font the plot can use is installed (without one it writes no PNG, and says so).
fn fonts_installed() -> bool {
    [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
    ]
    .iter()
    .any(|p| Path::new(p).exists())
}
