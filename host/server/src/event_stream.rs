//! The WebSocket event stream at `<HTTPPath>events` (docs/live.md §2): the
//! first text frame is a `SubscribeRequest`, run through the pipeline like
//! any request (same capability, domain and scene checks); then scene events
//! of the subscribed topics arrive as JSON text frames.
//!
//! Events come from the one scene event bus (`Services::events`) that feeds
//! UDP callbacks and scripts, through one sink for every stream (`hub.rs`):
//! a position is kept once in a shared ring and each event's frame is
//! encoded once, its bytes shared by every stream that sends it. A slow
//! reader never slows the region: positions are coalesced per object (latest
//! wins) and other events beyond `[Events] BufferEvents` are dropped and
//! counted in the next frame's `Dropped`; a reader that takes no frame within
//! `WriteTimeoutMs` is closed. A bulk change of the region (an archive
//! import, `RegionReloaded`) replaces the object frames still queued by one
//! fresh snapshot.
//!
//! Streams cannot starve requests: they run on a runtime of their own (one
//! thread, at a lower CPU priority than the request workers), each flushes at
//! most every [`FLUSH_INTERVAL`] with at most [`POSITIONS_PER_FLUSH`]
//! positions (one socket write per flush), and what a stream cannot send in
//! time is absorbed by the coalescing.

mod hub;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dispatcher_dispatch::{Dispatcher, ScriptEvent, Transport};
use dispatcher_messages::dispatcher::SubscribeResponse;
use dispatcher_protocol::{Encoding, Reply};
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use uuid::Uuid;

use hub::{Hub, Shared};

/// `[Events]` limits.
#[derive(Clone, Debug, PartialEq)]
pub struct EventsConfig {
    pub enabled: bool,
    /// Streams open at once; more get `503`.
    pub max_connections: usize,
    /// Events other than positions held per connection before they are dropped.
    pub buffer_events: usize,
    pub ping_interval_ms: u64,
    /// Largest frame (and message) a client may send.
    pub max_frame_bytes: usize,
    /// Time for the subscription frame after the upgrade.
    pub subscribe_timeout_ms: u64,
    /// Time for one frame to be taken by the client before the stream closes.
    pub write_timeout_ms: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            enabled: true,
            max_connections: 1000,
            buffer_events: 1024,
            ping_interval_ms: 20_000,
            max_frame_bytes: 64 * 1024,
            subscribe_timeout_ms: 10_000,
            write_timeout_ms: 10_000,
        }
    }
}

/// Objects per snapshot frame.
const SNAPSHOT_CHUNK: usize = 500;
/// How often a stream checks that its capability is still live.
const CAPABILITY_CHECK: Duration = Duration::from_millis(250);
/// The shortest time between two flushes of a stream: positions published
/// meanwhile are coalesced (latest wins) and leave in one socket write.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// Positions a stream sends per flush at most (so at most 12,800 a second);
/// the rest wait in the shared ring, where newer positions of the same
/// objects replace them.
pub const POSITIONS_PER_FLUSH: usize = 256;
/// The nice value of the streams' thread: the request workers come first.
const STREAM_NICE: i32 = 10;

/// Why a stream was refused or closed early (a label of
/// `dispatcher_event_stream_closed_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CloseReason {
    /// Over `MaxConnections`.
    TooMany,
    /// No subscription frame in time.
    NoSubscription,
    /// The subscription was refused (Failure frame sent).
    Refused,
    /// A frame that is not text JSON where one is expected, or any data frame
    /// after the subscription.
    Garbage,
    /// A frame over `MaxFrameBytes`.
    Oversized,
    /// A frame not taken within `WriteTimeoutMs`.
    SlowReader,
    /// The capability expired or was destroyed.
    CapabilityEnded,
    /// The client closed the stream or went away after subscribing.
    PeerGone,
}

impl CloseReason {
    pub const ALL: [CloseReason; 8] = [
        CloseReason::TooMany,
        CloseReason::NoSubscription,
        CloseReason::Refused,
        CloseReason::Garbage,
        CloseReason::Oversized,
        CloseReason::SlowReader,
        CloseReason::CapabilityEnded,
        CloseReason::PeerGone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TooMany => "too_many",
            CloseReason::NoSubscription => "no_subscription",
            CloseReason::Refused => "refused",
            CloseReason::Garbage => "garbage",
            CloseReason::Oversized => "oversized",
            CloseReason::SlowReader => "slow_reader",
            CloseReason::CapabilityEnded => "capability_ended",
            CloseReason::PeerGone => "peer_gone",
        }
    }
}

/// Counters of every stream, read by `/metrics`.
#[derive(Debug, Default)]
pub struct StreamCounters {
    pub open: AtomicU64,
    pub opened: AtomicU64,
    pub frames_sent: AtomicU64,
    pub dropped: AtomicU64,
    pub coalesced: AtomicU64,
    closed: [AtomicU64; CloseReason::ALL.len()],
}

impl StreamCounters {
    fn close(&self, reason: CloseReason) {
        if let Some(counter) = self.closed.get(reason as usize) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Streams refused or closed early, by reason.
    pub fn closed(&self) -> Vec<(&'static str, u64)> {
        CloseReason::ALL
            .iter()
            .map(|r| (r.as_str(), self.closed[*r as usize].load(Ordering::Relaxed)))
            .collect()
    }
}

/// What every stream shares.
pub struct EventStreams {
    pub dispatcher: Dispatcher,
    pub remote_control: Option<Arc<dispatcher_remote_control::RemoteControl>>,
    /// The RemoteControl domain's name: objects, touch and chat need it.
    pub rc_domain: String,
    /// The Scripting domain's name: scripts and script-logs need it.
    pub scripting_domain: String,
    pub config: EventsConfig,
    pub counters: Arc<StreamCounters>,
    /// The streams' one sink on the event bus.
    hub: Arc<Hub>,
    /// The streams' own runtime.
    runtime: StreamRuntime,
}

/// Where the streams run: one thread of its own at a lower priority, so
/// that however busy the streams are, the request workers keep theirs.
struct StreamRuntime(Option<tokio::runtime::Runtime>);

impl Drop for StreamRuntime {
    fn drop(&mut self) {
        // Dropped from async code at shutdown: do not wait for its tasks.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lower the calling thread's CPU priority (Linux: nice applies per thread).
#[allow(unsafe_code, reason = "setpriority is only reachable through libc")]
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread (who = 0) with a valid nice
    // value; it only changes this thread's scheduling priority.
    unsafe {
        if libc::setpriority(libc::PRIO_PROCESS, 0, STREAM_NICE) != 0 {
            tracing::debug!("cannot lower the event streams' thread priority");
        }
    }
}

impl EventStreams {
    /// The streams' shared parts: their sink on `dispatcher`'s event bus and
    /// their runtime.
    pub fn new(
        dispatcher: Dispatcher,
        remote_control: Option<Arc<dispatcher_remote_control::RemoteControl>>,
        rc_domain: String,
        scripting_domain: String,
        config: EventsConfig,
        counters: Arc<StreamCounters>,
    ) -> std::io::Result<EventStreams> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("event-streams")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        let hub = Arc::new(Hub::new(counters.clone()));
        dispatcher.services().events.subscribe_sink(hub.clone());
        Ok(EventStreams {
            dispatcher,
            remote_control,
            rc_domain,
            scripting_domain,
            config,
            counters,
            hub,
            runtime: StreamRuntime(Some(runtime)),
        })
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        match &self.runtime.0 {
            Some(runtime) => {
                runtime.spawn(task);
            }
            None => {
                tokio::spawn(task);
            }
        }
    }
}

type Body = Full<Bytes>;

fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn header_has(req: &Request<Incoming>, name: hyper::header::HeaderName, token: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Holds one of `MaxConnections`; released on drop.
struct Slot(Arc<StreamCounters>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answer the upgrade request (RFC 6455 §4.2) and start the stream.
pub fn upgrade(streams: &Arc<EventStreams>, peer: SocketAddr, mut req: Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "the event stream accepts GET (a WebSocket upgrade) only");
        r.headers_mut().insert(hyper::header::ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    if !header_has(&req, UPGRADE, "websocket") || !header_has(&req, CONNECTION, "upgrade") {
        let mut r = plain(StatusCode::UPGRADE_REQUIRED, "the event stream is a WebSocket: send Upgrade: websocket");
        r.headers_mut().insert(UPGRADE, HeaderValue::from_static("websocket"));
        return r;
    }
    if req.headers().get(SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()) != Some("13") {
        let mut r = plain(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 is required");
        r.headers_mut().insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return r;
    }
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).map(|k| k.as_bytes().to_vec()) else {
        return plain(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing");
    };
    if !streams.dispatcher.ip_allowed(peer.ip()) {
        return plain(StatusCode::FORBIDDEN, "source address not allowed");
    }
    let counters = &streams.counters;
    let open = counters.open.fetch_add(1, Ordering::Relaxed);
    let slot = Slot(counters.clone());
    if open >= streams.config.max_connections as u64 {
        counters.close(CloseReason::TooMany);
        let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, "too many event streams");
        r.headers_mut().insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    counters.opened.fetch_add(1, Ordering::Relaxed);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let task_streams = streams.clone();
    streams.spawn(async move {
        let streams = task_streams;
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => {
                let config = WebSocketConfig::default()
                    .max_frame_size(Some(streams.config.max_frame_bytes))
                    .max_message_size(Some(streams.config.max_frame_bytes))
                    .max_write_buffer_size(4 * 1024 * 1024);
                let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                run(&streams, peer, ws).await;
            }
            Err(e) => {
                // The client left before the upgrade completed.
                streams.counters.close(CloseReason::NoSubscription);
                tracing::debug!(%peer, error = %e, "event stream upgrade failed");
            }
        }
    });
    let accept = derive_accept_key(&key);
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut().insert(UPGRADE, HeaderValue::from_static("websocket"));
    r.headers_mut().insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        r.headers_mut().insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// What one subscription wants.
struct Filter {
    scene: String,
    objects: bool,
    touch: bool,
    chat: bool,
    scripts: bool,
    logs: bool,
    /// Who subscribed: reads the logs of scripts they own or uploaded.
    user: Uuid,
    /// Reads every script's log (an estate role, a god, or no authentication).
    all_logs: bool,
    /// Empty: every object.
    ids: HashSet<Uuid>,
}

impl Filter {
    fn object(&self, id: Uuid) -> bool {
        self.ids.is_empty() || self.ids.contains(&id)
    }

    /// Whether this subscriber may read the log of a script (as
    /// GetScriptLogRequest decides: the estate, the object's owner, the
    /// uploader).
    fn log_readable(&self, event: &ScriptEvent) -> bool {
        self.all_logs || event.owner_id == self.user || event.uploader_id == self.user
    }
}

/// Send one frame within the write timeout.
async fn send(ws: &mut Ws, streams: &EventStreams, text: String) -> Result<(), CloseReason> {
    let timeout = Duration::from_millis(streams.config.write_timeout_ms);
    match tokio::time::timeout(timeout, ws.send(Message::text(text))).await {
        Ok(Ok(())) => {
            streams.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        // The peer went away: nothing to count.
        Ok(Err(_)) => Err(CloseReason::PeerGone),
        Err(_) => Err(CloseReason::SlowReader),
    }
}

/// Send a batch of frames with one flush (one socket write for the batch
/// rather than one per frame), within the write timeout.
async fn send_batch(ws: &mut Ws, streams: &EventStreams, frames: Vec<hub::Text>) -> Result<(), CloseReason> {
    let n = frames.len() as u64;
    let timeout = Duration::from_millis(streams.config.write_timeout_ms);
    let write = async {
        for text in frames {
            ws.feed(Message::Text(text)).await?;
        }
        // Counted when handed to the socket (a client may read them before
        // this task runs again).
        streams.counters.frames_sent.fetch_add(n, Ordering::Relaxed);
        ws.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(CloseReason::PeerGone),
        Err(_) => Err(CloseReason::SlowReader),
    }
}

/// Close with a code and a short reason, not waiting long for the peer.
async fn close(ws: &mut Ws, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
}

/// The first frame: a SubscribeRequest through the pipeline; returns the
/// subscription and its reply frame (not yet sent).
async fn subscribe(streams: &EventStreams, peer: SocketAddr, ws: &mut Ws) -> Result<(Filter, Uuid, String), CloseReason> {
    let timeout = Duration::from_millis(streams.config.subscribe_timeout_ms);
    let text = match tokio::time::timeout(timeout, ws.next()).await {
        Err(_) => {
            close(ws, CloseCode::Policy, "no subscription in time").await;
            return Err(CloseReason::NoSubscription);
        }
        Ok(None) => return Err(CloseReason::NoSubscription),
        Ok(Some(Err(WsError::Capacity(_)))) => {
            close(ws, CloseCode::Size, "frame too large").await;
            return Err(CloseReason::Oversized);
        }
        // The client went away before subscribing.
        Ok(Some(Err(
            WsError::Io(_)
            | WsError::ConnectionClosed
            | WsError::AlreadyClosed
            | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
        ))) => return Err(CloseReason::NoSubscription),
        Ok(Some(Err(_))) => return Err(CloseReason::Garbage),
        Ok(Some(Ok(Message::Text(text)))) => text.as_str().to_owned(),
        Ok(Some(Ok(_))) => {
            let failure = Reply::failure("Invalid message; the first frame must be a SubscribeRequest in a text frame");
            let _ = send(ws, streams, String::from_utf8_lossy(&failure.encode(Encoding::Json)).into_owned()).await;
            close(ws, CloseCode::Unsupported, "expected a text frame").await;
            return Err(CloseReason::Garbage);
        }
    };
    let d = &streams.dispatcher;
    let refuse = |message: String| Reply::failure(message);
    let reply = match d.decode(text.as_bytes(), Encoding::Json) {
        Err(failure) => Err(failure),
        Ok(request) if request.type_name != "Dispatcher.Messages.SubscribeRequest" => Err(refuse(format!(
            "Invalid message; the first frame must be a Dispatcher.Messages.SubscribeRequest, not {}",
            dispatcher_dispatch::escape(&request.type_name.chars().take(100).collect::<String>())
        ))),
        Ok(request) => {
            let capability = request.envelope.capability.0;
            let transport = Transport::Http {
                path_domain: dispatcher_dispatch::DISPATCHER_DOMAIN.into(),
            };
            match d.handle_received(request, text.len(), peer.ip(), transport) {
                Some(reply) if reply.is_success() => Ok((reply, capability)),
                Some(reply) => Err(reply),
                None => Err(refuse("Fatal error; no reply".into())),
            }
        }
    };
    let (reply, capability) = match reply {
        Ok(ok) => ok,
        Err(failure) => return Err(refuse_with(ws, streams, &failure).await),
    };
    let encoded = reply.encode(Encoding::Json);
    let response: SubscribeResponse = match serde_json::from_slice(&encoded) {
        Ok(r) => r,
        Err(e) => return Err(refuse_with(ws, streams, &Reply::failure(format!("Fatal error; {e}"))).await),
    };
    let has = |topic: &str| response.topics.iter().any(|t| t == topic);
    // The topics' rights: objects, touch and chat are the RemoteControl
    // domain's, checked as for its requests (FindObjects, touch, chat);
    // scripts and script-logs the Scripting domain's (ListScripts,
    // GetScriptLog: a signed-in user; logs of the scripts they manage).
    let services = d.services();
    let mut user = Uuid::nil();
    let mut all_logs = true;
    if services.config.use_authentication {
        let mut domains = Vec::new();
        if has("objects") || has("touch") || has("chat") {
            domains.push(streams.rc_domain.as_str());
        }
        if has("scripts") || has("script-logs") {
            domains.push(streams.scripting_domain.as_str());
        }
        for domain in domains {
            match services.capabilities.authorize(capability, domain, &response.scene) {
                Ok(cap) => user = cap.user_id,
                Err(e) => return Err(refuse_with(ws, streams, &Reply::failure(e.to_string())).await),
            }
        }
        if has("script-logs") {
            all_logs = match dispatcher_scripting::domain::estate_role(&*services.directory, user, &response.scene) {
                Ok(estate) => estate,
                Err(e) => return Err(refuse_with(ws, streams, &Reply::failure(format!("Fatal error; {e}"))).await),
            };
        }
    }
    if streams.remote_control.as_ref().and_then(|rc| rc.region(&response.scene)).is_none() {
        let failure = Reply::failure(format!("Scene not found; {}", dispatcher_dispatch::escape(&response.scene)));
        return Err(refuse_with(ws, streams, &failure).await);
    }
    let filter = Filter {
        scene: response.scene.clone(),
        objects: has("objects"),
        touch: has("touch"),
        chat: has("chat"),
        scripts: has("scripts"),
        logs: has("script-logs"),
        user,
        all_logs,
        ids: response.object_ids.iter().map(|id| id.0).collect(),
    };
    // The reply is sent by the caller once the stream is registered, so an
    // event the client causes after reading it is never missed.
    Ok((filter, capability, String::from_utf8_lossy(&encoded).into_owned()))
}

/// Send a Failure frame and close; the reason to count.
async fn refuse_with(ws: &mut Ws, streams: &EventStreams, failure: &Reply) -> CloseReason {
    let _ = send(ws, streams, String::from_utf8_lossy(&failure.encode(Encoding::Json)).into_owned()).await;
    close(ws, CloseCode::Policy, "subscription refused").await;
    CloseReason::Refused
}

/// The objects the subscription may see now, in frames of [`SNAPSHOT_CHUNK`].
/// After a reload the first frame carries `Reload: true`: the objects known
/// so far are to be forgotten.
fn snapshot(streams: &EventStreams, filter: &Filter, reload: bool) -> Vec<String> {
    let Some(host) = streams.remote_control.as_ref().and_then(|rc| rc.region(&filter.scene)) else {
        return Vec::new();
    };
    let objects: Vec<Value> = {
        let region = host.region.read();
        region
            .objects()
            .filter(|o| filter.object(o.id()))
            .map(|o| {
                let (p, q, v) = (o.position, o.rotation(), o.velocity());
                json!({
                    "ObjectID": o.id().to_string(),
                    "Name": o.name(),
                    "OwnerID": o.owner_id().to_string(),
                    "Position": [p.x, p.y, p.z],
                    "Rotation": [q.x, q.y, q.z, q.w],
                    "Velocity": [v.x, v.y, v.z],
                })
            })
            .collect()
    };
    let chunks: Vec<&[Value]> = if objects.is_empty() { vec![&objects[..]] } else { objects.chunks(SNAPSHOT_CHUNK).collect() };
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut frame = json!({
                "$type": "Dispatcher.Messages.ObjectSnapshot",
                "Objects": chunk,
                "Final": i == last,
            });
            if reload && i == 0 {
                frame["Reload"] = json!(true);
            }
            frame.to_string()
        })
        .collect()
}

async fn run(streams: &EventStreams, peer: SocketAddr, mut ws: Ws) {
    let counters = &streams.counters;
    let (filter, capability, reply) = match subscribe(streams, peer, &mut ws).await {
        Ok(s) => s,
        Err(reason) => {
            counters.close(reason);
            return;
        }
    };
    let wants_snapshot = filter.objects;
    let shared = Arc::new(Shared::new(filter, streams.config.buffer_events));
    // Subscribe before the snapshot: a change made meanwhile arrives after it.
    let cursor = streams.hub.register(shared.clone());
    let result = match send(&mut ws, streams, reply).await {
        Ok(()) => serve(streams, &mut ws, &shared, cursor, capability, wants_snapshot).await,
        Err(reason) => Err(reason),
    };
    streams.hub.unregister(&shared);
    if result.is_ok() {
        counters.close(CloseReason::PeerGone);
    }
    if let Err(reason) = result {
        counters.close(reason);
        let (code, text) = match reason {
            CloseReason::CapabilityEnded => (CloseCode::Policy, "capability ended"),
            CloseReason::Oversized => (CloseCode::Size, "frame too large"),
            CloseReason::Garbage => (CloseCode::Unsupported, "no data frames after the subscription"),
            _ => (CloseCode::Policy, "closed"),
        };
        if !matches!(reason, CloseReason::SlowReader | CloseReason::PeerGone) {
            close(&mut ws, code, text).await;
        }
    }
    tracing::debug!(%peer, "event stream closed");
}

/// One flush: the positions and the other frames read, merged back into
/// publication order; the drop count goes on the first frame.
fn merge(positions: &[Arc<hub::Moved>], queued: &[hub::Queued], dropped: u64) -> Vec<hub::Text> {
    let mut batch = Vec::with_capacity(positions.len() + queued.len());
    let (mut p, mut q) = (positions.iter().peekable(), queued.iter().peekable());
    loop {
        let text = match (p.peek(), q.peek()) {
            (Some(m), Some(f)) if m.seq < f.seq => p.next().map(|m| m.text().clone()),
            (Some(_), Some(_)) | (None, Some(_)) => q.next().map(|f| f.text.clone()),
            (Some(_), None) => p.next().map(|m| m.text().clone()),
            (None, None) => None,
        };
        let Some(text) = text else { break };
        batch.push(text);
    }
    if dropped > 0 {
        if let Some(first) = batch.first_mut() {
            *first = hub::with_dropped(first.as_str(), dropped);
        }
    }
    batch
}

/// The stream after a successful subscription; `Ok` when the client closed.
async fn serve(
    streams: &EventStreams,
    ws: &mut Ws,
    shared: &Shared,
    mut cursor: u64,
    capability: Uuid,
    wants_snapshot: bool,
) -> Result<(), CloseReason> {
    if wants_snapshot {
        for frame in snapshot(streams, &shared.filter, false) {
            send(ws, streams, frame).await?;
        }
    }
    let services = streams.dispatcher.services();
    let authenticated = services.config.use_authentication;
    let hub = &streams.hub;
    let mut ping = tokio::time::interval(Duration::from_millis(streams.config.ping_interval_ms.max(100)));
    ping.tick().await;
    let mut check = tokio::time::interval(CAPABILITY_CHECK);
    let (mut positions, mut queued) = (Vec::new(), Vec::new());
    let mut last_flush: Option<Instant> = None;
    loop {
        // At most one flush per FLUSH_INTERVAL: what is published meanwhile
        // is coalesced and leaves in one write.
        if let Some(at) = last_flush {
            tokio::time::sleep_until((at + FLUSH_INTERVAL).into()).await;
        }
        if shared.take_reload() {
            for frame in snapshot(streams, &shared.filter, true) {
                send(ws, streams, frame).await?;
            }
        }
        // Wait for the next position from before reading the board, so one
        // published after the read wakes this stream.
        let moved = hub.moved.notified();
        tokio::pin!(moved);
        moved.as_mut().enable();
        positions.clear();
        queued.clear();
        hub.collect(&shared.filter, &mut cursor, POSITIONS_PER_FLUSH, &mut positions);
        let dropped = shared.take_before(cursor, &mut queued);
        let more = positions.len() >= POSITIONS_PER_FLUSH;
        last_flush = Some(Instant::now());
        let batch = merge(&positions, &queued, dropped);
        if !batch.is_empty() {
            send_batch(ws, streams, batch).await?;
        }
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = &mut moved, if shared.filter.objects => {}
            _ = std::future::ready(()), if more => {}
            incoming = ws.next() => match incoming {
                None | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Text(_) | Message::Binary(_))) => return Err(CloseReason::Garbage),
                Some(Err(WsError::Capacity(_))) => return Err(CloseReason::Oversized),
                Some(Err(_)) => return Ok(()),
            },
            _ = ping.tick() => {
                let timeout = Duration::from_millis(streams.config.write_timeout_ms);
                if tokio::time::timeout(timeout, ws.send(Message::Ping(Bytes::new()))).await.is_err() {
                    return Err(CloseReason::SlowReader);
                }
            }
            _ = check.tick() => {
                if authenticated && !services.capabilities.is_live(capability, Instant::now()) {
                    let failure = Reply::failure("Unauthorized invocation; no such capability");
                    let _ = send(ws, streams, String::from_utf8_lossy(&failure.encode(Encoding::Json)).into_owned()).await;
                    return Err(CloseReason::CapabilityEnded);
                }
            }
        }
    }
}
