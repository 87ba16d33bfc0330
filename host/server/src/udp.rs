//! The UDP request listener: one datagram, one request, never a reply
//! (dispatcher-core.md §2.2). Datagrams up to 65507 bytes, UTF-8 JSON or BSON
//! (detected by its length prefix) are accepted (quirk Q5 fixed).

use std::net::SocketAddr;
use std::sync::Arc;

use dispatcher_dispatch::Dispatcher;
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// The largest IPv4 UDP payload.
pub const MAX_DATAGRAM_BYTES: usize = 65_507;

pub async fn serve(socket: Arc<UdpSocket>, dispatcher: Dispatcher, mut shutdown: watch::Receiver<bool>) {
    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    loop {
        let (len, from): (usize, SocketAddr) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    // ICMP errors from earlier sends surface here on some systems.
                    tracing::debug!(error = %e, "UDP receive error");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        if !dispatcher.ip_allowed(from.ip()) {
            tracing::info!(%from, "UDP datagram from a filtered address dropped");
            continue;
        }
        if len > MAX_DATAGRAM_BYTES {
            tracing::info!(%from, "oversized UDP datagram dropped");
            continue;
        }
        dispatcher.handle_datagram(&buf[..len], from.ip());
    }
}
