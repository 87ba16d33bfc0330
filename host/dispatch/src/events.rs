//! The scene event stream: one publisher side (the RemoteControl domain and the
//! region tick), many subscribers (endpoint callbacks, scripts, tests).
//!
//! Publishing never blocks: each subscriber has a bounded queue, and an event
//! that does not fit is dropped for that subscriber only and counted, so a slow
//! consumer cannot stall the scene.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

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
    /// An object was deleted (scripts in it must go).
    ObjectRemoved { region: String, object_id: Uuid },
}

struct Subscriber {
    tx: SyncSender<SceneEvent>,
    dropped: Arc<AtomicU64>,
}

/// The fan-out point.
#[derive(Default)]
pub struct EventBus {
    subscribers: Mutex<Vec<Subscriber>>,
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

    /// Deliver to every live subscriber without blocking.
    pub fn publish(&self, event: SceneEvent) {
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
}
