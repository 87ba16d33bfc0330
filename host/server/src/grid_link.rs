//! The grid link: forwarded requests between two hosts of a grid on one
//! connection, many at a time (docs/grid.md, "Request flow").
//!
//! A forwarding host opens a link to an owner with an HTTP/1.1 request to
//! the owner's Dispatcher path carrying `Upgrade: dispatcher-grid-link/1`
//! and the grid secret ([`SECRET_HEADER`]); the owner checks the secret and
//! its IP filter before it answers `101 Switching Protocols` (`http.rs`,
//! which runs each request a link brings through the HTTP request path).
//! From then on both sides send frames, little-endian:
//!
//! ```text
//! frame   = len:u32 kind:u8 id:u64 payload      (len counts kind, id and payload)
//! request = hops:u8 flags:u8 addr_len:u8 addr path_len:u16 path body
//!           flags: 1 = arrived as a UDP datagram, 2 = BSON (else JSON)
//! reply   = status:u16 type_len:u16 content_type body
//! goaway  = (no payload; id = the last request id the owner read)
//! ```
//!
//! Why: over one HTTP/1.1 connection per request in flight, every forwarded
//! request cost the forwarding host a write and a read on the link and the
//! owner a read and a write. Here a writer sends every frame queued since its
//! last write in one write, and a reader takes every frame that arrived in
//! one read, so under load several requests share each system call on both
//! hosts; and neither side parses HTTP per request.
//!
//! What a request becomes when a link ends, the rule the forwarder's retry
//! rests on: a request whose frame the forwarding host may have written
//! ("possibly written": it was in a write that started) and that got no reply
//! is *lost* (the owner may have applied it); one that was never written is
//! *not run* and may be sent again. An owner that shuts down stops reading,
//! finishes what it read, answers it, then says `goaway` with the last id it
//! read: every later id is *not run*.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Response, StatusCode};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use dispatcher_protocol::Encoding;

/// The grid's shared secret, on every forwarded HTTP request and on a link's
/// handshake.
pub const SECRET_HEADER: &str = "x-dispatcher-grid-secret";

/// Compare secrets without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Upgrade` token of a link.
pub const PROTOCOL: &str = "dispatcher-grid-link/1";

const KIND_REQUEST: u8 = 1;
const KIND_REPLY: u8 = 2;
const KIND_GOAWAY: u8 = 3;
const FLAG_UDP: u8 = 1;
const FLAG_BSON: u8 = 2;
/// `kind` and `id`.
const FRAME_HEAD: usize = 1 + 8;
/// Room for a request's fields besides its body (addresses, path).
const REQUEST_FIELDS_MAX: usize = 3 + 16 + 2 + 4096;
/// Requests one link runs at once on the owner; beyond, it stops reading.
const MAX_IN_FLIGHT: usize = 1024;
/// One write gathers at most this much.
const WRITE_BATCH: usize = 256 * 1024;
/// A link's read buffer, and the most it keeps once drained: a large frame
/// (a big asset's reply) does not pin its size for the link's life.
const READ_BUFFER: usize = 64 * 1024;
const KEEP_READ_BUFFER: usize = 1024 * 1024;

/// One request on a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRequest {
    pub hops: u32,
    pub udp: bool,
    pub encoding: Encoding,
    pub source: Option<IpAddr>,
    pub path: String,
    pub body: Bytes,
}

/// A malformed frame: the link is closed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("grid link frame of {0} bytes exceeds the limit of {1}")]
    TooLarge(usize, usize),
    #[error("grid link frame is malformed: {0}")]
    Malformed(&'static str),
}

fn put_head(buf: &mut BytesMut, kind: u8, id: u64, payload_len: usize) {
    buf.reserve(4 + FRAME_HEAD + payload_len);
    buf.put_u32_le((FRAME_HEAD + payload_len) as u32);
    buf.put_u8(kind);
    buf.put_u64_le(id);
}

/// A request frame (the caller keeps path and addresses within
/// [`REQUEST_FIELDS_MAX`]).
pub fn encode_request(id: u64, r: &LinkRequest) -> Bytes {
    let path = &r.path.as_bytes()[..r.path.len().min(4096)];
    let addr: Vec<u8> = match r.source {
        None => Vec::new(),
        Some(IpAddr::V4(a)) => a.octets().to_vec(),
        Some(IpAddr::V6(a)) => a.octets().to_vec(),
    };
    let mut buf = BytesMut::new();
    put_head(&mut buf, KIND_REQUEST, id, 3 + addr.len() + 2 + path.len() + r.body.len());
    buf.put_u8(r.hops.min(255) as u8);
    let mut flags = 0;
    if r.udp {
        flags |= FLAG_UDP;
    }
    if r.encoding == Encoding::Bson {
        flags |= FLAG_BSON;
    }
    buf.put_u8(flags);
    buf.put_u8(addr.len() as u8);
    buf.put_slice(&addr);
    buf.put_u16_le(path.len() as u16);
    buf.put_slice(path);
    buf.put_slice(&r.body);
    buf.freeze()
}

/// A reply frame.
pub fn encode_reply(id: u64, status: StatusCode, content_type: &[u8], body: &[u8]) -> Bytes {
    let content_type = &content_type[..content_type.len().min(u16::MAX as usize)];
    let mut buf = BytesMut::new();
    put_head(&mut buf, KIND_REPLY, id, 4 + content_type.len() + body.len());
    buf.put_u16_le(status.as_u16());
    buf.put_u16_le(content_type.len() as u16);
    buf.put_slice(content_type);
    buf.put_slice(body);
    buf.freeze()
}

fn encode_goaway(last: u64) -> Bytes {
    let mut buf = BytesMut::new();
    put_head(&mut buf, KIND_GOAWAY, last, 0);
    buf.freeze()
}

/// One frame read off a link.
#[derive(Debug)]
enum Frame {
    Request(u64, LinkRequest),
    Reply(u64, Relay),
    GoAway(u64),
}

/// An owner's reply as the link carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relay {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// Take one whole frame off the front of `buf`, if there is one. `max` is
/// the largest frame accepted.
fn next_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Frame>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > max {
        return Err(FrameError::TooLarge(len, max));
    }
    if len < FRAME_HEAD {
        return Err(FrameError::Malformed("shorter than its head"));
    }
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    let mut frame = buf.split_to(len).freeze();
    if len > KEEP_READ_BUFFER {
        // The buffer grew for this frame: what follows it moves to a buffer
        // of the usual size, so the large allocation goes with the frame
        // (a later reserve would otherwise take it back).
        let mut rest = BytesMut::with_capacity(READ_BUFFER.max(buf.len()));
        rest.extend_from_slice(buf);
        *buf = rest;
    }
    let kind = frame.get_u8();
    let id = frame.get_u64_le();
    match kind {
        KIND_REQUEST => parse_request(frame).map(|r| Some(Frame::Request(id, r))),
        KIND_REPLY => parse_reply(frame).map(|r| Some(Frame::Reply(id, r))),
        KIND_GOAWAY => Ok(Some(Frame::GoAway(id))),
        _ => Err(FrameError::Malformed("unknown kind")),
    }
}

fn parse_request(mut f: Bytes) -> Result<LinkRequest, FrameError> {
    if f.remaining() < 3 {
        return Err(FrameError::Malformed("request fields cut short"));
    }
    let hops = u32::from(f.get_u8());
    let flags = f.get_u8();
    let addr_len = f.get_u8() as usize;
    if f.remaining() < addr_len + 2 {
        return Err(FrameError::Malformed("request address cut short"));
    }
    let source = match addr_len {
        0 => None,
        4 => {
            let mut a = [0u8; 4];
            f.copy_to_slice(&mut a);
            Some(IpAddr::from(a))
        }
        16 => {
            let mut a = [0u8; 16];
            f.copy_to_slice(&mut a);
            Some(IpAddr::from(a))
        }
        _ => return Err(FrameError::Malformed("request address of a bad length")),
    };
    let path_len = f.get_u16_le() as usize;
    if f.remaining() < path_len {
        return Err(FrameError::Malformed("request path cut short"));
    }
    let path = String::from_utf8(f.split_to(path_len).to_vec()).map_err(|_| FrameError::Malformed("request path is not UTF-8"))?;
    Ok(LinkRequest {
        hops,
        udp: flags & FLAG_UDP != 0,
        encoding: if flags & FLAG_BSON != 0 { Encoding::Bson } else { Encoding::Json },
        source,
        path,
        body: f,
    })
}

fn parse_reply(mut f: Bytes) -> Result<Relay, FrameError> {
    if f.remaining() < 4 {
        return Err(FrameError::Malformed("reply fields cut short"));
    }
    let status = StatusCode::from_u16(f.get_u16_le()).map_err(|_| FrameError::Malformed("reply status"))?;
    let type_len = f.get_u16_le() as usize;
    if f.remaining() < type_len {
        return Err(FrameError::Malformed("reply content type cut short"));
    }
    let content_type = f.split_to(type_len);
    let content_type = if content_type.is_empty() {
        None
    } else {
        Some(HeaderValue::from_maybe_shared(content_type).map_err(|_| FrameError::Malformed("reply content type"))?)
    };
    Ok(Relay {
        status,
        content_type,
        body: f,
    })
}

/// Write every frame queued since the last write in one write, until the
/// queue closes or a write fails. `before_write` learns the last id of each
/// batch before it is written (the forwarding side's "possibly written").
async fn write_frames<W: AsyncWrite + Unpin>(
    mut out: W,
    mut frames: mpsc::UnboundedReceiver<(u64, Bytes)>,
    before_write: impl Fn(u64),
) -> std::io::Result<()> {
    // Small frames are copied into one buffer (it never grows past twice
    // the batch size); a large one is written as it is, after them.
    let mut batch = BytesMut::with_capacity(16 * 1024);
    while let Some((id, first)) = frames.recv().await {
        let mut last = id;
        let mut large = None;
        if first.len() >= WRITE_BATCH {
            large = Some(first);
        } else {
            batch.extend_from_slice(&first);
            while batch.len() < WRITE_BATCH {
                match frames.try_recv() {
                    Ok((id, more)) => {
                        last = id;
                        if more.len() >= WRITE_BATCH {
                            large = Some(more);
                            break;
                        }
                        batch.extend_from_slice(&more);
                    }
                    Err(_) => break,
                }
            }
        }
        before_write(last);
        if !batch.is_empty() {
            out.write_all(&batch).await?;
            batch.clear();
        }
        if let Some(large) = large {
            out.write_all(&large).await?;
        }
    }
    out.shutdown().await
}

// --- the owner's side ----------------------------------------------------------

/// Whether `headers` ask for a link.
pub fn is_link_request(headers: &HeaderMap) -> bool {
    headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(PROTOCOL))
}

/// The `101 Switching Protocols` that starts a link; the caller has checked
/// the secret and its IP filter, and serves the upgraded connection with
/// [`serve`].
pub fn switching_protocols() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut().insert(UPGRADE, HeaderValue::from_static(PROTOCOL));
    r.headers_mut().insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    r
}

/// What runs one request a link brought: the HTTP request path.
pub type Runner = Arc<dyn Fn(LinkRequest) -> Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>> + Send + Sync>;

/// Serve one link: run each request read (at most [`MAX_IN_FLIGHT`] at
/// once) as a forwarded HTTP request would run, and send its reply. On the
/// host's shutdown: read no more, finish and answer what was read, say
/// `goaway`, close.
pub async fn serve<S: AsyncRead + AsyncWrite + Send + 'static>(
    peer: SocketAddr,
    io: S,
    max_body_bytes: usize,
    mut shutdown: watch::Receiver<bool>,
    run: Runner,
) {
    let (mut input, output) = tokio::io::split(io);
    let (frames, queue) = mpsc::unbounded_channel::<(u64, Bytes)>();
    let writer = tokio::spawn(async move {
        if let Err(e) = write_frames(output, queue, |_| {}).await {
            tracing::debug!(%peer, error = %e, "grid link write failed");
        }
    });
    let max = FRAME_HEAD + REQUEST_FIELDS_MAX + max_body_bytes;
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    let mut last_read = 0u64;
    let mut running = tokio::task::JoinSet::new();
    'read: loop {
        loop {
            match next_frame(&mut buf, max) {
                Ok(Some(Frame::Request(id, request))) => {
                    last_read = id;
                    let Ok(permit) = in_flight.clone().acquire_owned().await else {
                        break 'read;
                    };
                    let (reply, frames) = (run(request), frames.clone());
                    running.spawn(async move {
                        let reply = reply.await;
                        let _ = frames.send((id, reply_frame(id, reply).await));
                        drop(permit);
                    });
                }
                Ok(Some(_)) => {
                    tracing::warn!(%peer, "grid link closed: the forwarding host sent a frame only an owner sends");
                    break 'read;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "grid link closed");
                    break 'read;
                }
            }
        }
        while running.try_join_next().is_some() {}
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            read = input.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            _ = shutdown.changed() => break,
        }
    }
    // What was read is answered, then the forwarding host learns where
    // this host stopped.
    while running.join_next().await.is_some() {}
    let _ = frames.send((last_read, encode_goaway(last_read)));
    drop(frames);
    let _ = writer.await;
}

async fn reply_frame(id: u64, response: Response<Full<Bytes>>) -> Bytes {
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    };
    let content_type = parts.headers.get(CONTENT_TYPE).map_or(&[][..], HeaderValue::as_bytes);
    encode_reply(id, parts.status, content_type, &body)
}

// --- the forwarding side -------------------------------------------------------

/// How a request sent on a link ended.
#[derive(Debug)]
pub enum Outcome {
    Reply(Relay),
    /// Never written, or after the owner's `goaway`: may be sent again.
    NotRun(String),
    /// Possibly written and no reply: the owner may have applied it.
    Lost(String),
}

/// Why a link could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// No connection, or not a grid host answering: nothing was sent.
    Unreachable(String),
    /// The owner answered but does not speak the link (an older host):
    /// use plain HTTP.
    NotSupported(String),
}

struct LinkState {
    pending: HashMap<u64, oneshot::Sender<Outcome>>,
    next_id: u64,
    /// Frames go to the writer in id order, under this lock.
    frames: Option<mpsc::UnboundedSender<(u64, Bytes)>>,
}

/// One open link to an owner.
pub struct Link {
    state: Mutex<LinkState>,
    /// The last id of a write that started.
    written_upto: AtomicU64,
    /// The owner said `goaway` with this id (`u64::MAX`: it did not).
    goaway: AtomicU64,
    open: AtomicBool,
}

impl Link {
    /// An open link with nothing sent, and the queue its writer takes
    /// frames from.
    fn new() -> (Arc<Link>, mpsc::UnboundedReceiver<(u64, Bytes)>) {
        let (frames, queue) = mpsc::unbounded_channel();
        let link = Arc::new(Link {
            state: Mutex::new(LinkState {
                pending: HashMap::new(),
                next_id: 0,
                frames: Some(frames),
            }),
            written_upto: AtomicU64::new(0),
            goaway: AtomicU64::new(u64::MAX),
            open: AtomicBool::new(true),
        });
        (link, queue)
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Send one request and wait for its outcome.
    pub async fn send(&self, request: &LinkRequest) -> Outcome {
        let (tx, rx) = oneshot::channel();
        {
            let mut s = self.state.lock();
            let Some(frames) = s.frames.clone() else {
                return Outcome::NotRun("the link is closed".into());
            };
            s.next_id += 1;
            let id = s.next_id;
            if frames.send((id, encode_request(id, request))).is_err() {
                return Outcome::NotRun("the link is closed".into());
            }
            s.pending.insert(id, tx);
        }
        rx.await
            .unwrap_or_else(|_| Outcome::Lost("the link ended during the request".into()))
    }

    /// End the link: every request waiting gets its outcome by the rule in
    /// the module's documentation.
    fn close(&self, why: &str) {
        self.open.store(false, Ordering::Release);
        let pending = {
            let mut s = self.state.lock();
            s.frames = None;
            std::mem::take(&mut s.pending)
        };
        let written = self.written_upto.load(Ordering::Acquire);
        let goaway = self.goaway.load(Ordering::Acquire);
        for (id, tx) in pending {
            let outcome = if id > goaway {
                Outcome::NotRun(format!("the owner stopped reading before it ({why})"))
            } else if id > written {
                Outcome::NotRun(format!("never written ({why})"))
            } else {
                Outcome::Lost(why.to_owned())
            };
            let _ = tx.send(outcome);
        }
    }

    fn answer(&self, id: u64, relay: Relay) {
        let waiting = self.state.lock().pending.remove(&id);
        if let Some(tx) = waiting {
            let _ = tx.send(Outcome::Reply(relay));
        }
    }
}

/// Open a link to `authority` (`host:port`), upgrading a request to `path`.
pub async fn open(
    authority: &str,
    path: &str,
    secret: &str,
    connect_timeout: Duration,
    max_reply_bytes: usize,
) -> Result<Arc<Link>, OpenError> {
    let stream = match tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(authority)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(OpenError::Unreachable(format!("cannot connect to {authority}: {e}"))),
        Err(_) => {
            return Err(OpenError::Unreachable(format!(
                "no connection to {authority} within {} s",
                connect_timeout.as_secs()
            )))
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut input, mut output) = stream.into_split();
    let handshake = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: Upgrade\r\nUpgrade: {PROTOCOL}\r\n{}: {secret}\r\nContent-Length: 0\r\n\r\n",
        SECRET_HEADER
    );
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    let answered = tokio::time::timeout(connect_timeout, async {
        output.write_all(handshake.as_bytes()).await?;
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok::<_, std::io::Error>(Some(end + 4));
            }
            if buf.len() > 16 * 1024 || input.read_buf(&mut buf).await? == 0 {
                return Ok(None);
            }
        }
    })
    .await;
    let head_end = match answered {
        Ok(Ok(Some(end))) => end,
        Ok(Ok(None)) => return Err(OpenError::Unreachable(format!("{authority} closed the connection during the link handshake"))),
        Ok(Err(e)) => return Err(OpenError::Unreachable(format!("link handshake with {authority}: {e}"))),
        Err(_) => return Err(OpenError::Unreachable(format!("no link handshake answer from {authority}"))),
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "101" {
        let first = head.lines().next().unwrap_or("").to_owned();
        return Err(OpenError::NotSupported(format!("{authority} answered the link request with {first}")));
    }
    buf.advance(head_end);
    let (link, queue) = Link::new();
    let writing = link.clone();
    tokio::spawn(async move {
        let marked = writing.clone();
        let result = write_frames(output, queue, move |last| marked.written_upto.store(last, Ordering::Release)).await;
        if let Err(e) = result {
            writing.close(&format!("writing to the owner: {e}"));
        }
    });
    let reading = link.clone();
    let max = FRAME_HEAD + 4 + u16::MAX as usize + max_reply_bytes;
    tokio::spawn(async move {
        let why = loop {
            match next_frame(&mut buf, max) {
                Ok(Some(Frame::Reply(id, relay))) => {
                    reading.answer(id, relay);
                    continue;
                }
                Ok(Some(Frame::GoAway(last))) => {
                    reading.goaway.store(last, Ordering::Release);
                    reading.open.store(false, Ordering::Release);
                    continue;
                }
                Ok(Some(Frame::Request(..))) => break "the owner sent a request frame".to_owned(),
                Ok(None) => {}
                Err(e) => break e.to_string(),
            }
            match input.read_buf(&mut buf).await {
                Ok(0) => break "the owner closed the link".to_owned(),
                Ok(_) => {}
                Err(e) => break format!("reading from the owner: {e}"),
            }
        };
        reading.close(&why);
    });
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> LinkRequest {
        LinkRequest {
            hops: 1,
            udp: true,
            encoding: Encoding::Bson,
            source: Some("10.1.2.3".parse().expect("address")),
            path: "/Dispatcher/RemoteControl".into(),
            body: Bytes::from_static(b"\x05\0\0\0\0"),
        }
    }

    #[test]
    fn frames_read_back_as_written_whole_or_in_pieces() {
        let v6 = LinkRequest {
            source: Some("::1".parse().expect("address")),
            udp: false,
            encoding: Encoding::Json,
            ..request()
        };
        let mut wire = BytesMut::new();
        wire.extend_from_slice(&encode_request(7, &request()));
        wire.extend_from_slice(&encode_request(8, &v6));
        wire.extend_from_slice(&encode_reply(7, StatusCode::OK, b"application/json", br#"{"_Success":1}"#));
        wire.extend_from_slice(&encode_goaway(8));
        let all = wire.clone().freeze();
        // Whole, then fed one byte at a time: the same frames.
        for step in [all.len(), 1] {
            let mut buf = BytesMut::new();
            let mut seen = Vec::new();
            for chunk in all.chunks(step) {
                buf.extend_from_slice(chunk);
                while let Some(f) = next_frame(&mut buf, 1 << 20).expect("frame") {
                    seen.push(format!("{f:?}"));
                }
            }
            assert_eq!(seen.len(), 4, "{seen:?}");
            assert!(
                seen[0].contains("10.1.2.3") && seen[0].contains("Bson") && seen[0].contains("udp: true"),
                "{}",
                seen[0]
            );
            assert!(seen[1].contains("::1") && seen[1].contains("Json"), "{}", seen[1]);
            assert!(seen[2].contains("200") && seen[2].contains("application/json"), "{}", seen[2]);
            assert_eq!(seen[3], "GoAway(8)");
        }
    }

    /// Frames written in batches arrive whole and in order, large ones
    /// (written as they are, not copied into the batch) among small ones
    /// included.
    #[tokio::test]
    async fn the_writer_keeps_order_and_writes_large_frames_as_they_are() {
        let (tx, rx) = mpsc::unbounded_channel();
        let sizes = [10usize, 20, 1 << 20, 30, 3 << 20, 40];
        for (i, n) in sizes.iter().enumerate() {
            tx.send((i as u64 + 1, encode_reply(i as u64 + 1, StatusCode::OK, b"", &vec![b'x'; *n])))
                .expect("queue");
        }
        drop(tx);
        let (mut near, far) = tokio::io::duplex(64 * 1024);
        let marked = Arc::new(AtomicU64::new(0));
        let m = marked.clone();
        let writer = tokio::spawn(write_frames(far, rx, move |last| m.store(last, Ordering::SeqCst)));
        let mut wire = Vec::new();
        near.read_to_end(&mut wire).await.expect("read");
        writer.await.expect("writer").expect("written");
        let mut buf = BytesMut::from(&wire[..]);
        let mut seen = Vec::new();
        while let Some(Frame::Reply(id, relay)) = next_frame(&mut buf, 8 << 20).expect("frame") {
            seen.push((id, relay.body.len()));
        }
        let expected: Vec<(u64, usize)> = sizes.iter().enumerate().map(|(i, n)| (i as u64 + 1, *n)).collect();
        assert_eq!(seen, expected);
        assert_eq!(marked.load(Ordering::SeqCst), 6, "the last id was marked before its write");
    }

    /// The read buffer grown for a large frame does not keep its size.
    #[test]
    fn a_large_frame_does_not_pin_its_buffer() {
        let big = encode_reply(1, StatusCode::OK, b"application/json", &vec![b' '; 8 << 20]);
        let mut buf = BytesMut::with_capacity(READ_BUFFER);
        // As the reader gets it: the head first (the buffer grows for the
        // whole frame), then the rest; the frame is relayed and dropped,
        // and the next read reserves room again.
        buf.extend_from_slice(&big[..100]);
        assert!(next_frame(&mut buf, 16 << 20).expect("partial").is_none());
        buf.extend_from_slice(&big[100..]);
        let frame = next_frame(&mut buf, 16 << 20).expect("whole");
        assert!(matches!(frame, Some(Frame::Reply(1, _))));
        drop(frame);
        buf.reserve(READ_BUFFER / 2);
        assert!(buf.capacity() <= 2 * READ_BUFFER, "{} bytes kept", buf.capacity());
    }

    #[test]
    fn bad_frames_are_refused_not_guessed() {
        let too_big = {
            let mut b = BytesMut::new();
            b.put_u32_le(u32::MAX);
            b
        };
        let mut buf = too_big.clone();
        assert!(matches!(next_frame(&mut buf, 1 << 20), Err(FrameError::TooLarge(..))));
        for (what, bytes) in [
            ("short head", vec![3, 0, 0, 0, 1, 0, 0]),
            ("unknown kind", vec![9, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0]),
            ("request cut short", vec![10, 0, 0, 0, KIND_REQUEST, 1, 0, 0, 0, 0, 0, 0, 0, 1]),
            ("bad address length", vec![14, 0, 0, 0, KIND_REQUEST, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 5, 0, 0]),
        ] {
            let mut buf = BytesMut::from(&bytes[..]);
            assert!(next_frame(&mut buf, 1 << 20).is_err(), "{what}");
        }
        // A frame not all here yet is waited for.
        let whole = encode_request(1, &request());
        let mut buf = BytesMut::from(&whole[..whole.len() - 1]);
        assert!(next_frame(&mut buf, 1 << 20).expect("partial").is_none());
    }

    /// The retry rule: possibly written → lost; never written or past the
    /// owner's goaway → not run.
    #[tokio::test]
    async fn a_closing_link_sorts_its_requests_into_lost_and_not_run() {
        let (l, _queue) = Link::new();
        let sends: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move { l.send(&request()).await })
            })
            .collect();
        while l.state.lock().pending.len() < 4 {
            tokio::task::yield_now().await;
        }
        l.written_upto.store(3, Ordering::Release);
        l.goaway.store(2, Ordering::Release);
        l.answer(
            1,
            Relay {
                status: StatusCode::OK,
                content_type: None,
                body: Bytes::new(),
            },
        );
        l.close("test");
        let mut outcomes = Vec::new();
        for s in sends {
            outcomes.push(s.await.expect("send"));
        }
        let kinds: Vec<&str> = outcomes
            .iter()
            .map(|o| match o {
                Outcome::Reply(_) => "reply",
                Outcome::NotRun(_) => "not run",
                Outcome::Lost(_) => "lost",
            })
            .collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        // id 1 answered, 2 lost (written, within the goaway), 3 and 4 not run
        // (past the goaway; 4 also never written).
        assert_eq!(sorted, vec!["lost", "not run", "not run", "reply"], "{kinds:?}");
        assert!(matches!(l.send(&request()).await, Outcome::NotRun(_)), "a closed link takes nothing");
    }
}
