//! `ext-spatial`: the `Spatial` message domain.
//!
//! `Spatial.Messages.NearestObjectsRequest` `{"X": 0, "Y": 0, "Z": 0,
//! "Count": 5}` answers `NearestObjectsResponse` with `Objects`, the `Count`
//! objects nearest the point, nearest first, each `{"ObjectID",
//! "Distance"}`. It finds them through `objects.find` and
//! `objects.get-position`, which the host authorises as the caller's rights
//! intersected with the extension's grants: a caller sees only the objects
//! it could find itself.

// wit-bindgen's export glue for string results forgets the returned buffer
// (the host frees it through `cabi_post_handle`), which the workspace's
// `mem_forget` lint flags.
#![allow(clippy::mem_forget, reason = "wit-bindgen's export glue for string results")]

wit_bindgen::generate!({
    world: "domain-extension",
    path: "../../wit",
});

use exports::opensim::dispatcher::domain::{DomainDescription, Guest, MessageType, Reply, Request};
use opensim::dispatcher::objects;
use serde_json::{json, Value};

/// The most objects one request may ask for.
const MAX_COUNT: u64 = 100;

struct Spatial;

impl Guest for Spatial {
    fn describe() -> DomainDescription {
        DomainDescription {
            name: "Spatial".to_owned(),
            version: "1.0.0".to_owned(),
            message_types: vec![MessageType {
                request_type: "Spatial.Messages.NearestObjectsRequest".to_owned(),
                reply_type: "Spatial.Messages.NearestObjectsResponse".to_owned(),
                request_default: r#"{"X":0,"Y":0,"Z":0,"Count":5}"#.to_owned(),
                reply_default: r#"{"Objects":[]}"#.to_owned(),
            }],
        }
    }

    fn handle(request: Request) -> Result<Reply, String> {
        let body: Value = serde_json::from_str(&request.body).map_err(|e| format!("bad body: {e}"))?;
        let coord = |name: &str| body.get(name).and_then(Value::as_f64).unwrap_or(0.0);
        let (x, y, z) = (coord("X"), coord("Y"), coord("Z"));
        let count = body.get("Count").and_then(Value::as_u64).unwrap_or(5).min(MAX_COUNT) as usize;
        let ids = objects::find(".*", None, None, None).map_err(|e| format!("objects.find: {e:?}"))?;
        let mut found: Vec<(String, f64)> = Vec::with_capacity(ids.len());
        for id in ids {
            // An object deleted meanwhile, or out of the caller's reach, is skipped.
            let Ok(p) = objects::get_position(&id) else { continue };
            let (dx, dy, dz) = (f64::from(p.x) - x, f64::from(p.y) - y, f64::from(p.z) - z);
            found.push((id, (dx * dx + dy * dy + dz * dz).sqrt()));
        }
        found.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let items: Vec<Value> = found
            .iter()
            .take(count)
            .map(|(id, d)| json!({ "ObjectID": id, "Distance": d }))
            .collect();
        Ok(Reply {
            message_type: "Spatial.Messages.NearestObjectsResponse".to_owned(),
            body: json!({ "Objects": items }).to_string(),
        })
    }

    fn on_start(_config: String) {}

    fn on_timer() {}
}

export!(Spatial);
