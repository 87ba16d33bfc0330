//! One UDP datagram through the pipeline: what the UDP listener does with the
//! bytes it received, kept here (no I/O) so that the fuzz target
//! `fuzz/fuzz_targets/udp_datagram.rs` runs exactly the listener's code.

use std::net::IpAddr;

use dispatcher_protocol::bson::looks_like_document;
use dispatcher_protocol::Encoding;

use crate::pipeline::Dispatcher;
use crate::transport::Transport;

impl Dispatcher {
    /// Handle one datagram's payload from `source`: BSON when it looks like
    /// one BSON document (its length prefix matches), JSON otherwise; always
    /// asynchronous, never answered (dispatcher-core.md §2.2).
    pub fn handle_datagram(&self, data: &[u8], source: IpAddr) {
        let encoding = if looks_like_document(data) { Encoding::Bson } else { Encoding::Json };
        let no_reply = self.handle(data, encoding, source, Transport::Udp);
        debug_assert!(no_reply.is_none(), "UDP requests are never answered");
    }
}
