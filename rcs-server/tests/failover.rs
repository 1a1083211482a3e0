//! `--rcs-addresses` (docs/operations.md): parsed from the command line, the environment's
//! comma-separated form and the TOML file, and pushed to every AGV with the configuration
//! (docs/protocol.md 4.4); by default nothing is pushed.

use clap::{CommandFactory, FromArgMatches, Parser};
use protocol::address::RcsAddress;
use protocol::session::AgvEvent;
use rcs_server::Config;

mod support;
use support::{Running, normal_agv, run_agv};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

fn parse(args: &[&str]) -> Result<Config, String> {
    let matches = Cli::command()
        .try_get_matches_from(args)
        .map_err(|e| e.to_string())?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    cli.config.apply_file(&matches).map_err(|e| e.to_string())?;
    Ok(cli.config)
}

fn addrs(list: &[&str]) -> Vec<RcsAddress> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

#[test]
fn addresses_come_comma_separated_repeated_or_from_the_file() {
    assert!(parse(&["rcs"]).unwrap().rcs_addresses.is_empty());
    let c = parse(&[
        "rcs",
        "--rcs-addresses",
        "10.0.1.11:7700, [fd00::11]:7700",
        "--rcs-addresses",
        "rcs-2.site.example:7700",
    ])
    .unwrap();
    assert_eq!(
        c.rcs_addresses,
        addrs(&[
            "10.0.1.11:7700",
            "[fd00::11]:7700",
            "rcs-2.site.example:7700"
        ])
    );
    let err = parse(&["rcs", "--rcs-addresses", "10.0.1.11"]).unwrap_err();
    assert!(err.contains("no port"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rcs.toml");
    std::fs::write(
        &file,
        "rcs-addresses = [\"10.0.1.11:7700\", \"10.0.1.12:7700\"]\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let c = parse(&["rcs", "--config", path]).unwrap();
    assert_eq!(
        c.rcs_addresses,
        addrs(&["10.0.1.11:7700", "10.0.1.12:7700"])
    );
    let c = parse(&["rcs", "--config", path, "--rcs-addresses", "a.example:1"]).unwrap();
    assert_eq!(
        c.rcs_addresses,
        addrs(&["a.example:1"]),
        "command line wins"
    );
    std::fs::write(&file, "rcs-addresses = [\"10.0.1.11:77000\"]\n").unwrap();
    let err = parse(&["rcs", "--config", path]).unwrap_err();
    assert!(
        err.contains("rcs-addresses") && err.contains("rcs.toml"),
        "{err}"
    );
}

/// Runs one AGV until it is configured; returns its events.
async fn configured_events(config: Config) -> Vec<AgvEvent> {
    let running = Running::start(config).await;
    let events = run_agv(&running.server, normal_agv(31), |_, e| {
        matches!(e, Some(AgvEvent::Configured(_)))
    })
    .await;
    running.stop().await;
    events
}

#[tokio::test]
async fn every_configuration_push_carries_the_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.rcs_addresses = addrs(&["10.0.1.11:7700", "[fd00::11]:7700"]);
    let events = configured_events(config.clone()).await;
    let pushed = events
        .iter()
        .find_map(|e| match e {
            AgvEvent::Configured(c) => Some(c.rcs_addresses().unwrap()),
            _ => None,
        })
        .expect("configured");
    assert_eq!(pushed, config.rcs_addresses);

    let dir = tempfile::tempdir().unwrap();
    let events = configured_events(Config::for_tests(dir.path())).await;
    let AgvEvent::Configured(c) = events
        .iter()
        .find(|e| matches!(e, AgvEvent::Configured(_)))
        .expect("configured")
    else {
        unreachable!()
    };
    assert!(c.extensions.is_empty(), "nothing pushed by default");
}
