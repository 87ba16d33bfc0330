//! The scene event stream: one publisher side (the RemoteControl domain and the
//! region tick), many subscribers (endpoint callbacks, scripts, tests).
//!
//! Publishing never blocks: each subscriber has a bounded queue, and an event
//! that does not fit is dropped for that subscriber only and counted, so a slow
//! consumer cannot stall the scene.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use dispatcher_messages::scripting::{LogLineRecord, ScriptStatus};
use parking_lot::Mutex;
use uuid::Uuid;

/// Something that happened in a region.
#[derive(Clone, Debug, PartialEq)]
pub enum SceneEvent {
    /// An avatar (or a TouchObjectRequest) touched a part of an object.
    Touch {
        region: String,
        object_id: Uuid,
        avatar_id: Uuid,
        link_num: i32,
        position: [f32; 3],
    },
    /// A chat line on a channel.
    Chat {
        region: String,
        channel: i32,
        speaker_id: Uuid,
        name: String,
        text: String,
        position: [f32; 3],
    },
    /// MessageObjectRequest sent to an object.
    Message {
        region: String,
        object_id: Uuid,
        sender_id: Uuid,
        text: String,
    },
    /// An object moved or its motion changed.
    Updated {
        region: String,
        object_id: Uuid,
        position: [f32; 3],
        rotation: [f32; 4],
        velocity: [f32; 3],
    },
    /// An object was created (or rezzed).
    ObjectAdded {
        region: String,
        object_id: Uuid,
        position: [f32; 3],
        rotation: [f32; 4],
        velocity: [f32; 3],
    },
    /// An object was deleted (scripts in it must go).
    ObjectRemoved { region: String, object_id: Uuid },
    /// The region's objects changed in bulk (an archive import replaced them
    /// or added many): one event instead of one per object, so subscribers
    /// re-read the region (the event streams send a fresh snapshot; scripts
    /// whose object is gone go).
    RegionReloaded { region: String },
}

/// A script's status change or log line (the event stream's `scripts` and
/// `script-logs` topics, docs/live.md). Published by the scripting runtime,
/// delivered to sinks only: the queue subscribers (callbacks, the scripts'
/// router) have no use for them, and a chatty script must not crowd scene
/// events out of their bounded queues.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptEvent {
    pub region: String,
    pub script_id: Uuid,
    pub object_id: Uuid,
    /// The object's owner and the script's uploader: with the estate roles,
    /// who may read the script's log (as GetScriptLogRequest decides).
    pub owner_id: Uuid,
    pub uploader_id: Uuid,
    pub kind: ScriptEventKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ScriptEventKind {
    /// The state changed: `change` names how (`created`, `started`,
    /// `stopped`, `fault`, `faulted`, `updated`, `removed`); `status` is the
    /// record ListScriptsRequest would answer right after it.
    Status { change: &'static str, status: Box<ScriptStatus> },
    /// A line entered the script's log.
    Log(LogLineRecord),
}

struct Subscriber {
    tx: SyncSender<SceneEvent>,
    dropped: Arc<AtomicU64>,
}

/// A subscriber that takes each event by reference as it is published; it
/// must not block (the host's event streams copy what they keep into their
/// own bounded buffers).
pub trait EventSink: Send + Sync {
    /// Take one event; false unsubscribes.
    fn take(&self, event: &SceneEvent) -> bool;
    /// Take one script event; false unsubscribes. Sinks that follow no
    /// script keep the default.
    fn take_script(&self, _event: &ScriptEvent) -> bool {
        true
    }
    /// Whether it still wants events: a sink that ended is dropped when the
    /// next one subscribes, so ended sinks do not pile up in a quiet region.
    fn wanted(&self) -> bool;
}

/// The fan-out point.
#[derive(Default)]
pub struct EventBus {
    subscribers: Mutex<Vec<Subscriber>>,
    sinks: Mutex<Vec<Arc<dyn EventSink>>>,
}

/// A subscriber's end.
pub struct Subscription {
    pub events: Receiver<SceneEvent>,
    dropped: Arc<AtomicU64>,
}

impl Subscription {
    /// Events dropped because this subscriber's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl EventBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribe with a queue of `capacity` events.
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        let (tx, rx) = sync_channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        self.subscribers.lock().push(Subscriber {
            tx,
            dropped: dropped.clone(),
        });
        Subscription { events: rx, dropped }
    }

    /// Add a sink called with every event from now on, until it answers
    /// false.
    pub fn subscribe_sink(&self, sink: Arc<dyn EventSink>) {
        let mut sinks = self.sinks.lock();
        sinks.retain(|s| s.wanted());
        sinks.push(sink);
    }

    /// Sinks subscribed.
    pub fn sink_count(&self) -> usize {
        self.sinks.lock().len()
    }

    /// Deliver a script event to every sink without blocking; `event` is
    /// built only when some sink is subscribed (log lines are frequent).
    /// The event is built outside the bus's lock (it reads the script's own
    /// locks).
    pub fn publish_script(&self, event: impl FnOnce() -> ScriptEvent) {
        if self.sinks.lock().is_empty() {
            return;
        }
        let event = event();
        self.sinks.lock().retain(|sink| sink.take_script(&event));
    }

    /// Deliver to every live subscriber without blocking.
    pub fn publish(&self, event: SceneEvent) {
        {
            let mut sinks = self.sinks.lock();
            if !sinks.is_empty() {
                sinks.retain(|sink| sink.take(&event));
            }
        }
        let mut subs = self.subscribers.lock();
        subs.retain(|s| match s.tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                s.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_subscriber_drops_without_blocking() {
        let bus = EventBus::new();
        let fast = bus.subscribe(10);
        let slow = bus.subscribe(1);
        for i in 0..3 {
            bus.publish(SceneEvent::ObjectRemoved {
                region: "R".into(),
                object_id: Uuid::from_u128(i),
            });
        }
        assert_eq!(fast.events.try_iter().count(), 3);
        assert_eq!(slow.events.try_iter().count(), 1);
        assert_eq!(slow.dropped(), 2);
        drop(fast);
        bus.publish(SceneEvent::ObjectRemoved {
            region: "R".into(),
            object_id: Uuid::nil(),
        });
        assert_eq!(bus.subscribers.lock().len(), 1);
    }

    /// Takes `limit` events, then declines.
    struct Counting {
        seen: AtomicU64,
        limit: u64,
    }

    impl EventSink for Counting {
        fn take(&self, _: &SceneEvent) -> bool {
            self.seen.fetch_add(1, Ordering::Relaxed) + 1 < self.limit
        }
        fn wanted(&self) -> bool {
            self.seen.load(Ordering::Relaxed) < self.limit
        }
    }

    #[test]
    fn a_sink_sees_events_until_it_declines_and_ended_sinks_are_pruned() {
        let bus = EventBus::new();
        let sink = Arc::new(Counting {
            seen: AtomicU64::new(0),
            limit: 2,
        });
        bus.subscribe_sink(sink.clone());
        for _ in 0..3 {
            bus.publish(SceneEvent::ObjectRemoved {
                region: "R".into(),
                object_id: Uuid::nil(),
            });
        }
        assert_eq!(sink.seen.load(Ordering::Relaxed), 2);
        assert_eq!(bus.sink_count(), 0);
        // An ended sink goes when the next subscribes, without any event.
        let ended = Arc::new(Counting {
            seen: AtomicU64::new(5),
            limit: 1,
        });
        bus.subscribe_sink(ended);
        bus.subscribe_sink(sink);
        assert_eq!(bus.sink_count(), 1);
    }

    /// Keeps the script events it is given.
    #[derive(Default)]
    struct Scripts(Mutex<Vec<ScriptEvent>>);

    impl EventSink for Scripts {
        fn take(&self, _: &SceneEvent) -> bool {
            true
        }
        fn take_script(&self, event: &ScriptEvent) -> bool {
            self.0.lock().push(event.clone());
            true
        }
        fn wanted(&self) -> bool {
            true
        }
    }

    fn log_event(seq: u64) -> ScriptEvent {
        ScriptEvent {
            region: "R".into(),
            script_id: Uuid::from_u128(1),
            object_id: Uuid::from_u128(2),
            owner_id: Uuid::from_u128(3),
            uploader_id: Uuid::from_u128(3),
            kind: ScriptEventKind::Log(LogLineRecord {
                seq,
                time: 0,
                level: "info".into(),
                text: format!("line {seq}"),
            }),
        }
    }

    #[test]
    fn script_events_reach_sinks_only_and_are_built_only_for_them() {
        let bus = EventBus::new();
        let queue = bus.subscribe(10);
        let mut built = 0;
        bus.publish_script(|| {
            built += 1;
            log_event(1)
        });
        assert_eq!(built, 0, "no sink: the event is not even built");
        let sink = Arc::new(Scripts::default());
        bus.subscribe_sink(sink.clone());
        bus.publish_script(|| log_event(2));
        bus.publish_script(|| log_event(3));
        assert_eq!(*sink.0.lock(), vec![log_event(2), log_event(3)]);
        assert_eq!(queue.events.try_iter().count(), 0, "queue subscribers never see script events");
    }
}
