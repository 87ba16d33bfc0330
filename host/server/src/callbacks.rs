//! Callback datagrams leave through one shared UDP socket (quirk Q23 fixed:
//! no socket per datagram, UTF-8 text).

use std::net::{SocketAddr, UdpSocket};

use dispatcher_dispatch::CallbackSink;

/// Larger datagrams are still sent but logged: some clients read 2000 bytes.
const SAFE_DATAGRAM_BYTES: usize = 1400;

pub struct UdpCallbackSink {
    v4: UdpSocket,
    v6: Option<UdpSocket>,
}

impl UdpCallbackSink {
    pub fn bind() -> std::io::Result<Self> {
        let v4 = UdpSocket::bind("0.0.0.0:0")?;
        v4.set_nonblocking(true)?;
        let v6 = UdpSocket::bind("[::]:0").ok();
        if let Some(s) = &v6 {
            s.set_nonblocking(true)?;
        }
        Ok(UdpCallbackSink { v4, v6 })
    }
}

impl CallbackSink for UdpCallbackSink {
    fn send(&self, to: SocketAddr, datagram: &[u8]) {
        if datagram.len() > SAFE_DATAGRAM_BYTES {
            tracing::warn!(%to, bytes = datagram.len(), "callback datagram larger than {SAFE_DATAGRAM_BYTES} bytes");
        }
        let socket = match (to, &self.v6) {
            (SocketAddr::V6(_), Some(v6)) => v6,
            _ => &self.v4,
        };
        if let Err(e) = socket.send_to(datagram, to) {
            tracing::debug!(%to, error = %e, "callback not sent");
        }
    }
}
