//! Wire size against the VDA 5050 baseline: our status frame carrying what
//! `state_example.json` carries is at most 12 % of that JSON compacted, and the motion command
//! carrying what `order_example.json` carries is far below the order's size. Sizes are
//! deterministic, so this is a test, not a benchmark.

#[path = "support/samples.rs"]
mod samples;
#[path = "../benches/vda5050/mod.rs"]
mod vda5050;

use bytes::BytesMut;
use protocol::frame::{self, Flags, Header};
use protocol::message::Message;

fn frame_len(message: Message) -> usize {
    let header = Header::new(
        message.message_type(),
        Flags::NONE,
        1,
        samples::AGV,
        samples::T0,
    );
    let mut wire = BytesMut::new();
    frame::encode_message(&mut wire, header, &message, frame::DEFAULT_MAX_FRAME_LEN).unwrap();
    wire.len()
}

#[test]
fn baseline_structs_parse_the_examples() {
    let state: vda5050::State = serde_json::from_str(vda5050::STATE_JSON).unwrap();
    assert_eq!(state.node_states.len(), 3);
    assert_eq!(state.errors.len(), 1);
    let order: vda5050::Order = serde_json::from_str(vda5050::ORDER_JSON).unwrap();
    assert_eq!(order.nodes.len(), 4);
    assert_eq!(order.edges.len(), 3);
}

#[test]
fn status_frame_is_at_most_12_percent_of_vda_state_json() {
    let ours = frame_len(samples::status_report().into());
    let json = vda5050::compact(vda5050::STATE_JSON).len();
    assert!(
        ours * 100 <= json * 12,
        "status frame {ours} B is more than 12 % of {json} B"
    );
}

#[test]
fn motion_frame_is_much_smaller_than_vda_order_json() {
    let ours = frame_len(samples::motion_command().into());
    let json = vda5050::compact(vda5050::ORDER_JSON).len();
    assert!(
        ours * 100 <= json * 20,
        "motion frame {ours} B is more than 20 % of {json} B"
    );
}
