//! Every message this crate writes validates against the official schema of its version; what
//! a version does not have is refused both ways.

mod support;

use support::{assert_valid, validator};
use vda5050::action::{self, Action, ActionParameter, BlockingType};
use vda5050::{Connection, ConnectionState, Header, InstantActions, MessageError, Version};

const T: u64 = 1_764_745_203_120;

fn header(version: Version, id: u32) -> Header {
    Header::new(version, id, T, "Acme Robotics", "SN-0001")
}

#[test]
fn the_schemas_catch_what_they_should() {
    // the validator itself: a wrong enumeration value and a missing field fail
    for version in Version::ALL {
        let v = validator(version, "connection");
        let mut ok = serde_json::json!({
            "headerId": 1, "timestamp": "2025-12-03T07:00:03.120Z", "version": version.as_str(),
            "manufacturer": "Acme", "serialNumber": "1", "connectionState": "ONLINE"
        });
        assert!(v.is_valid(&ok), "{version}");
        ok["connectionState"] = "BOGUS".into();
        assert!(!v.is_valid(&ok), "{version}");
        ok["connectionState"] = "ONLINE".into();
        ok.as_object_mut().unwrap().remove("headerId");
        assert!(!v.is_valid(&ok), "{version}");
    }
}

#[test]
fn connection_messages_validate_in_every_version_and_read_back() {
    for version in Version::ALL {
        for (i, state) in [
            ConnectionState::Online,
            ConnectionState::Offline,
            ConnectionState::ConnectionBroken,
            ConnectionState::Hibernating,
        ]
        .into_iter()
        .enumerate()
        {
            let message = Connection {
                header: header(version, i as u32),
                connection_state: state,
            };
            let written = message.to_json();
            if state.as_str(version).is_none() {
                assert!(
                    matches!(written, Err(MessageError::NotInVersion { .. })),
                    "{state:?} in {version}"
                );
                continue;
            }
            let json = written.unwrap();
            assert_valid(version, "connection", &json);
            assert_eq!(Connection::from_json(&json).unwrap(), message);
        }
    }
}

#[test]
fn a_connection_state_of_another_version_is_refused() {
    let json = |version: &str, state: &str| {
        serde_json::to_vec(&serde_json::json!({
            "headerId": 3, "timestamp": "2025-12-03T07:00:03.120Z", "version": version,
            "manufacturer": "Acme", "serialNumber": "1", "connectionState": state
        }))
        .unwrap()
    };
    let read = |v: &str, s: &str| Connection::from_json(&json(v, s));
    assert_eq!(
        read("2.0.0", "CONNECTIONBROKEN").unwrap().connection_state,
        ConnectionState::ConnectionBroken
    );
    assert_eq!(
        read("3.0.0", "CONNECTION_BROKEN").unwrap().connection_state,
        ConnectionState::ConnectionBroken
    );
    for (v, s) in [
        ("2.0.0", "CONNECTION_BROKEN"),
        ("2.1.0", "HIBERNATING"),
        ("3.0.0", "CONNECTIONBROKEN"),
        ("3.0.0", "online"),
    ] {
        assert!(
            matches!(read(v, s), Err(MessageError::NotInVersion { .. })),
            "{s} in {v}"
        );
    }
    assert!(matches!(
        read("1.1.0", "ONLINE"),
        Err(MessageError::Version(_))
    ));
}

fn pause_resume_cancel(version: Version) -> InstantActions {
    let mut pick = Action::instant(action::FACTSHEET_REQUEST, "a-4");
    pick.description = Some("the factsheet, please".into());
    pick.parameters = vec![ActionParameter {
        key: "reason".into(),
        value: serde_json::json!({"why": ["startup", 1]}),
    }];
    InstantActions {
        header: header(version, 42),
        actions: vec![
            Action::instant(action::START_PAUSE, "a-1"),
            Action::instant(action::STOP_PAUSE, "a-2"),
            Action::instant(action::CANCEL_ORDER, "a-3"),
            pick,
        ],
    }
}

#[test]
fn instant_actions_validate_in_every_version_and_read_back() {
    for version in Version::ALL {
        let message = pause_resume_cancel(version);
        let json = message.to_json().unwrap();
        assert_valid(version, "instantActions", &json);
        assert_eq!(InstantActions::from_json(&json).unwrap(), message);
        // the description goes in the field the version has
        let text = String::from_utf8(json).unwrap();
        let (has, hasnt) = if version == Version::V3_0 {
            ("actionDescriptor", "actionDescription")
        } else {
            ("actionDescription", "actionDescriptor")
        };
        assert!(text.contains(has) && !text.contains(hasnt), "{text}");
    }
}

#[test]
fn blocking_instant_actions_are_refused_in_3_0_only() {
    for version in Version::ALL {
        let mut message = pause_resume_cancel(version);
        message.actions[0].blocking_type = BlockingType::Hard;
        let written = message.to_json();
        if version == Version::V3_0 {
            assert!(
                matches!(written, Err(MessageError::NotInVersion { ref field, .. }) if field == "actions[0].blockingType")
            );
            // and read: the same message written as 2.1, relabelled 3.0
            let mut older = message.clone();
            older.header.version = "2.1.0".into();
            let text = String::from_utf8(older.to_json().unwrap())
                .unwrap()
                .replace("\"2.1.0\"", "\"3.0.0\"");
            assert!(matches!(
                InstantActions::from_json(text.as_bytes()),
                Err(MessageError::NotInVersion { .. })
            ));
        } else {
            let json = written.unwrap();
            assert_valid(version, "instantActions", &json);
            assert_eq!(InstantActions::from_json(&json).unwrap(), message);
        }
        message.actions[0].blocking_type = BlockingType::Single;
        assert!(
            message.to_json().is_err(),
            "SINGLE in an instant action, {version}"
        );
        message.actions[0].blocking_type = BlockingType::None;
        message.actions[0].retriable = Some(true);
        assert!(
            message.to_json().is_err(),
            "retriable in an instant action, {version}"
        );
    }
}

#[test]
fn bad_messages_are_refused_whole() {
    let good = String::from_utf8(pause_resume_cancel(Version::V2_1).to_json().unwrap()).unwrap();
    let bad = [
        String::new(),
        "{".into(),
        "[]".into(),
        "null".into(),
        good.replace("\"headerId\":42,", ""),
        good.replace("\"headerId\":42", "\"headerId\":-1"),
        good.replace("\"headerId\":42", "\"headerId\":\"42\""),
        good.replace("\"actionId\":\"a-1\"", "\"actionId\":\"\""),
        good.replace("\"actionId\":\"a-2\",", ""),
        good.replace("\"blockingType\":\"NONE\"", "\"blockingType\":\"none\""),
        good.replace("{\"why\":[\"startup\",1]}", "null"),
        good.replace("\"2.1.0\"", "\"2.2.0\""),
        good.replace("\"actions\":[", "\"actions\":{")
            .replace("}]}", "}}}"),
    ];
    for text in &bad {
        assert_ne!(text, &good);
        assert!(
            InstantActions::from_json(text.as_bytes()).is_err(),
            "accepted: {text}"
        );
    }
    // fields a version does not define are ignored (the schemas allow them)
    let extra = good.replace(
        "\"headerId\":42",
        "\"headerId\":42,\"vendorField\":{\"a\":1}",
    );
    assert!(InstantActions::from_json(extra.as_bytes()).is_ok());
    // bytes that are not UTF-8, cut messages: errors, never a panic
    for cut in 0..good.len() {
        let _ = InstantActions::from_json(&good.as_bytes()[..cut]);
        let _ = Connection::from_json(&good.as_bytes()[..cut]);
    }
    assert!(InstantActions::from_json(&[0xff, 0xfe, b'{']).is_err());
}

#[test]
fn every_official_schema_loads_and_the_examples_validate() {
    for version in Version::ALL {
        let mut kinds = vec![
            "connection",
            "factsheet",
            "instantActions",
            "order",
            "state",
            "visualization",
        ];
        if version == Version::V3_0 {
            kinds.extend(["responses", "zoneSet"]);
        }
        for kind in kinds {
            validator(version, kind);
        }
    }
    for (file, version, kind) in [
        ("state_example.json", Version::V2_1, "state"),
        ("order_example.json", Version::V2_1, "order"),
        ("state_example_v3.json", Version::V3_0, "state"),
        ("order_example_v3.json", Version::V3_0, "order"),
    ] {
        let json = std::fs::read(support::shared().join(file)).unwrap();
        assert_valid(version, kind, &json);
    }
}

fn sheet(version: Version) -> vda5050::Factsheet {
    vda5050::Factsheet {
        header: header(version, 1),
        series_name: "Carrier 600".into(),
        kinematics: Some("DIFF".into()),
        class: "CARRIER".into(),
        max_load_kg: 600.0,
        localization_types: vec!["NATURAL".into()],
        navigation_types: vec![if version == Version::V3_0 {
            "FREELY_NAVIGATING".into()
        } else {
            "AUTONOMOUS".into()
        }],
        length: 1.2,
        width: 0.8,
        height_max: 0.35,
        speed_max: 1.5,
        acceleration_max: 0.5,
        deceleration_max: 0.8,
        actions: vec!["pick".into(), "drop".into(), "startPause".into()],
    }
}

#[test]
fn factsheets_validate_in_every_version_and_give_the_footprint() {
    for version in Version::ALL {
        let s = sheet(version);
        let json = s.to_json().unwrap();
        assert_valid(version, "factsheet", &json);
        let read = vda5050::Factsheet::from_json(&json).unwrap();
        assert_eq!(read, s, "{version}");
        let f = read.footprint();
        assert_eq!(
            (f.front, f.rear, f.left, f.right, f.height),
            (0.6, 0.6, 0.4, 0.4, 0.35)
        );
    }
}

#[test]
fn factsheets_without_a_size_are_refused() {
    for version in Version::ALL {
        let good: serde_json::Value =
            serde_json::from_slice(&sheet(version).to_json().unwrap()).unwrap();
        for (section, key, value) in [
            ("physicalParameters", "length", serde_json::json!(0.0)),
            ("physicalParameters", "width", serde_json::json!(-1.0)),
            ("physicalParameters", "width", serde_json::json!("wide")),
            ("typeSpecification", "seriesName", serde_json::json!(7)),
        ] {
            let mut bad = good.clone();
            bad[section][key] = value;
            assert!(
                vda5050::Factsheet::from_json(bad.to_string().as_bytes()).is_err(),
                "{version}: {section}.{key}"
            );
        }
        let mut bad = good.clone();
        bad.as_object_mut().unwrap().remove("physicalParameters");
        assert!(vda5050::Factsheet::from_json(bad.to_string().as_bytes()).is_err());
    }
}
