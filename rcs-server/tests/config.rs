//! Configuration precedence: command line over the `--config` TOML file over defaults; relative
//! paths in the file are relative to it; unknown keys are errors.

use clap::{CommandFactory, FromArgMatches, Parser};
use rcs_server::Config;
use rcs_server::config::SecurePolicy;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

fn parse(args: &[&str]) -> Result<Config, rcs_server::config::ConfigError> {
    let matches = Cli::command().get_matches_from(args);
    let mut cli = Cli::from_arg_matches(&matches).unwrap();
    cli.config.apply_file(&matches)?;
    Ok(cli.config)
}

#[test]
fn the_file_fills_defaults_and_the_command_line_wins() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rcs.toml");
    std::fs::write(
        &file,
        r#"
agv-listen = "0.0.0.0:7800"
http-listen = "0.0.0.0:9090"
data-dir = "data"
site = "sites/plant-2"
secure = "required"
allow-fast = false
max-connections = 5000
link-timeout-ms = 3000
"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let c = parse(&["rcs", "--config", path, "--http-listen", "127.0.0.1:8181"]).unwrap();
    assert_eq!(c.agv_listen.port(), 7800);
    assert_eq!(
        c.http_listen.to_string(),
        "127.0.0.1:8181",
        "command line wins"
    );
    assert_eq!(c.data_dir, dir.path().join("data"), "relative to the file");
    assert_eq!(c.site, Some(dir.path().join("sites/plant-2")));
    assert_eq!(c.secure, SecurePolicy::Required);
    assert!(!c.allow_fast);
    assert_eq!(c.max_connections, 5000);
    assert_eq!(c.link_timeout_ms, 3000);
    assert_eq!(c.command_timeout_ms, 10_000, "default where neither says");

    let defaults = parse(&["rcs"]).unwrap();
    assert_eq!(defaults.agv_listen.to_string(), "0.0.0.0:7700");
    assert_eq!(defaults.http_listen.to_string(), "127.0.0.1:8080");
    assert_eq!(defaults.secure, SecurePolicy::Allowed);
}

#[test]
fn unknown_keys_and_bad_values_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "agv-listn = \"0.0.0.0:1\"\n").unwrap();
    let err = parse(&["rcs", "--config", file.to_str().unwrap()]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("bad.toml") && text.contains("agv-listn"),
        "{text}"
    );
    std::fs::write(&file, "secure = \"sometimes\"\n").unwrap();
    assert!(parse(&["rcs", "--config", file.to_str().unwrap()]).is_err());
    let missing = dir.path().join("missing.toml");
    assert!(parse(&["rcs", "--config", missing.to_str().unwrap()]).is_err());
}

#[test]
fn values_the_server_cannot_work_with_are_refused_naming_the_flag() {
    // parsed, then refused by the server before it starts
    for (args, flag) in [
        (&["--max-connections", "0"][..], "--max-connections"),
        (&["--access-timeout-ms", "0"], "--access-timeout-ms"),
        (&["--handshake-timeout-ms", "0"], "--handshake-timeout-ms"),
        (&["--link-timeout-ms", "50"], "--link-timeout-ms"),
        (&["--link-timeout-ms", "5000000000"], "--link-timeout-ms"),
        (&["--command-timeout-ms", "0"], "--command-timeout-ms"),
        (&["--max-body-bytes", "100"], "--max-body-bytes"),
        (&["--charge-below-pct", "150"], "--charge-below-pct"),
        (
            &["--opportunity-below-pct", "NaN"],
            "--opportunity-below-pct",
        ),
        (&["--congestion-gate=-0.5"], "--congestion-gate"),
        (&["--dense-share=1.5"], "--dense-share"),
    ] {
        let mut argv = vec!["rcs"];
        argv.extend_from_slice(args);
        let config = parse(&argv).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.starts_with(flag), "{args:?}: {err}");
    }
    parse(&["rcs"]).unwrap().validate().expect("the defaults");
    // the same from the file
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rcs.toml");
    std::fs::write(&file, "max-connections = 0\n").unwrap();
    let config = parse(&["rcs", "--config", file.to_str().unwrap()]).unwrap();
    assert!(
        config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--max-connections")
    );

    // values that do not parse: a usage error, before anything starts
    for args in [
        &["--max-connections", "many"][..],
        &["--max-frames-per-sec=-1"],
        &["--secure", "sometimes"],
        &["--allow-fast", "perhaps"],
        &["--agv-listen", "0.0.0.0"],
    ] {
        let mut argv = vec!["rcs"];
        argv.extend_from_slice(args);
        let err = Cli::command().try_get_matches_from(&argv).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation | clap::error::ErrorKind::InvalidValue
            ),
            "{args:?}: {err}"
        );
        assert!(
            err.to_string().contains(args[0].split('=').next().unwrap()),
            "{err}"
        );
    }
}

/// Printing a configuration (`{:?}`, as a log line or a panic message might) shows no secret:
/// the admin token and the callback secret are `***`, URL passwords are masked.
#[test]
fn a_printed_configuration_shows_no_secret() {
    let config = parse(&[
        "rcs-server",
        "--api-token",
        "tok-very-secret-0001",
        "--callback-secret",
        "cb-very-secret-0002",
        "--database-url",
        "postgres://rcs:pw-secret-0003@127.0.0.1:5432/test",
        "--callback-url",
        "https://mes:cb-pass-0004@mes.example/rcs",
    ])
    .unwrap();
    let shown = format!("{config:?}");
    for secret in [
        "tok-very-secret-0001",
        "cb-very-secret-0002",
        "pw-secret-0003",
        "cb-pass-0004",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains("postgres://rcs:***@127.0.0.1:5432/test"),
        "{shown}"
    );
    assert!(shown.contains("api_token: Some(\"***\")"), "{shown}");
    // Every setting is shown (the Debug is written out by hand: a new field must be added).
    for arg in Cli::command().get_arguments() {
        let id = arg.get_id().as_str();
        if id != "help" {
            assert!(
                shown.contains(&format!("{id}: ")),
                "{id} not shown: {shown}"
            );
        }
    }
}

#[test]
fn the_api_token_is_never_read_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rcs.toml");
    std::fs::write(&file, "api-token = \"secret\"\n").unwrap();
    let err = parse(&["rcs", "--config", file.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rcs.toml") && err.contains("api-token"),
        "{err}"
    );
}

/// The first log lines of the server started on a fresh data directory with `args`, its
/// standard output a pipe (as under systemd or with a log shipper), up to the HTTP API's line.
fn first_log_lines(args: &[&str]) -> Vec<String> {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_rcs-server"))
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--agv-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("RCS_LOG_FORMAT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(server.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.contains("HTTP API");
        lines.push(line);
        if done || lines.len() >= 20 {
            break;
        }
    }
    server.kill().unwrap();
    server.wait().unwrap();
    lines
}

/// Logs to a pipe carry no colour codes; `--log-format json` writes one JSON object a line.
#[test]
fn logs_are_plain_text_off_a_terminal_or_json_lines() {
    let text = first_log_lines(&[]);
    assert!(text.iter().any(|l| l.contains("HTTP API")), "{text:#?}");
    assert!(
        text.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in a pipe: {text:#?}"
    );
    let json = first_log_lines(&["--log-format", "json"]);
    assert!(json.len() >= 2, "{json:#?}");
    for line in &json {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
    assert!(json.iter().any(|l| l.contains("HTTP API")), "{json:#?}");
}

/// The server started with `args` on the command line: (exit success, stderr).
fn start_fails(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rcs-server"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A start-up error names what it concerns (the data directory, the address in use, the
/// database URL without its password), is printed once on one line, and nothing is written
/// before an address in use is found.
#[test]
fn startup_errors_name_what_they_concern_once_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (ok, err) = start_fails(&["--data-dir", file.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        format!(
            "error: data directory {}: exists and is not a directory",
            file.display()
        )
    );
    // an address in use: named, and no data directory created
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = dir.path().join("data");
    let (ok, err) = start_fails(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--agv-listen",
        &addr,
        "--http-listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("error: AGV protocol cannot listen on {addr}: ")),
        "{err}"
    );
    assert!(!data.exists(), "written before the check failed");
    // a site that does not load: named, and nothing written either
    let no_site = dir.path().join("no-site");
    std::fs::create_dir(&no_site).unwrap();
    let (ok, err) = start_fails(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--site",
        no_site.to_str().unwrap(),
        "--agv-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(no_site.to_str().unwrap()), "{err}");
    assert!(!data.exists(), "written before the site was checked");
    // a PostgreSQL server that refuses: the cause, at once, and no password
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("postgres://rcs:hunter2@127.0.0.1:{port}/rcs");
    let started = std::time::Instant::now();
    let (ok, err) = start_fails(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--database-url",
        &url,
        "--agv-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "database postgres://rcs:***@127.0.0.1:{port}/rcs: "
        )) && err.to_lowercase().contains("refused")
            && !err.contains("hunter2"),
        "{err}"
    );
}

/// Listen addresses may be host names; a SQLite URL without `mode=` creates its file.
#[tokio::test]
async fn host_names_listen_and_sqlite_urls_create_their_file() {
    let c = parse(&[
        "rcs",
        "--agv-listen",
        "localhost:7701",
        "--http-listen",
        "127.0.0.1:0",
    ])
    .unwrap();
    assert!(c.agv_listen.ip().is_loopback() && c.agv_listen.port() == 7701);
    assert!(rcs_server::config::listen_address("localhost").is_err());
    assert_eq!(
        rcs_server::redact_url("postgres://u:p%40ss@db.example:5432/rcs?sslmode=require"),
        "postgres://u:***@db.example:5432/rcs?sslmode=require"
    );
    assert_eq!(
        rcs_server::redact_url("postgres://u@h/db"),
        "postgres://u@h/db"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.sqlite");
    let db = rcs_server::db::Db::open_in(&format!("sqlite://{}", path.display()), None)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    assert!(path.exists());
    // private: the database (token hashes, enrolled keys) and the data directory
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        let wal = dir.path().join("new.sqlite-wal");
        assert!(wal.exists() && mode(&wal) == 0o600, "{:o}", mode(&wal));
        let data = dir.path().join("a/data");
        rcs_server::create_data_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
    }
}
