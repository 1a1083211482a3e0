//! `agv-sim`: a simulated AGV fleet, load generator and conformance suite.
//!
//! The simulator is built by the agv-sim issue. Until then this binary only reports the protocol
//! it will speak and exits with status 2.

fn main() {
    eprintln!(
        "agv-sim {}: protocol version {}; the simulator is not implemented yet (see README.md, status)",
        env!("CARGO_PKG_VERSION"),
        protocol::PROTOCOL_VERSION
    );
    std::process::exit(2);
}
