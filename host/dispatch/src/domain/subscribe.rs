//! SubscribeRequest (docs/live.md): check the topics and object ids of an
//! event-stream subscription. The stream itself lives in the server; this
//! handler is what the first frame runs through the pipeline, so the
//! capability and scene are admitted exactly as for any request.

use dispatcher_messages::dispatcher::{SubscribeRequest, SubscribeResponse, MAX_SUBSCRIBED_OBJECTS, TOPICS};

use crate::context::RequestContext;
use crate::error::HandlerError;

pub fn subscribe(ctx: &RequestContext, req: SubscribeRequest) -> Result<SubscribeResponse, HandlerError> {
    if req.topics.is_empty() {
        return Err(HandlerError::Invalid("Missing required parameter, Topics".into()));
    }
    if req.topics.len() > TOPICS.len() * 4 {
        return Err(HandlerError::Limited(format!("too many topics ({})", req.topics.len())));
    }
    if let Some(bad) = req.topics.iter().find(|t| !TOPICS.contains(&t.as_str())) {
        let bad: String = bad.chars().take(64).collect();
        return Err(HandlerError::Invalid(format!(
            "Invalid parameter, unknown topic {bad:?}; topics are {}",
            TOPICS.join(", ")
        )));
    }
    if req.object_ids.len() > MAX_SUBSCRIBED_OBJECTS {
        return Err(HandlerError::Limited(format!(
            "too many ObjectIDs ({}, limit {MAX_SUBSCRIBED_OBJECTS})",
            req.object_ids.len()
        )));
    }
    let mut object_ids = req.object_ids;
    object_ids.sort_by_key(|id| id.0);
    object_ids.dedup();
    Ok(SubscribeResponse {
        topics: TOPICS
            .iter()
            .filter(|t| req.topics.iter().any(|r| r == *t))
            .map(|t| (*t).to_owned())
            .collect(),
        object_ids,
        scene: ctx.scene.clone(),
    })
}
