//! The streams' one subscription to the scene event bus, and what every
//! stream shares (docs/live.md, "Fan-out").
//!
//! Before, each stream was a sink of its own on the bus: every published
//! position cost one lock, one map insert and one task wake-up *per stream*,
//! all while the publisher (a handler or the region tick) held the region's
//! write lock, so 100 streams multiplied the region's write-lock time by 100
//! and the readers of the region (requests) waited. Now the bus has one sink
//! for every stream, this hub:
//!
//! - a position is one entry in a shared ring (`Board`), whatever the number
//!   of streams: one lock, one push, one map update (the object's newer
//!   entry marks its older one superseded: latest wins), one wake-up of the
//!   streams that wait. Each stream walks the ring from its own cursor and
//!   skips superseded entries, so it sends each object's latest motion once,
//!   in publication order. The frame's JSON is built once, by the first
//!   stream that sends it, and shared as bytes by the others.
//! - any other event (created, deleted, touch, chat, script states and log
//!   lines) is encoded once and its bytes queued to each stream that may see
//!   it, in that stream's bounded buffer (beyond `[Events] BufferEvents`:
//!   dropped and counted).
//!
//! Every event takes a sequence number from the board, so a stream merges
//! its positions and its other frames back into publication order.
//!
//! A stream that falls more than the ring's length behind resynchronises from
//! each object's latest entry (the ring only saves it from walking them all
//! on every flush).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use dispatcher_dispatch::{EventSink, SceneEvent, ScriptEvent, ScriptEventKind};
use parking_lot::{Mutex, RwLock};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

use super::{Filter, StreamCounters};

/// Position entries the ring keeps (about 1.5 s of 1,000 objects moving at
/// 20 Hz with the tick's own updates).
const RING: usize = 32_768;

/// An encoded frame, shared by every stream that sends it.
pub(super) type Text = Utf8Bytes;

const LIVE: u8 = 0;
/// A newer entry of the same object follows (latest wins).
const SUPERSEDED: u8 = 1;
/// The region was reloaded: a snapshot replaces it.
const VOID: u8 = 2;

/// An object's motion as published.
#[derive(Clone, Copy)]
pub(super) struct Motion {
    pub position: [f32; 3],
    pub rotation: [f32; 4],
    pub velocity: [f32; 3],
}

/// One published position, shared by every stream.
pub(super) struct Moved {
    pub seq: u64,
    region: Arc<str>,
    object_id: Uuid,
    motion: Motion,
    state: AtomicU8,
    text: OnceLock<Text>,
}

impl Moved {
    /// The `ObjectUpdated` frame, encoded once.
    pub fn text(&self) -> &Text {
        self.text
            .get_or_init(|| object_frame("moved", self.object_id, &self.motion).to_string().into())
    }
}

fn vec3(v: [f32; 3]) -> Value {
    json!([v[0], v[1], v[2]])
}

pub(super) fn object_frame(kind: &str, object_id: Uuid, motion: &Motion) -> Value {
    let (p, q, v) = (motion.position, motion.rotation, motion.velocity);
    let mut m = Map::new();
    m.insert("$type".into(), json!("Dispatcher.Messages.ObjectUpdated"));
    m.insert("Kind".into(), json!(kind));
    m.insert("ObjectID".into(), json!(object_id.to_string()));
    m.insert("Position".into(), vec3(p));
    m.insert("Rotation".into(), json!([q[0], q[1], q[2], q[3]]));
    m.insert("Velocity".into(), vec3(v));
    Value::Object(m)
}

/// `text` (a JSON object) with `"Dropped": n` added: a stream's own copy of
/// a shared frame.
pub(super) fn with_dropped(text: &str, n: u64) -> Text {
    match text.strip_suffix('}') {
        Some(body) if body.trim_end().ends_with('{') => format!("{body}\"Dropped\":{n}}}").into(),
        Some(body) => format!("{body},\"Dropped\":{n}}}").into(),
        None => text.to_owned().into(),
    }
}

/// The shared positions.
struct Board {
    /// The next event's sequence number.
    next: u64,
    ring: VecDeque<Arc<Moved>>,
    /// Entries up to this sequence number may have left the ring.
    evicted: u64,
    /// Each object's latest entry.
    latest: HashMap<Uuid, Arc<Moved>>,
    /// Region names, interned (an entry holds a pointer, not a copy).
    regions: HashMap<String, Arc<str>>,
}

impl Board {
    fn intern(&mut self, region: &str) -> Arc<str> {
        if let Some(r) = self.regions.get(region) {
            return r.clone();
        }
        let r: Arc<str> = Arc::from(region);
        self.regions.insert(region.to_owned(), r.clone());
        r
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next;
        self.next += 1;
        seq
    }
}

/// One queued frame other than a position.
pub(super) struct Queued {
    pub seq: u64,
    pub text: Text,
    /// An `ObjectUpdated` (created, deleted): superseded by a reload.
    object: bool,
}

/// A stream's bounded buffer of frames other than positions.
#[derive(Default)]
pub(super) struct Buffer {
    queue: VecDeque<Queued>,
    /// Dropped since the last frame sent.
    dropped: u64,
    /// The region was reloaded (an archive import): a fresh snapshot is due.
    reload: bool,
}

/// One stream as the hub sees it.
pub(super) struct Shared {
    pub filter: Filter,
    buffer: Mutex<Buffer>,
    /// Woken for a frame other than a position.
    pub wake: Notify,
    pub closed: AtomicBool,
    limit: usize,
}

impl Shared {
    pub fn new(filter: Filter, limit: usize) -> Shared {
        Shared {
            filter,
            buffer: Mutex::new(Buffer::default()),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            limit: limit.max(1),
        }
    }

    fn push(&self, queued: Queued, counters: &StreamCounters) {
        let mut b = self.buffer.lock();
        if b.queue.len() >= self.limit {
            b.dropped += 1;
            counters.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            b.queue.push_back(queued);
        }
        drop(b);
        self.wake.notify_one();
    }

    /// Whether a reload snapshot is due (and no longer, once asked).
    pub fn take_reload(&self) -> bool {
        std::mem::take(&mut self.buffer.lock().reload)
    }

    /// The queued frames published before `end`, and the drop count since
    /// the last call.
    pub fn take_before(&self, end: u64, out: &mut Vec<Queued>) -> u64 {
        let mut b = self.buffer.lock();
        while b.queue.front().is_some_and(|q| q.seq < end) {
            if let Some(q) = b.queue.pop_front() {
                out.push(q);
            }
        }
        std::mem::take(&mut b.dropped)
    }

    /// The frame of a scene event other than a position, if this stream
    /// wants it.
    fn wants(&self, event: &SceneEvent) -> bool {
        let f = &self.filter;
        match event {
            SceneEvent::ObjectAdded { region, object_id, .. } | SceneEvent::ObjectRemoved { region, object_id } => {
                f.objects && *region == f.scene && f.object(*object_id)
            }
            SceneEvent::Touch { region, object_id, .. } => f.touch && *region == f.scene && f.object(*object_id),
            SceneEvent::Chat { region, .. } => f.chat && *region == f.scene,
            _ => false,
        }
    }

    fn wants_script(&self, event: &ScriptEvent) -> bool {
        let f = &self.filter;
        if event.region != f.scene || !f.object(event.object_id) {
            return false;
        }
        match &event.kind {
            ScriptEventKind::Status { .. } => f.scripts,
            ScriptEventKind::Log(_) => f.logs && f.log_readable(event),
        }
    }
}

/// The frame of a scene event other than a position (None: streams show no
/// such event).
fn scene_frame(event: &SceneEvent) -> Option<Value> {
    let frame = match event {
        SceneEvent::ObjectAdded {
            object_id,
            position,
            rotation,
            velocity,
            ..
        } => object_frame(
            "created",
            *object_id,
            &Motion {
                position: *position,
                rotation: *rotation,
                velocity: *velocity,
            },
        ),
        SceneEvent::ObjectRemoved { object_id, .. } => json!({
            "$type": "Dispatcher.Messages.ObjectUpdated",
            "Kind": "deleted",
            "ObjectID": object_id.to_string(),
        }),
        SceneEvent::Touch {
            object_id,
            avatar_id,
            link_num,
            position,
            ..
        } => json!({
            "$type": "RemoteControl.Messages.TouchCallback",
            "ObjectID": object_id.to_string(),
            "AvatarID": avatar_id.to_string(),
            "LinkNum": link_num,
            "Position": vec3(*position),
        }),
        SceneEvent::Chat {
            channel,
            speaker_id,
            name,
            text,
            position,
            ..
        } => json!({
            "$type": "Dispatcher.Messages.ChatEvent",
            "Channel": channel,
            "SpeakerID": speaker_id.to_string(),
            "Name": name,
            "Text": text,
            "Position": vec3(*position),
        }),
        _ => return None,
    };
    Some(frame)
}

fn script_frame(event: &ScriptEvent) -> Option<Value> {
    match &event.kind {
        ScriptEventKind::Status { change, status } => {
            let mut m = match serde_json::to_value(status) {
                Ok(Value::Object(m)) => m,
                _ => return None,
            };
            m.insert("$type".into(), json!("Dispatcher.Messages.ScriptStatusEvent"));
            m.insert("Change".into(), json!(change));
            Some(Value::Object(m))
        }
        ScriptEventKind::Log(line) => Some(json!({
            "$type": "Dispatcher.Messages.ScriptLogEvent",
            "ScriptID": event.script_id.to_string(),
            "ObjectID": event.object_id.to_string(),
            "Seq": line.seq,
            "Time": line.time,
            "Level": line.level,
            "Text": line.text,
        })),
    }
}

/// The fan-out point of every stream.
pub(super) struct Hub {
    board: RwLock<Board>,
    streams: Mutex<Vec<Arc<Shared>>>,
    /// Streams with the `objects` topic: without any, positions are not kept.
    following: AtomicUsize,
    /// Woken for every position kept.
    pub moved: Notify,
    counters: Arc<StreamCounters>,
}

impl Hub {
    pub fn new(counters: Arc<StreamCounters>) -> Hub {
        Hub {
            board: RwLock::new(Board {
                next: 1,
                ring: VecDeque::new(),
                evicted: 0,
                latest: HashMap::new(),
                regions: HashMap::new(),
            }),
            streams: Mutex::new(Vec::new()),
            following: AtomicUsize::new(0),
            moved: Notify::new(),
            counters,
        }
    }

    /// Add a stream; returns its position cursor (events from now on).
    pub fn register(&self, shared: Arc<Shared>) -> u64 {
        let mut streams = self.streams.lock();
        streams.retain(|s| !s.closed.load(Ordering::Relaxed));
        if shared.filter.objects {
            self.following.fetch_add(1, Ordering::SeqCst);
        }
        streams.push(shared);
        let cursor = self.board.read().next;
        cursor
    }

    /// Remove a stream that ended.
    pub fn unregister(&self, shared: &Arc<Shared>) {
        shared.closed.store(true, Ordering::Relaxed);
        let mut streams = self.streams.lock();
        streams.retain(|s| !Arc::ptr_eq(s, shared));
        if shared.filter.objects && self.following.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Nobody follows positions: free them.
            let mut b = self.board.write();
            b.ring.clear();
            b.latest.clear();
            b.evicted = b.next.saturating_sub(1);
        }
    }

    fn moved_event(&self, region: &str, object_id: Uuid, motion: Motion) {
        if self.following.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut b = self.board.write();
        let region = b.intern(region);
        let seq = b.take_seq();
        let entry = Arc::new(Moved {
            seq,
            region,
            object_id,
            motion,
            state: AtomicU8::new(LIVE),
            text: OnceLock::new(),
        });
        if let Some(old) = b.latest.insert(object_id, entry.clone()) {
            let _ = old.state.compare_exchange(LIVE, SUPERSEDED, Ordering::Relaxed, Ordering::Relaxed);
        }
        b.ring.push_back(entry);
        if b.ring.len() > RING {
            if let Some(old) = b.ring.pop_front() {
                b.evicted = old.seq;
            }
        }
        drop(b);
        self.moved.notify_waiters();
    }

    /// A reload replaces the region's positions and queued object frames by
    /// a snapshot.
    fn reloaded(&self, region: &str) {
        let streams = self.streams.lock();
        let mut b = self.board.write();
        for m in b.ring.iter().filter(|m| &*m.region == region) {
            m.state.store(VOID, Ordering::Relaxed);
        }
        b.latest.retain(|_, m| &*m.region != region);
        for s in streams.iter().filter(|s| s.filter.objects && s.filter.scene == region) {
            let mut buffer = s.buffer.lock();
            buffer.queue.retain(|q| !q.object);
            buffer.reload = true;
            drop(buffer);
            s.wake.notify_one();
        }
    }

    /// Queue `frame` (built once, if some stream wants it) to every stream
    /// that `wants` it.
    fn fan_out(&self, object: bool, wants: impl Fn(&Shared) -> bool, frame: impl FnOnce() -> Option<Value>) {
        let streams = self.streams.lock();
        let interested: Vec<&Arc<Shared>> = streams.iter().filter(|s| !s.closed.load(Ordering::Relaxed) && wants(s)).collect();
        if interested.is_empty() {
            return;
        }
        let Some(frame) = frame() else { return };
        let text: Text = frame.to_string().into();
        // The number is taken under the board's lock, and the frame queued
        // before it is released: a stream that has read the board up to a
        // number finds every frame before it in its buffer.
        let mut b = self.board.write();
        let seq = b.take_seq();
        for s in interested {
            s.push(
                Queued {
                    seq,
                    text: text.clone(),
                    object,
                },
                &self.counters,
            );
        }
        drop(b);
    }

    /// Up to `budget` positions for `filter` from `cursor` on, in
    /// publication order, each object's latest only; moves the cursor past
    /// what was read. The frames published before the new cursor are then in
    /// the stream's buffer.
    pub fn collect(&self, filter: &Filter, cursor: &mut u64, budget: usize, out: &mut Vec<Arc<Moved>>) {
        let b = self.board.read();
        let head = b.next;
        if !filter.objects {
            *cursor = head;
            return;
        }
        let mine = |m: &Moved| &*m.region == filter.scene.as_str() && filter.object(m.object_id);
        let mut coalesced = 0;
        if *cursor <= b.evicted {
            // Fell behind the ring: each object's latest since the cursor.
            let mut all: Vec<Arc<Moved>> = b
                .latest
                .values()
                .filter(|m| m.seq >= *cursor && m.state.load(Ordering::Relaxed) == LIVE && mine(m))
                .cloned()
                .collect();
            all.sort_unstable_by_key(|m| m.seq);
            if all.len() > budget {
                all.truncate(budget);
                *cursor = all.last().map_or(head, |m| m.seq + 1);
            } else {
                *cursor = head;
            }
            out.extend(all);
            return;
        }
        let start = b.ring.partition_point(|m| m.seq < *cursor);
        for m in b.ring.range(start..) {
            if out.len() >= budget {
                *cursor = m.seq;
                self.add_coalesced(coalesced);
                return;
            }
            if !mine(m) {
                continue;
            }
            match m.state.load(Ordering::Relaxed) {
                LIVE => out.push(m.clone()),
                SUPERSEDED => coalesced += 1,
                _ => {}
            }
        }
        *cursor = head;
        self.add_coalesced(coalesced);
    }

    fn add_coalesced(&self, n: u64) {
        if n > 0 {
            self.counters.coalesced.fetch_add(n, Ordering::Relaxed);
        }
    }
}

impl EventSink for Hub {
    fn wanted(&self) -> bool {
        true
    }

    fn take(&self, event: &SceneEvent) -> bool {
        match event {
            SceneEvent::Updated {
                region,
                object_id,
                position,
                rotation,
                velocity,
            } => self.moved_event(
                region,
                *object_id,
                Motion {
                    position: *position,
                    rotation: *rotation,
                    velocity: *velocity,
                },
            ),
            SceneEvent::RegionReloaded { region } => self.reloaded(region),
            SceneEvent::ObjectRemoved { object_id, .. } => {
                if self.following.load(Ordering::Relaxed) > 0 {
                    self.board.write().latest.remove(object_id);
                }
                let object = true;
                self.fan_out(object, |s| s.wants(event), || scene_frame(event));
            }
            _ => {
                let object = matches!(event, SceneEvent::ObjectAdded { .. });
                self.fan_out(object, |s| s.wants(event), || scene_frame(event));
            }
        }
        true
    }

    /// Script status changes and log lines, filtered by the rights of
    /// ListScripts and GetScriptLog.
    fn take_script(&self, event: &ScriptEvent) -> bool {
        self.fan_out(false, |s| s.wants_script(event), || script_frame(event));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn filter(objects: bool, chat: bool) -> Filter {
        Filter {
            scene: "R".into(),
            objects,
            touch: false,
            chat,
            scripts: false,
            logs: false,
            user: Uuid::nil(),
            all_logs: true,
            ids: HashSet::new(),
        }
    }

    fn moved(hub: &Hub, id: u128, x: f32) {
        hub.take(&SceneEvent::Updated {
            region: "R".into(),
            object_id: Uuid::from_u128(id),
            position: [x, 0.0, 0.0],
            rotation: [0.0, 0.0, 0.0, 1.0],
            velocity: [0.0; 3],
        });
    }

    fn chat(hub: &Hub, text: &str) {
        hub.take(&SceneEvent::Chat {
            region: "R".into(),
            channel: 0,
            speaker_id: Uuid::nil(),
            name: "n".into(),
            text: text.into(),
            position: [0.0; 3],
        });
    }

    /// One flush as a stream does it: positions and other frames merged.
    fn flush(hub: &Hub, shared: &Shared, cursor: &mut u64, budget: usize) -> Vec<Value> {
        let mut positions = Vec::new();
        hub.collect(&shared.filter, cursor, budget, &mut positions);
        let mut queued = Vec::new();
        let dropped = shared.take_before(*cursor, &mut queued);
        super::super::merge(&positions, &queued, dropped)
            .iter()
            .map(|t| serde_json::from_str(t.as_str()).expect("JSON"))
            .collect()
    }

    fn label(frame: &Value) -> String {
        match frame["$type"].as_str() {
            Some("Dispatcher.Messages.ChatEvent") => format!("chat {}", frame["Text"].as_str().unwrap_or_default()),
            _ => format!("{} {}", &frame["ObjectID"].as_str().unwrap_or_default()[34..], frame["Position"][0]),
        }
    }

    #[test]
    fn latest_position_wins_in_publication_order_with_other_frames_between() {
        let counters = Arc::new(StreamCounters::default());
        let hub = Hub::new(counters.clone());
        let shared = Arc::new(Shared::new(filter(true, true), 16));
        let mut cursor = hub.register(shared.clone());
        moved(&hub, 1, 1.0);
        chat(&hub, "a");
        moved(&hub, 2, 2.0);
        moved(&hub, 1, 3.0);
        let frames = flush(&hub, &shared, &mut cursor, 100);
        let labels: Vec<String> = frames.iter().map(label).collect();
        assert_eq!(labels, ["chat a", "02 2.0", "01 3.0"]);
        assert_eq!(counters.coalesced.load(Ordering::Relaxed), 1);
        assert!(flush(&hub, &shared, &mut cursor, 100).is_empty(), "nothing twice");
        // The shared frame is the same bytes for a second stream.
        let other = Arc::new(Shared::new(filter(true, false), 16));
        let mut other_cursor = hub.register(other.clone());
        moved(&hub, 3, 4.0);
        let (a, b) = (flush(&hub, &shared, &mut cursor, 100), flush(&hub, &other, &mut other_cursor, 100));
        assert_eq!(a, b);
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn a_budget_leaves_the_rest_for_the_next_flush_and_a_full_buffer_counts_drops() {
        let counters = Arc::new(StreamCounters::default());
        let hub = Hub::new(counters.clone());
        let shared = Arc::new(Shared::new(filter(true, true), 2));
        let mut cursor = hub.register(shared.clone());
        for id in 0..5 {
            moved(&hub, id, id as f32);
        }
        for text in ["a", "b", "c", "d"] {
            chat(&hub, text);
        }
        let first = flush(&hub, &shared, &mut cursor, 3);
        assert_eq!(first.len(), 3, "{first:?}");
        // Two chat lines did not fit: the first frame sent after says so.
        assert_eq!(first[0]["Dropped"], 2, "{first:?}");
        assert!(first.iter().skip(1).all(|f| f.get("Dropped").is_none()), "{first:?}");
        let rest = flush(&hub, &shared, &mut cursor, 3);
        let labels: Vec<String> = rest.iter().map(label).collect();
        assert_eq!(labels, ["03 3.0", "04 4.0", "chat a", "chat b"]);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_stream_behind_the_ring_gets_each_objects_latest_position() {
        let hub = Hub::new(Arc::new(StreamCounters::default()));
        let shared = Arc::new(Shared::new(filter(true, false), 16));
        let mut cursor = hub.register(shared.clone());
        for i in 0..RING + 10 {
            moved(&hub, (i % 3) as u128, i as f32);
        }
        let frames = flush(&hub, &shared, &mut cursor, 100);
        let mut positions: Vec<f64> = frames.iter().map(|f| f["Position"][0].as_f64().unwrap_or(-1.0)).collect();
        positions.sort_by(f64::total_cmp);
        let last = (RING + 10) as f64;
        assert_eq!(positions, [last - 3.0, last - 2.0, last - 1.0]);
        assert!(flush(&hub, &shared, &mut cursor, 100).is_empty());
    }

    #[test]
    fn a_reload_voids_queued_positions_and_object_frames_and_asks_for_a_snapshot() {
        let hub = Hub::new(Arc::new(StreamCounters::default()));
        let shared = Arc::new(Shared::new(filter(true, true), 16));
        let mut cursor = hub.register(shared.clone());
        moved(&hub, 1, 1.0);
        hub.take(&SceneEvent::ObjectRemoved {
            region: "R".into(),
            object_id: Uuid::from_u128(2),
        });
        chat(&hub, "kept");
        hub.take(&SceneEvent::RegionReloaded { region: "R".into() });
        assert!(shared.take_reload());
        let labels: Vec<String> = flush(&hub, &shared, &mut cursor, 100).iter().map(label).collect();
        assert_eq!(labels, ["chat kept"]);
    }

    #[test]
    fn dropped_is_added_to_a_shared_frame_as_a_member() {
        let text = with_dropped(r#"{"$type":"X","A":1}"#, 7);
        let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
        assert_eq!(v["Dropped"], 7);
        assert_eq!(v["A"], 1);
    }
}
