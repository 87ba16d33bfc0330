//! The chat handler (§4.5): a region-wide "say" published on the scene event
//! bus, where script listeners and any other subscriber pick it up.
//!
//! Who hears a line is the subscriber's decision, made with the rules below
//! ([`reaches_avatars`], [`reaches_listener`], [`text_for_avatars`]) so that
//! every subscriber applies the same ones.

use dispatcher_dispatch::{HandlerError, RequestContext, SceneEvent};
use dispatcher_protocol::Done;
use dispatcher_scene::{Uuid, Vector3};

use crate::messages::chat::ChatRequest;
use crate::region_host::RegionHost;
use crate::RemoteControl;

/// How far from the spoken position an in-world listener hears a "say", in metres.
pub const LISTENER_RANGE_M: f32 = 20.0;
/// The debug channel, which avatars hear as well as channel 0.
pub const DEBUG_CHANNEL: i32 = i32::MAX;
/// Texts longer than this many characters reach avatars cut (Q-42, kept)...
pub const AVATAR_CUT_ABOVE_CHARS: usize = 1100;
/// ...to their first this many characters.
pub const AVATAR_CUT_TO_CHARS: usize = 1000;

/// Avatars hear channel 0 and the debug channel only (no distance limit).
pub fn reaches_avatars(channel: i32) -> bool {
    channel == 0 || channel == DEBUG_CHANNEL
}

/// A script listening on `listen_channel` at `listener` hears a line said on
/// `channel` at `spoken_at` within [`LISTENER_RANGE_M`] (any channel, negative too).
pub fn reaches_listener(channel: i32, spoken_at: Vector3, listen_channel: i32, listener: Vector3) -> bool {
    channel == listen_channel && spoken_at.distance(listener) <= LISTENER_RANGE_M
}

/// The text an avatar is shown.
pub fn text_for_avatars(text: &str) -> &str {
    if text.chars().count() <= AVATAR_CUT_ABOVE_CHARS {
        return text;
    }
    match text.char_indices().nth(AVATAR_CUT_TO_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The event a chat request publishes. The text is capped like the domain's
/// other free-text payload (MessageObject), since every subscriber gets a copy.
pub fn chat_event(region: &str, speaker_name: &str, req: ChatRequest, max_text_bytes: usize) -> Result<SceneEvent, HandlerError> {
    if req.message.len() > max_text_bytes {
        return Err(HandlerError::Limited(format!(
            "chat message too long ({} bytes, limit {max_text_bytes})",
            req.message.len()
        )));
    }
    let p = req.position();
    Ok(SceneEvent::Chat {
        region: region.to_owned(),
        channel: req.channel,
        // Object-style chat: the speaker id is the zero UUID (Q-42, kept).
        speaker_id: Uuid::nil(),
        name: speaker_name.to_owned(),
        text: req.message,
        position: [p.x, p.y, p.z],
    })
}

pub fn chat(rc: &RemoteControl, host: &RegionHost, ctx: &RequestContext, req: ChatRequest) -> Result<Done, HandlerError> {
    // The speaker is the caller's name; without authentication there is none.
    let speaker = ctx.require_user()?;
    let event = chat_event(&host.name, &speaker.name, req, rc.rc_limits.max_message_bytes)?;
    ctx.services.events.publish(event);
    Ok(Done::ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 64 * 1024;

    #[test]
    fn rc_56_the_event_carries_text_channel_position_and_speaker() {
        let event = chat_event("Harbor Island", "Ada Lovelace", ChatRequest::default(), LIMIT).expect("event");
        assert_eq!(
            event,
            SceneEvent::Chat {
                region: "Harbor Island".into(),
                channel: 0,
                speaker_id: Uuid::nil(),
                name: "Ada Lovelace".into(),
                text: "Hello".into(),
                position: [128.0, 128.0, 20.0],
            }
        );
        let long = ChatRequest {
            message: "x".repeat(LIMIT + 1),
            ..ChatRequest::default()
        };
        assert!(chat_event("R", "A", long, LIMIT).is_err());
    }

    #[test]
    fn rc_57_channel_and_distance_rules() {
        assert!(reaches_avatars(0) && reaches_avatars(DEBUG_CHANNEL));
        assert!(!reaches_avatars(5) && !reaches_avatars(-1));
        let said = Vector3::new(128.0, 128.0, 20.0);
        assert!(reaches_listener(5, said, 5, Vector3::new(128.0, 148.0, 20.0)));
        assert!(!reaches_listener(5, said, 5, Vector3::new(128.0, 158.0, 20.0)));
        assert!(!reaches_listener(5, said, 0, said));
        assert!(reaches_listener(-7, said, -7, said));
    }

    #[test]
    fn long_texts_reach_avatars_cut() {
        let short = "é".repeat(AVATAR_CUT_ABOVE_CHARS);
        assert_eq!(text_for_avatars(&short), short);
        let long = "é".repeat(AVATAR_CUT_ABOVE_CHARS + 1);
        assert_eq!(text_for_avatars(&long).chars().count(), AVATAR_CUT_TO_CHARS);
    }
}
