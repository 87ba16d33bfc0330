//! `ext-ticker`: the `Ticker` message domain, driven by the extension's timer.
//!
//! - `on-start(config)` sets the timer to the interval the install `Config`
//!   names in milliseconds (100 when empty or not a number).
//! - `on-timer` adds one to the count kept in storage under `ticks` (the
//!   extension needs the `storage` grant).
//! - `Ticker.Messages.GetTicksRequest` `{}` answers `GetTicksResponse` with
//!   `Ticks`, the count so far.
//! - `Ticker.Messages.SetIntervalRequest` `{"IntervalMs": 0}` sets (0:
//!   cancels) the timer and answers `SetIntervalResponse` with the interval
//!   the host granted.

// wit-bindgen's export glue for string results forgets the returned buffer
// (the host frees it through `cabi_post_handle`), which the workspace's
// `mem_forget` lint flags.
#![allow(clippy::mem_forget, reason = "wit-bindgen's export glue for string results")]

wit_bindgen::generate!({
    world: "domain-extension",
    path: "../../wit",
});

use exports::opensim::dispatcher::domain::{DomainDescription, Guest, MessageType, Reply, Request};
use opensim::dispatcher::log::{log, Level};
use opensim::dispatcher::{storage, timers};
use serde_json::{json, Value};

/// The interval when the install `Config` names none.
const DEFAULT_INTERVAL_MS: u32 = 100;
const KEY: &str = "ticks";

struct Ticker;

fn ticks() -> Result<u64, String> {
    let stored = storage::get(KEY).map_err(|e| format!("storage: {e:?}"))?;
    Ok(stored
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or(0))
}

fn set_timer(interval_ms: u32) -> Result<u32, String> {
    timers::set_timer(interval_ms).map_err(|e| format!("set-timer: {e:?}"))
}

impl Guest for Ticker {
    fn describe() -> DomainDescription {
        let t = |name: &str, req: &str, rep: &str| MessageType {
            request_type: format!("Ticker.Messages.{name}Request"),
            reply_type: format!("Ticker.Messages.{name}Response"),
            request_default: req.to_owned(),
            reply_default: rep.to_owned(),
        };
        DomainDescription {
            name: "Ticker".to_owned(),
            version: "1.0.0".to_owned(),
            message_types: vec![
                t("GetTicks", "{}", r#"{"Ticks":0}"#),
                t("SetInterval", r#"{"IntervalMs":0}"#, r#"{"IntervalMs":0}"#),
            ],
        }
    }

    fn handle(request: Request) -> Result<Reply, String> {
        match request.message_type.as_str() {
            "Ticker.Messages.GetTicksRequest" => Ok(Reply {
                message_type: "Ticker.Messages.GetTicksResponse".to_owned(),
                body: json!({ "Ticks": ticks()? }).to_string(),
            }),
            "Ticker.Messages.SetIntervalRequest" => {
                let body: Value = serde_json::from_str(&request.body).map_err(|e| format!("bad body: {e}"))?;
                let wanted = body
                    .get("IntervalMs")
                    .and_then(Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or("IntervalMs must be an integer from 0 to 4294967295")?;
                let granted = set_timer(wanted)?;
                Ok(Reply {
                    message_type: "Ticker.Messages.SetIntervalResponse".to_owned(),
                    body: json!({ "IntervalMs": granted }).to_string(),
                })
            }
            other => Err(format!("Ticker does not serve {other}")),
        }
    }

    fn on_start(config: String) {
        let interval = config.trim().parse().unwrap_or(DEFAULT_INTERVAL_MS);
        if let Err(e) = set_timer(interval) {
            log(Level::Error, &e);
        }
    }

    fn on_timer() {
        let next = ticks().map(|n| n + 1);
        let stored = next.and_then(|n| storage::set(KEY, n.to_string().as_bytes()).map_err(|e| format!("storage: {e:?}")));
        if let Err(e) = stored {
            log(Level::Error, &e);
        }
    }
}

export!(Ticker);
