//! The UDP request listener: one datagram, one request, never a reply
//! (dispatcher-core.md §2.2). Datagrams up to 65507 bytes, UTF-8 JSON or BSON
//! (detected by its length prefix) are accepted (quirk Q5 fixed).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use dispatcher_dispatch::{escape, Dispatcher, Route, Transport};
use dispatcher_protocol::bson::looks_like_document;
use dispatcher_protocol::Encoding;

use crate::forward::{Forwarded, Forwarder, Outgoing};
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// The largest IPv4 UDP payload.
pub const MAX_DATAGRAM_BYTES: usize = 65_507;

/// Grid mode: datagrams for regions served elsewhere go to their owner over
/// HTTP (forward.rs), at the Dispatcher path `http_path`.
pub struct UdpForward {
    pub forwarder: Arc<Forwarder>,
    pub http_path: String,
}

pub async fn serve(socket: Arc<UdpSocket>, dispatcher: Dispatcher, forward: Option<UdpForward>, mut shutdown: watch::Receiver<bool>) {
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
        match &forward {
            None => dispatcher.handle_datagram(&buf[..len], from.ip()),
            Some(forward) => routed(&dispatcher, forward, &buf[..len], from),
        }
    }
}

/// One datagram in grid mode: routed like an HTTP request; one for a region
/// served elsewhere is forwarded as a UDP request (the owner queues it and
/// sends no reply, as for any datagram: dispatcher-core.md §2.2); failures
/// are logged here, as the pipeline logs a local datagram's.
fn routed(dispatcher: &Dispatcher, forward: &UdpForward, data: &[u8], from: SocketAddr) {
    let encoding = if looks_like_document(data) { Encoding::Bson } else { Encoding::Json };
    let request = match dispatcher.decode(data, encoding) {
        Ok(request) => request,
        Err(failure) => {
            tracing::info!(%from, message = %escape(&failure.message), "UDP request failed");
            return;
        }
    };
    let route = dispatcher.route(&request, &Transport::Udp);
    if let Route::Refused { message } = &route {
        tracing::info!(%from, message = %escape(message), "UDP request failed");
        return;
    }
    if route == Route::Local {
        let _ = dispatcher.handle_received(request, data.len(), from.ip(), Transport::Udp);
        return;
    }
    let (dispatcher, forwarder, path) = (dispatcher.clone(), forward.forwarder.clone(), forward.http_path.clone());
    let body = Bytes::copy_from_slice(data);
    let len = data.len();
    tokio::spawn(async move {
        let out = Outgoing {
            route,
            body,
            encoding,
            path: &path,
            hops: 0,
            source: from.ip(),
            udp: true,
        };
        match forwarder.forward(out).await {
            Forwarded::RunHere => {
                let _ = dispatcher.handle_received(request, len, from.ip(), Transport::Udp);
            }
            Forwarded::Reply(relayed) => {
                if let Some(failure) = relayed.failure {
                    tracing::info!(%from, message = %escape(&failure), "forwarded UDP request failed");
                } else if relayed.status != hyper::StatusCode::OK {
                    tracing::info!(%from, status = %relayed.status, "forwarded UDP request refused by the owner");
                }
            }
        }
    });
}
