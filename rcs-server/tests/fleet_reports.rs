//! The fleet keeps each AGV's latest status report and hands back the one a new report
//! replaces (the session decodes the next report into it: no allocation per report).

mod support;

use protocol::message::{LoadInfo, Message, StatusReport};
use protocol::types::AgvState;
use rcs_server::fleet::Fleet;

fn report(x: f64, load: &str) -> StatusReport {
    let Message::StatusReport(mut r) = support::status_at(x, AgvState::Idle) else {
        unreachable!("a status report")
    };
    r.loads = vec![LoadInfo {
        load_id: load.into(),
        weight_kg: 1.0,
    }];
    r
}

#[test]
fn a_report_is_swapped_with_the_one_it_replaces() {
    let fleet = Fleet::default();
    fleet.update(5, |v| v.session_id = 7);
    let mut status = report(1.0, "a");
    let change = fleet.report(5, 7, 1_000, 0, &mut status);
    assert!(change.is_some(), "the first report is a state change");
    assert_eq!(status, report(1.0, "a"), "the first is kept as a copy");
    let mut status = report(2.0, "b");
    let change = fleet.report(5, 7, 1_100, 0, &mut status);
    assert!(change.is_none(), "same state, map and mode");
    assert_eq!(status, report(1.0, "a"), "the one it replaced");
    assert_eq!(fleet.get(5).and_then(|v| v.status), Some(report(2.0, "b")));
    // Another session's report is not taken: it stays as it was.
    let mut status = report(3.0, "c");
    assert!(fleet.report(5, 6, 1_200, 0, &mut status).is_none());
    assert_eq!(status, report(3.0, "c"));
    assert_eq!(fleet.get(5).and_then(|v| v.status), Some(report(2.0, "b")));
}
