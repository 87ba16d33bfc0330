//! The WebSocket event stream at `<HTTPPath>events` (docs/live.md §2): the
//! first text frame is a `SubscribeRequest`, run through the pipeline like
//! any request (same capability, domain and scene checks); then scene events
//! of the subscribed topics arrive as JSON text frames.
//!
//! Events come from the one scene event bus (`Services::events`) that feeds
//! UDP callbacks and scripts: each connection adds a non-blocking sink that
//! copies what it wants into the connection's own bounded buffer. A slow
//! reader never slows the region: positions are coalesced per object (latest
//! wins) and other events beyond `[Events] BufferEvents` are dropped and
//! counted in the next frame's `Dropped`; a reader that takes no frame within
//! `WriteTimeoutMs` is closed. A bulk change of the region (an archive
//! import, `RegionReloaded`) replaces the object frames still queued by one
//! fresh snapshot.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dispatcher_dispatch::{Dispatcher, SceneEvent, ScriptEvent, ScriptEventKind, Transport};
use dispatcher_messages::dispatcher::SubscribeResponse;
use dispatcher_protocol::{Encoding, Reply};
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use uuid::Uuid;

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
/// Frames sent per wake-up before the stream looks at its socket again.
const DRAIN_BATCH: usize = 256;

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
    let streams = streams.clone();
    tokio::spawn(async move {
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

/// One queued frame: a position slot (its latest state kept in `positions`)
/// or any other event.
enum Entry {
    Position(Uuid),
    Frame(Map<String, Value>),
}

/// A connection's bounded buffer.
#[derive(Default)]
struct Buffer {
    queue: VecDeque<Entry>,
    /// The latest motion of each object waiting to be sent; its frame is
    /// built only when sent (publishing runs under the region's lock, and
    /// most positions of a busy region are replaced before they are sent).
    positions: HashMap<Uuid, Motion>,
    /// `Entry::Frame`s in the queue.
    frames: usize,
    /// Dropped since the last frame sent.
    dropped: u64,
    /// The region was reloaded (an archive import): a fresh snapshot is due.
    reload: bool,
}

fn is_object_frame(entry: &Entry) -> bool {
    match entry {
        Entry::Position(_) => true,
        Entry::Frame(frame) => frame.get("$type").and_then(Value::as_str) == Some("Dispatcher.Messages.ObjectUpdated"),
    }
}

/// An object's motion as published.
#[derive(Clone, Copy)]
struct Motion {
    position: [f32; 3],
    rotation: [f32; 4],
    velocity: [f32; 3],
}

struct Shared {
    filter: Filter,
    buffer: parking_lot::Mutex<Buffer>,
    wake: Notify,
    closed: AtomicBool,
    limit: usize,
    counters: Arc<StreamCounters>,
}

fn vec3(v: [f32; 3]) -> Value {
    json!([v[0], v[1], v[2]])
}

fn object_frame(kind: &str, object_id: Uuid, position: [f32; 3], rotation: [f32; 4], velocity: [f32; 3]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("$type".into(), json!("Dispatcher.Messages.ObjectUpdated"));
    m.insert("Kind".into(), json!(kind));
    m.insert("ObjectID".into(), json!(object_id.to_string()));
    m.insert("Position".into(), vec3(position));
    m.insert("Rotation".into(), json!([rotation[0], rotation[1], rotation[2], rotation[3]]));
    m.insert("Velocity".into(), vec3(velocity));
    m
}

impl dispatcher_dispatch::EventSink for Shared {
    fn wanted(&self) -> bool {
        !self.closed.load(Ordering::Relaxed)
    }

    /// Script status changes and log lines, filtered by the rights of
    /// ListScripts and GetScriptLog.
    fn take_script(&self, event: &ScriptEvent) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let f = &self.filter;
        if event.region != f.scene || !f.object(event.object_id) {
            return true;
        }
        let frame = match &event.kind {
            ScriptEventKind::Status { change, status } if f.scripts => {
                let mut m = match serde_json::to_value(status) {
                    Ok(Value::Object(m)) => m,
                    _ => return true,
                };
                m.insert("$type".into(), json!("Dispatcher.Messages.ScriptStatusEvent"));
                m.insert("Change".into(), json!(change));
                m
            }
            ScriptEventKind::Log(line) if f.logs && f.log_readable(event) => {
                let mut m = Map::new();
                m.insert("$type".into(), json!("Dispatcher.Messages.ScriptLogEvent"));
                m.insert("ScriptID".into(), json!(event.script_id.to_string()));
                m.insert("ObjectID".into(), json!(event.object_id.to_string()));
                m.insert("Seq".into(), json!(line.seq));
                m.insert("Time".into(), json!(line.time));
                m.insert("Level".into(), json!(line.level));
                m.insert("Text".into(), json!(line.text));
                m
            }
            _ => return true,
        };
        self.push_frame(frame);
        true
    }

    /// Copy what this stream wants, never block.
    fn take(&self, event: &SceneEvent) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let f = &self.filter;
        let frame = match event {
            SceneEvent::Updated {
                region,
                object_id,
                position,
                rotation,
                velocity,
            } if f.objects && *region == f.scene && f.object(*object_id) => {
                let motion = Motion {
                    position: *position,
                    rotation: *rotation,
                    velocity: *velocity,
                };
                let mut b = self.buffer.lock();
                match b.positions.insert(*object_id, motion) {
                    Some(_) => {
                        self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
                    }
                    None => b.queue.push_back(Entry::Position(*object_id)),
                }
                drop(b);
                self.wake.notify_one();
                return true;
            }
            SceneEvent::ObjectAdded {
                region,
                object_id,
                position,
                rotation,
                velocity,
            } if f.objects && *region == f.scene && f.object(*object_id) => {
                object_frame("created", *object_id, *position, *rotation, *velocity)
            }
            SceneEvent::ObjectRemoved { region, object_id } if f.objects && *region == f.scene && f.object(*object_id) => {
                let mut m = Map::new();
                m.insert("$type".into(), json!("Dispatcher.Messages.ObjectUpdated"));
                m.insert("Kind".into(), json!("deleted"));
                m.insert("ObjectID".into(), json!(object_id.to_string()));
                m
            }
            SceneEvent::RegionReloaded { region } if f.objects && *region == f.scene => {
                // The snapshot supersedes object frames still queued;
                // reloads in a row coalesce into one snapshot.
                let mut b = self.buffer.lock();
                b.queue.retain(|e| !is_object_frame(e));
                b.positions.clear();
                b.frames = b.queue.iter().filter(|e| matches!(e, Entry::Frame(_))).count();
                b.reload = true;
                drop(b);
                self.wake.notify_one();
                return true;
            }
            SceneEvent::Touch {
                region,
                object_id,
                avatar_id,
                link_num,
                position,
            } if f.touch && *region == f.scene && f.object(*object_id) => {
                let mut m = Map::new();
                m.insert("$type".into(), json!("RemoteControl.Messages.TouchCallback"));
                m.insert("ObjectID".into(), json!(object_id.to_string()));
                m.insert("AvatarID".into(), json!(avatar_id.to_string()));
                m.insert("LinkNum".into(), json!(link_num));
                m.insert("Position".into(), vec3(*position));
                m
            }
            SceneEvent::Chat {
                region,
                channel,
                speaker_id,
                name,
                text,
                position,
            } if f.chat && *region == f.scene => {
                let mut m = Map::new();
                m.insert("$type".into(), json!("Dispatcher.Messages.ChatEvent"));
                m.insert("Channel".into(), json!(channel));
                m.insert("SpeakerID".into(), json!(speaker_id.to_string()));
                m.insert("Name".into(), json!(name));
                m.insert("Text".into(), json!(text));
                m.insert("Position".into(), vec3(*position));
                m
            }
            _ => return true,
        };
        self.push_frame(frame);
        true
    }
}

impl Shared {
    /// Queue a frame other than a position, or drop and count it when the
    /// buffer is full.
    fn push_frame(&self, frame: Map<String, Value>) {
        let mut b = self.buffer.lock();
        if b.frames >= self.limit {
            b.dropped += 1;
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            b.frames += 1;
            b.queue.push_back(Entry::Frame(frame));
        }
        drop(b);
        self.wake.notify_one();
    }

    /// Whether a reload snapshot is due (and no longer, once asked).
    fn take_reload(&self) -> bool {
        std::mem::take(&mut self.buffer.lock().reload)
    }

    /// The next frame to send, with the drop count since the last one.
    fn next(&self) -> Option<Map<String, Value>> {
        let mut b = self.buffer.lock();
        loop {
            let mut frame = match b.queue.pop_front()? {
                Entry::Frame(frame) => {
                    b.frames -= 1;
                    frame
                }
                Entry::Position(id) => match b.positions.remove(&id) {
                    Some(m) => object_frame("moved", id, m.position, m.rotation, m.velocity),
                    None => continue,
                },
            };
            if b.dropped > 0 {
                frame.insert("Dropped".into(), json!(b.dropped));
                b.dropped = 0;
            }
            return Some(frame);
        }
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
async fn send_batch(ws: &mut Ws, streams: &EventStreams, frames: Vec<String>) -> Result<(), CloseReason> {
    let n = frames.len() as u64;
    let timeout = Duration::from_millis(streams.config.write_timeout_ms);
    let write = async {
        for text in frames {
            ws.feed(Message::text(text)).await?;
        }
        ws.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => {
            streams.counters.frames_sent.fetch_add(n, Ordering::Relaxed);
            Ok(())
        }
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

/// The first frame: a SubscribeRequest through the pipeline.
async fn subscribe(streams: &EventStreams, peer: SocketAddr, ws: &mut Ws) -> Result<(Filter, Uuid, SubscribeResponse), CloseReason> {
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
    send(ws, streams, String::from_utf8_lossy(&encoded).into_owned()).await?;
    Ok((filter, capability, response))
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
    let (filter, capability, _response) = match subscribe(streams, peer, &mut ws).await {
        Ok(s) => s,
        Err(reason) => {
            counters.close(reason);
            return;
        }
    };
    let wants_snapshot = filter.objects;
    let shared = Arc::new(Shared {
        filter,
        buffer: parking_lot::Mutex::new(Buffer::default()),
        wake: Notify::new(),
        closed: AtomicBool::new(false),
        limit: streams.config.buffer_events.max(1),
        counters: counters.clone(),
    });
    // Subscribe before the snapshot: a change made meanwhile arrives after it.
    streams.dispatcher.services().events.subscribe_sink(shared.clone());
    let result = serve(streams, &mut ws, &shared, capability, wants_snapshot).await;
    shared.closed.store(true, Ordering::Relaxed);
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

/// The stream after a successful subscription; `Ok` when the client closed.
async fn serve(streams: &EventStreams, ws: &mut Ws, shared: &Shared, capability: Uuid, wants_snapshot: bool) -> Result<(), CloseReason> {
    if wants_snapshot {
        for frame in snapshot(streams, &shared.filter, false) {
            send(ws, streams, frame).await?;
        }
    }
    let services = streams.dispatcher.services();
    let authenticated = services.config.use_authentication;
    let mut ping = tokio::time::interval(Duration::from_millis(streams.config.ping_interval_ms.max(100)));
    ping.tick().await;
    let mut check = tokio::time::interval(CAPABILITY_CHECK);
    loop {
        if shared.take_reload() {
            for frame in snapshot(streams, &shared.filter, true) {
                send(ws, streams, frame).await?;
            }
        }
        // Frames first, a batch at a time, so the socket is read in between.
        let mut batch = Vec::new();
        while batch.len() < DRAIN_BATCH {
            let Some(frame) = shared.next() else { break };
            batch.push(Value::Object(frame).to_string());
        }
        let sent = batch.len();
        if sent > 0 {
            send_batch(ws, streams, batch).await?;
        }
        if sent == DRAIN_BATCH {
            tokio::task::yield_now().await;
        }
        tokio::select! {
            _ = shared.wake.notified(), if sent < DRAIN_BATCH => {}
            _ = std::future::ready(()), if sent == DRAIN_BATCH => {}
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
