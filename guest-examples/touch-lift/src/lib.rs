//! `touch-lift`: every touch raises the script's object by one metre.
//!
//! Grants: `objects:read`, `objects:write` (the default `scope:self` suffices).

wit_bindgen::generate!({
    world: "region-script",
    path: "../../wit",
});

use exports::opensim::dispatcher::handlers::{ChatEvent, Guest, MessageEvent, TouchEvent, UpdatedEvent};
use opensim::dispatcher::log::{log, Level};
use opensim::dispatcher::objects;
use opensim::dispatcher::self_ as script;

/// How far one touch lifts the object, in metres.
const LIFT_M: f32 = 1.0;

struct TouchLift;

impl Guest for TouchLift {
    fn on_start(_start_parameter: String) {
        log(Level::Info, "touch-lift ready: touch me to lift me");
    }

    fn on_touch(event: TouchEvent) {
        // Lift our own object, not `event.object_id`: they are the same today,
        // but the script's rights are scoped to its own object, and that is the
        // one the example promises to move.
        let me = script::object_id();
        let result = objects::get_position(&me).and_then(|mut pos| {
            pos.z += LIFT_M;
            objects::set_position(&me, pos)
        });
        match result {
            Ok(pos) => log(
                Level::Info,
                &format!("touched by {}: now at <{:.2}, {:.2}, {:.2}>", event.avatar_id, pos.x, pos.y, pos.z),
            ),
            // A missing grant is reported, not trapped on, so the owner can see
            // in the script log what to grant.
            Err(e) => log(Level::Error, &format!("cannot lift: {e:?}")),
        }
    }

    fn on_chat(_event: ChatEvent) {}
    fn on_timer() {}
    fn on_message(_event: MessageEvent) {}
    fn on_updated(_event: UpdatedEvent) {}
}

export!(TouchLift);
