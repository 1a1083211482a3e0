//! `rcs-server`: the AGV cloud control platform server.
//!
//! The tokio server (access, registration, heartbeat, status, persistence, HTTP API) is built by
//! the rcs-server issue. Until then this binary only reports the protocol it will speak and exits
//! with status 2 so that no script mistakes it for a running server.

fn main() {
    eprintln!(
        "rcs-server {}: protocol version {} is implemented in the `protocol` crate; \
         the server itself is not implemented yet (see README.md, status)",
        env!("CARGO_PKG_VERSION"),
        protocol::PROTOCOL_VERSION
    );
    std::process::exit(2);
}
