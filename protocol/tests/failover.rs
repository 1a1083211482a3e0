//! Failover (docs/protocol.md 4.4): the RCS address list in the configuration push and the
//! standby's `Close` (`NotActive`) through both session state machines, the rules of both
//! encodings, and property tests of their round trips.

use arbitrary::Unstructured;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use protocol::address::{MAX_RCS_ADDRESSES, RcsAddress};
use protocol::arb::Gen;
use protocol::error::{DecodeError, EncodeError};
use protocol::frame::{self, Flags, FrameDecoder, Header};
use protocol::message::*;
use protocol::session::{
    AgvEvent, AgvSession, CloseCause, NoCrypto, RcsEvent, RcsPolicy, RcsSession, SessionConfig,
    not_active_frame,
};
use protocol::types::*;

const AGV: u32 = 1001;
const T0: u64 = 1_764_000_000_000;

fn addr(text: &str) -> RcsAddress {
    text.parse().expect("a well-formed address")
}

fn config_push(addresses: &[RcsAddress]) -> ConfigPush {
    let mut push = ConfigPush {
        config_version: 1,
        status_period_ms: 100,
        heartbeat_period_ms: 1000,
        link_timeout_ms: 3000,
        operation_report_period_s: 0,
        alarms: AlarmParams {
            battery_low_pct: 20.0,
            battery_critical_pct: 10.0,
            min_localisation_quality: 50,
            max_path_deviation: 0.2,
        },
        max_linear_speed: 1.5,
        max_angular_speed: 1.0,
        extensions: vec![Extension {
            key: 0x8001,
            value: vec![1, 2, 3],
        }],
    };
    push.set_rcs_addresses(addresses).expect("few addresses");
    push
}

fn registration() -> RegisterRequest {
    RegisterRequest {
        agv_type: AgvType::Jacking,
        vendor: "Acme".into(),
        model: "J1".into(),
        serial: "S1".into(),
        firmware: "1.0".into(),
        footprint: Footprint {
            front: 0.5,
            rear: 0.5,
            left: 0.4,
            right: 0.4,
            height: 0.3,
        },
        speeds: SpeedLimits {
            forward: 1.5,
            reverse: 0.5,
            lateral: 0.0,
            angular: 1.0,
            acceleration: 0.5,
            deceleration: 1.0,
        },
        load_capacity_kg: 500.0,
        navigation_modes: vec![NavigationMode::Slam],
        maps: vec![],
        actuators: vec![],
        battery: BatteryInfo {
            capacity_wh: 1000.0,
            nominal_voltage: 48.0,
        },
        extensions: vec![],
    }
}

/// An AGV session and an RCS session joined by a lossless, instant link.
struct Pair {
    agv: AgvSession<NoCrypto>,
    rcs: RcsSession<NoCrypto>,
    agv_events: Vec<AgvEvent>,
    rcs_events: Vec<RcsEvent>,
}

impl Pair {
    fn new(push: ConfigPush) -> Self {
        let agv = AgvSession::new(
            SessionConfig::default(),
            AGV,
            AccessMode::Normal,
            SecureProfile::Guide,
            None,
            registration(),
            T0,
        );
        let rcs = RcsSession::new(
            SessionConfig::default(),
            RcsPolicy::default(),
            NoCrypto,
            push,
            7,
            T0,
        );
        Self {
            agv,
            rcs,
            agv_events: Vec::new(),
            rcs_events: Vec::new(),
        }
    }

    /// Moves frames both ways and answers registration until nothing moves.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(b) = self.agv.poll_transmit() {
                self.rcs.handle_input(T0, &b);
                moved = true;
            }
            while let Some(e) = self.rcs.poll_event() {
                if matches!(e, RcsEvent::RegistrationRequested(_)) {
                    self.rcs.accept_registration(T0, ResultCode::Ok).unwrap();
                }
                self.rcs_events.push(e);
            }
            while let Some(b) = self.rcs.poll_transmit() {
                self.agv.handle_input(T0, &b);
                moved = true;
            }
            while let Some(e) = self.agv.poll_event() {
                self.agv_events.push(e);
            }
            if !moved {
                return;
            }
        }
    }
}

#[test]
fn the_agv_session_surfaces_the_pushed_address_list() {
    let list = vec![addr("10.0.1.11:7700"), addr("[fd00::11]:7700")];
    let mut p = Pair::new(config_push(&list));
    p.agv.connect(T0).unwrap();
    p.pump();
    assert!(p.agv.is_established() && p.rcs.is_established());
    assert_eq!(p.agv.rcs_addresses(), &list[..]);
    let at = p
        .agv_events
        .iter()
        .position(|e| matches!(e, AgvEvent::Configured(_)))
        .expect("configured");
    assert_eq!(p.agv_events[at + 1], AgvEvent::RcsAddresses(list.clone()));
    let AgvEvent::Configured(push) = &p.agv_events[at] else {
        unreachable!()
    };
    assert_eq!(push.rcs_addresses().unwrap(), list);
    // the vendor extension is untouched
    assert!(push.extensions.iter().any(|e| e.key == 0x8001));
}

#[test]
fn a_push_without_addresses_leaves_the_list_empty_and_says_nothing() {
    let mut p = Pair::new(config_push(&[]));
    p.agv.connect(T0).unwrap();
    p.pump();
    assert!(p.agv.is_established());
    assert!(p.agv.rcs_addresses().is_empty());
    assert!(
        !p.agv_events
            .iter()
            .any(|e| matches!(e, AgvEvent::RcsAddresses(_)))
    );
}

#[test]
fn a_standby_session_answers_access_with_not_active() {
    let active = addr("10.0.1.12:7700");
    let mut p = Pair::new(config_push(&[]));
    // the server decides at accept time, before any input
    p.rcs.refuse_not_active(T0, Some(&active));
    assert!(!p.rcs.is_closed(), "it waits for the access request");
    p.agv.connect(T0).unwrap();
    p.pump();
    assert!(p.rcs.is_closed() && p.agv.is_closed());
    assert_eq!(
        p.agv_events,
        vec![
            AgvEvent::Redirected {
                active: Some(active.clone())
            },
            AgvEvent::Closed(CloseCause::Peer(CloseReason::NotActive)),
        ]
    );
    assert_eq!(p.agv.redirect(), Some(&active));
    assert_eq!(
        p.rcs_events,
        vec![RcsEvent::Closed(CloseCause::Local(CloseReason::NotActive))],
        "no access granted, nothing registered"
    );
}

#[test]
fn a_standby_that_knows_no_active_instance_says_so() {
    let mut p = Pair::new(config_push(&[]));
    p.rcs.refuse_not_active(T0, None);
    p.agv.connect(T0).unwrap();
    p.pump();
    assert_eq!(p.agv_events[0], AgvEvent::Redirected { active: None });
    assert_eq!(p.agv.redirect(), None);
    assert!(p.agv.is_closed());
}

#[test]
fn an_instance_that_stops_being_active_redirects_its_sessions() {
    let mut p = Pair::new(config_push(&[addr("10.0.1.11:7700")]));
    p.agv.connect(T0).unwrap();
    p.pump();
    assert!(p.agv.is_established());
    let next = addr("rcs-2.site.example:7700");
    p.rcs.refuse_not_active(T0, Some(&next));
    assert!(p.rcs.is_closed(), "the close is sent at once");
    p.pump();
    assert!(p.agv.is_closed());
    assert_eq!(p.agv.redirect(), Some(&next));
    assert!(
        p.agv_events
            .contains(&AgvEvent::Closed(CloseCause::Peer(CloseReason::NotActive)))
    );
    // a closed session ignores a second call
    p.rcs.refuse_not_active(T0, None);
    assert!(p.rcs.poll_transmit().is_none());
}

#[test]
fn the_free_standing_frame_redirects_an_agv_awaiting_access() {
    let mut agv = AgvSession::<NoCrypto>::new(
        SessionConfig::default(),
        AGV,
        AccessMode::Normal,
        SecureProfile::Guide,
        None,
        registration(),
        T0,
    );
    agv.connect(T0).unwrap();
    // the standby reads the access request's header for the AGV id
    let request = agv.poll_transmit().unwrap();
    let mut buf = BytesMut::from(&request[..]);
    let first = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
    let active = addr("[fd00::12]:7700");
    let frame = not_active_frame(first.header.agv_id, T0 + 1, Some(&active)).unwrap();
    agv.handle_input(T0 + 1, &frame);
    assert_eq!(
        agv.poll_event(),
        Some(AgvEvent::Redirected {
            active: Some(active.clone())
        })
    );
    assert_eq!(
        agv.poll_event(),
        Some(AgvEvent::Closed(CloseCause::Peer(CloseReason::NotActive)))
    );
    assert_eq!(agv.redirect(), Some(&active));
    // the frame itself: Close, sequence number 1, the AGV's id
    let mut buf = BytesMut::from(&frame[..]);
    let f = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
    assert_eq!(
        (f.header.message_type, f.header.seq, f.header.agv_id),
        (MessageType::CLOSE, 1, AGV)
    );
    assert_eq!(
        f.message().unwrap(),
        Message::Close(Close::not_active(Some(&active)))
    );
}

#[test]
fn an_agv_drops_a_not_active_close_for_another_agv() {
    let mut agv = AgvSession::<NoCrypto>::new(
        SessionConfig::default(),
        AGV,
        AccessMode::Normal,
        SecureProfile::Guide,
        None,
        registration(),
        T0,
    );
    agv.connect(T0).unwrap();
    let frame = not_active_frame(AGV + 1, T0, None).unwrap();
    agv.handle_input(T0, &frame);
    assert!(!agv.is_closed());
    assert!(agv.poll_event().is_none());
}

fn body(message: &Message) -> Result<BytesMut, EncodeError> {
    let mut b = BytesMut::new();
    message.encode_body(&mut b).map(|()| b)
}

#[test]
fn a_not_active_close_holds_an_address_or_nothing() {
    let bad = Close {
        reason: CloseReason::NotActive,
        detail: "standby, go away".into(),
    };
    assert!(matches!(
        body(&bad.clone().into()),
        Err(EncodeError::InvalidValue { .. })
    ));
    let mut wire = body(&Close::not_active(None).into()).unwrap();
    assert_eq!(&wire[..], &[7, 0]);
    // the same bytes with a detail that is no address
    wire[1] = 3;
    wire.extend_from_slice(b"abc");
    assert!(matches!(
        Message::decode_body(MessageType::CLOSE, &wire),
        Err(DecodeError::InvalidValue { .. })
    ));
    // any other reason keeps a free detail, and names no active instance
    let other = Close {
        reason: CloseReason::Shutdown,
        detail: "10.0.0.1:7700".into(),
    };
    assert_eq!(other.active_address(), None);
    assert!(body(&other.into()).is_ok());
}

#[test]
fn a_malformed_address_list_is_refused_both_ways() {
    let mut push = config_push(&[addr("10.0.1.11:7700")]);
    let at = push
        .extensions
        .iter()
        .position(|e| e.key == Extension::RCS_ADDRESSES)
        .unwrap();
    // "10.0.1.11:7700" -> "10.0.1.11:0700"
    let value = &mut push.extensions[at].value;
    let colon = value.iter().rposition(|b| *b == b':').unwrap();
    value[colon + 1] = b'0';
    assert!(push.rcs_addresses().is_err());
    assert!(matches!(
        body(&push.clone().into()),
        Err(EncodeError::InvalidValue { .. })
    ));
    // twice the extension
    let mut twice = config_push(&[addr("10.0.1.11:7700")]);
    let ext = twice.extensions[at].clone();
    twice.extensions.push(ext);
    assert!(body(&twice.into()).is_err());
    // too many
    let many = vec![addr("10.0.1.11:7700"); MAX_RCS_ADDRESSES + 1];
    assert!(config_push(&[]).set_rcs_addresses(&many).is_err());
    // a receiver refuses what a sender would not send
    let good = body(&config_push(&[addr("10.0.1.11:7700")]).into()).unwrap();
    let digit = good.iter().rposition(|b| *b == b'7').unwrap();
    let mut broken = good.clone();
    broken[digit] = b'x';
    assert!(matches!(
        Message::decode_body(MessageType::CONFIG_PUSH, &broken),
        Err(DecodeError::InvalidValue { .. })
    ));
    // an empty list is allowed on the wire (it changes nothing) and removing works
    let mut push = config_push(&[addr("10.0.1.11:7700")]);
    push.set_rcs_addresses(&[]).unwrap();
    assert!(
        push.extensions
            .iter()
            .all(|e| e.key != Extension::RCS_ADDRESSES)
    );
    push.extensions.push(Extension {
        key: Extension::RCS_ADDRESSES,
        value: vec![0, 0],
    });
    let wire = body(&push.clone().into()).unwrap();
    assert_eq!(
        Message::decode_body(MessageType::CONFIG_PUSH, &wire).unwrap(),
        Message::ConfigPush(push.clone())
    );
    assert!(push.rcs_addresses().unwrap().is_empty());
}

fn frame_of(message: &Message, flags: Flags) -> Bytes {
    let mut out = BytesMut::new();
    let header = Header::new(message.message_type(), flags, 3, AGV, T0);
    frame::encode_message(&mut out, header, message, frame::DEFAULT_MAX_FRAME_LEN).unwrap();
    out.freeze()
}

fn decoded(wire: &Bytes) -> Message {
    let mut buf = BytesMut::from(&wire[..]);
    FrameDecoder::default()
        .decode(&mut buf)
        .unwrap()
        .unwrap()
        .message()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn address_lists_round_trip_through_a_config_push(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut u = Unstructured::new(&bytes);
        let list: Vec<RcsAddress> = Gen::generate(&mut u).unwrap();
        let push = config_push(&list);
        let wire = frame_of(&push.clone().into(), Flags::ACK_REQUESTED);
        let Message::ConfigPush(back) = decoded(&wire) else { panic!("a config push") };
        prop_assert_eq!(back.rcs_addresses().unwrap(), list);
        prop_assert_eq!(&back, &push);
        prop_assert_eq!(frame_of(&back.into(), Flags::ACK_REQUESTED), wire);
    }

    #[test]
    fn not_active_closes_round_trip(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        named: bool,
    ) {
        let mut u = Unstructured::new(&bytes);
        let active = named.then(|| RcsAddress::generate(&mut u).unwrap());
        let close = Close::not_active(active.as_ref());
        let wire = frame_of(&close.clone().into(), Flags::NONE);
        let Message::Close(back) = decoded(&wire) else { panic!("a close") };
        prop_assert_eq!(back.active_address(), active);
        prop_assert_eq!(back, close);
    }

    #[test]
    fn any_text_parses_or_is_refused_without_panic(text in ".{0,300}") {
        if let Ok(a) = RcsAddress::parse(&text) {
            prop_assert_eq!(a.as_str(), text.as_str());
            prop_assert!(a.port() > 0);
            prop_assert!(text.len() <= 255);
            prop_assert_eq!(RcsAddress::parse(a.as_str()), Ok(a.clone()));
        }
    }

    #[test]
    fn numeric_hosts_are_accepted_exactly_when_they_are_ip_addresses(
        v4 in "[0-9]{1,4}(\\.[0-9]{1,3}){2,4}",
        v6 in "[0-9a-f:.]{2,24}",
        port in 0u32..70_000,
    ) {
        let port_ok = (1..=65535).contains(&port);
        let ok = RcsAddress::parse(&format!("{v4}:{port}")).is_ok();
        prop_assert_eq!(ok, port_ok && v4.parse::<std::net::Ipv4Addr>().is_ok(), "{}", v4);
        let ok = RcsAddress::parse(&format!("[{v6}]:{port}")).is_ok();
        prop_assert_eq!(ok, port_ok && v6.parse::<std::net::Ipv6Addr>().is_ok(), "{}", v6);
    }
}
