//! `escape`: tries to do more than it was granted, on command, and logs what
//! the host answered, so the sandbox tests (tests/integration/sandbox_rights.rs)
//! can tell a refusal from an escape.
//!
//! The command is the start parameter or the text of a message
//! (`objects.message` / `MessageObjectRequest`):
//!
//! | command | does | logs |
//! | --- | --- | --- |
//! | `send <json>` | `messages.send` of the JSON text as given (repeated members, case variants and all) | `send ok: <reply>` / `send err: <error>` |
//! | `find` | the typed `objects.find("")` | `find: <n> <ids>` / `find err: <error>` |
//! | `reupload <name> <grant,grant,...>` | reads its own component from its object's inventory (`objects.get-inventory`, `assets.get`) and uploads it again to its object through `messages.send` with those grants | `reupload ok: <reply>` / `reupload failed: <reply>` / `reupload err: <error>` |
//!
//! Every log line starts with the command's name, so a test waits for it.

wit_bindgen::generate!({
    world: "region-script",
    path: "../../wit",
});

use exports::opensim::dispatcher::handlers::{ChatEvent, Guest, MessageEvent, TouchEvent, UpdatedEvent};
use opensim::dispatcher::log::{log, Level};
use opensim::dispatcher::self_ as script;
use opensim::dispatcher::{assets, messages, objects};

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding: the protocol's bytes in JSON.
fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A JSON string literal.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn send(json: &str) {
    match messages::send(json) {
        Ok(reply) => log(Level::Info, &format!("send ok: {reply}")),
        Err(e) => log(Level::Info, &format!("send err: {e:?}")),
    }
}

fn find() {
    match objects::find("", None, None, None) {
        Ok(ids) => log(Level::Info, &format!("find: {} {}", ids.len(), ids.join(" "))),
        Err(e) => log(Level::Info, &format!("find err: {e:?}")),
    }
}

/// Our own component, read back from our object's inventory.
fn own_component() -> Result<Vec<u8>, String> {
    let me = script::object_id();
    let items = objects::get_inventory(&me).map_err(|e| format!("get-inventory: {e:?}"))?;
    for item in items {
        if let Ok(asset) = assets::get(&item.asset_id) {
            if asset.serialized_asset.starts_with(b"\0asm") {
                return Ok(asset.serialized_asset);
            }
        }
    }
    Err("no component in the inventory".into())
}

fn reupload(args: &str) {
    let mut words = args.split_whitespace();
    let name = words.next().unwrap_or("child");
    let grants: Vec<String> = words
        .next()
        .unwrap_or("")
        .split(',')
        .filter(|g| !g.is_empty())
        .map(quoted)
        .collect();
    let component = match own_component() {
        Ok(c) => c,
        Err(e) => return log(Level::Info, &format!("reupload err: {e}")),
    };
    let request = format!(
        r#"{{"$type":"Scripting.Messages.UploadScriptRequest","ObjectID":{},"Name":{},"Component":"{}","Grants":[{}],"StartParameter":""}}"#,
        quoted(&script::object_id()),
        quoted(name),
        base64(&component),
        grants.join(",")
    );
    match messages::send(&request) {
        Ok(reply) if reply.contains(r#""_Success":1"#) => log(Level::Info, &format!("reupload ok: {reply}")),
        Ok(reply) => log(Level::Info, &format!("reupload failed: {reply}")),
        Err(e) => log(Level::Info, &format!("reupload err: {e:?}")),
    }
}

fn run(command: &str) {
    let command = command.trim();
    let (verb, rest) = command.split_once(' ').unwrap_or((command, ""));
    match verb {
        "" => {}
        "send" => send(rest),
        "find" => find(),
        "reupload" => reupload(rest),
        other => log(Level::Warn, &format!("escape: unknown command {other:?}")),
    }
}

struct Escape;

impl Guest for Escape {
    fn on_start(start_parameter: String) {
        run(&start_parameter);
    }

    fn on_message(event: MessageEvent) {
        run(&event.text);
    }

    fn on_touch(_event: TouchEvent) {}
    fn on_chat(_event: ChatEvent) {}
    fn on_timer() {}
    fn on_updated(_event: UpdatedEvent) {}
}

export!(Escape);
