//! Event routing: scene events (touch, chat, messages, updates, removals) to
//! the scripts they concern, as events on their queues.

use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::Duration;

use dispatcher_dispatch::{SceneEvent, Subscription};

use crate::bindings::exports::opensim::dispatcher::handlers::{ChatEvent, MessageEvent, TouchEvent, UpdatedEvent};
use crate::bindings::opensim::dispatcher::types::{Quaternion, Vector3};
use crate::lifecycle::Lifecycle;
use crate::run_queue::RunQueue;
use crate::scene::SceneHooks;
use crate::script::{Event, Script};
use crate::stop::StopFlag;
use crate::table::ScriptTable;

/// How far from the spoken position a script hears a line (remote-control §4.5.1).
const LISTENER_RANGE_M: f32 = 20.0;
/// How often the idle router looks at the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// What the router reaches: the script table, the run queue (to enqueue),
/// the scene (chat range) and the lifecycle (scripts of a removed object go
/// with it).
pub struct Router {
    pub scripts: Arc<ScriptTable>,
    pub run_queue: Arc<RunQueue>,
    pub scene: Arc<dyn SceneHooks>,
    pub lifecycle: Arc<Lifecycle>,
}

impl Router {
    /// The router thread: scene events to the scripts they concern, until
    /// `stop`. The subscription is taken by `ScriptHost::start` before any
    /// script is loaded or any request can arrive, so no event published
    /// after start is missed.
    pub fn run(&self, subscription: Subscription, stop: &StopFlag) {
        loop {
            if stop.is_set() {
                return;
            }
            match subscription.events.recv_timeout(IDLE_POLL) {
                Ok(event) => self.route(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn route(&self, event: SceneEvent) {
        match event {
            SceneEvent::Touch {
                region,
                object_id,
                avatar_id,
                link_num,
                position,
            } => {
                for s in self.scripts.select(|i| i.region == region && i.object_id == object_id) {
                    let e = TouchEvent {
                        object_id: object_id.to_string(),
                        avatar_id: avatar_id.to_string(),
                        link_num,
                        offset_position: v3([0.0; 3]),
                        position: v3(position),
                    };
                    self.run_queue.deliver(&s, Event::Touch(e));
                }
            }
            SceneEvent::Chat {
                region,
                channel,
                speaker_id,
                name,
                text,
                position,
            } => {
                for s in self.scripts.select(|i| i.region == region) {
                    if !s.listening.lock().contains(&channel) || s.info().object_id == speaker_id || !self.in_range(&s, position) {
                        continue;
                    }
                    if heard_itself(&s, channel, &text) {
                        continue;
                    }
                    let e = ChatEvent {
                        channel,
                        speaker_id: speaker_id.to_string(),
                        name: name.clone(),
                        text: text.clone(),
                        position: v3(position),
                    };
                    self.run_queue.deliver(&s, Event::Chat(e));
                }
            }
            SceneEvent::Message {
                region,
                object_id,
                sender_id,
                text,
            } => {
                for s in self.scripts.select(|i| i.region == region && i.object_id == object_id) {
                    let e = MessageEvent {
                        sender_id: sender_id.to_string(),
                        text: text.clone(),
                    };
                    self.run_queue.deliver(&s, Event::Message(e));
                }
            }
            SceneEvent::Updated {
                region,
                object_id,
                position,
                rotation,
                velocity,
            } => {
                for s in self.scripts.select(|i| i.region == region && i.object_id == object_id) {
                    *s.position.lock() = Some(position);
                    let e = UpdatedEvent {
                        object_id: object_id.to_string(),
                        position: v3(position),
                        rotation: Quaternion {
                            x: rotation[0],
                            y: rotation[1],
                            z: rotation[2],
                            w: rotation[3],
                        },
                        velocity: v3(velocity),
                    };
                    self.run_queue.deliver(&s, Event::Updated(e));
                }
            }
            SceneEvent::ObjectAdded { .. } => {}
            SceneEvent::ObjectRemoved { region, object_id } => {
                for s in self.scripts.select(|i| i.region == region && i.object_id == object_id) {
                    self.lifecycle.remove(&s);
                }
            }
            SceneEvent::RegionReloaded { region } => {
                for s in self.scripts.select(|i| i.region == region) {
                    if self.scene.object(&region, s.info().object_id).is_none() {
                        self.lifecycle.remove(&s);
                    }
                }
            }
        }
    }

    /// Whether the script's object is within listening range of `spoken_at`.
    fn in_range(&self, script: &Script, spoken_at: [f32; 3]) -> bool {
        let known = *script.position.lock();
        let Some(p) = known.or_else(|| {
            let p = self.scene.object(&script.info().region, script.info().object_id)?.position;
            *script.position.lock() = Some(p);
            Some(p)
        }) else {
            return false;
        };
        let d2: f32 = (0..3).map(|i| (p[i] - spoken_at[i]).powi(2)).sum();
        d2 <= LISTENER_RANGE_M * LISTENER_RANGE_M
    }
}

/// A line the script said itself comes back once through the bus: swallow it.
fn heard_itself(script: &Script, channel: i32, text: &str) -> bool {
    let mut own = script.own_lines.lock();
    match own.iter().position(|(c, t)| *c == channel && t == text) {
        Some(i) => {
            own.remove(i);
            true
        }
        None => false,
    }
}

fn v3(p: [f32; 3]) -> Vector3 {
    Vector3 { x: p[0], y: p[1], z: p[2] }
}
