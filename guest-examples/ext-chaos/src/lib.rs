//! `ext-chaos`: an extension that misbehaves on command, the culprit of the
//! host's extension limit and refusal tests (docs/extensions.md; the contract
//! is spec §6).
//!
//! `describe` takes the domain name from the first word of the install
//! `Config` (`Named` when empty) and the namespace of its one message type
//! from the second word (default: the domain), so the refusal tests can ask
//! for a bad, reserved or already served name and for a type outside its
//! namespace. A third word `describe-spin` or `describe-trap` makes
//! `describe` itself misbehave.
//!
//! It serves `<NS>.Messages.EchoRequest` (default body `{"Text": ""}`) and
//! answers `<NS>.Messages.EchoResponse` with `Body` (the request body JSON it
//! was given) and `CallerID`, unless `Text` is a command:
//!
//! | `Text` | does | the caller should get |
//! | --- | --- | --- |
//! | `fail:<rest>` | `err(rest)` | a Failure with `_Message` `rest` |
//! | `spin` | loops for ever | `extension <D> faulted: timeout` |
//! | `alloc` | allocates 1 MiB blocks without end | `... faulted: out-of-memory` |
//! | `recurse` | unbounded recursion | `... faulted: stack-overflow` |
//! | `trap` | executes `unreachable` | `... faulted: trap` |
//! | `flood` | calls `log.log` in a tight loop, for ever | `... faulted: host-call-limit` |
//! | `bad-json` | replies a body that is not JSON | a Failure naming the bad reply |
//! | `big` | replies a body of 2 MiB | a Failure naming the reply's size |
//! | `count` | increments `count` in storage, answers `Count` | — |
//! | `reply:<text>` | replies `<text>` as its body, verbatim | what the host makes of it (members it owns dropped) |
//! | `wasi-io` | reads stdin (empty), writes a line to stderr and to stdout | a success with `Stdin` (what the read answered); the HTTP worker it ran on is not wedged |

// wit-bindgen's export glue for string results forgets the returned buffer
// (the host frees it through `cabi_post_handle`), which the workspace's
// `mem_forget` lint flags.
#![allow(clippy::mem_forget, reason = "wit-bindgen's export glue for string results")]

use std::hint::black_box;

wit_bindgen::generate!({
    world: "domain-extension",
    path: "../../wit",
});

use exports::opensim::dispatcher::domain::{DomainDescription, Guest, MessageType, Reply, Request};
use opensim::dispatcher::{extension, log, storage};

struct ExtChaos;

fn words() -> (String, String, String) {
    let config = extension::config();
    let mut it = config.split_whitespace();
    let domain = it.next().unwrap_or("Named").to_owned();
    let namespace = it.next().unwrap_or(&domain).to_owned();
    let extra = it.next().unwrap_or("").to_owned();
    (domain, namespace, extra)
}

/// Unbounded recursion on the wasm stack. A call that cannot return is
/// undefined behaviour the optimiser may turn into a plain trap, so the
/// function keeps a base case it never reaches in practice and combines the
/// result non-associatively after the call (no loop, no dropped frames).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return depth;
    }
    // No locals in linear memory: the shadow stack would run out first and
    // fault as an out-of-bounds access instead of the wasm stack overflow.
    let below = recurse(black_box(depth + 1));
    below.rotate_left(7) ^ depth.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

impl Guest for ExtChaos {
    fn describe() -> DomainDescription {
        let (domain, namespace, extra) = words();
        match extra.as_str() {
            "describe-spin" => spin(),
            "describe-trap" => std::process::abort(),
            _ => {}
        }
        DomainDescription {
            name: domain,
            version: "1.0.0".to_owned(),
            message_types: vec![MessageType {
                request_type: format!("{namespace}.Messages.EchoRequest"),
                reply_type: format!("{namespace}.Messages.EchoResponse"),
                request_default: r#"{"Text":""}"#.to_owned(),
                reply_default: r#"{"Body":"","CallerID":"00000000-0000-0000-0000-000000000000"}"#.to_owned(),
            }],
        }
    }

    fn handle(request: Request) -> Result<Reply, String> {
        let (_, namespace, _) = words();
        let body: serde_json::Value = serde_json::from_str(&request.body).map_err(|e| format!("bad body: {e}"))?;
        let text = body.get("Text").and_then(|t| t.as_str()).unwrap_or("").to_owned();
        let reply_type = format!("{namespace}.Messages.EchoResponse");
        if let Some(rest) = text.strip_prefix("fail:") {
            return Err(rest.to_owned());
        }
        if let Some(rest) = text.strip_prefix("reply:") {
            return Ok(Reply {
                message_type: reply_type,
                body: rest.to_owned(),
            });
        }
        match text.as_str() {
            "spin" => spin(),
            "alloc" => {
                let mut held: Vec<Vec<u8>> = Vec::new();
                loop {
                    held.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "recurse" => {
                black_box(recurse(0));
            }
            "trap" => std::process::abort(),
            "flood" => loop {
                log::log(log::Level::Debug, "flood");
            },
            "wasi-io" => {
                // The WASI calls whose synchronous host bindings would block a
                // reactor thread: a blocking read of stdin (empty) and lines to
                // stderr and stdout (sockets are refused at install).
                let mut buf = [0u8; 16];
                let stdin = match std::io::Read::read(&mut std::io::stdin(), &mut buf) {
                    Ok(n) => format!("read {n}"),
                    Err(e) => format!("error {e}"),
                };
                eprintln!("ext-chaos: wasi-io");
                println!("ext-chaos: wasi-io");
                return Ok(Reply {
                    message_type: reply_type,
                    body: serde_json::json!({ "Stdin": stdin }).to_string(),
                });
            }
            "bad-json" => {
                return Ok(Reply {
                    message_type: reply_type,
                    body: "{not json".to_owned(),
                })
            }
            "big" => {
                let big = "x".repeat(2 << 20);
                return Ok(Reply {
                    message_type: reply_type,
                    body: serde_json::json!({ "Body": big }).to_string(),
                });
            }
            "count" => {
                let n = storage::get("count")
                    .ok()
                    .flatten()
                    .and_then(|v| String::from_utf8(v).ok())
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                storage::set("count", n.to_string().as_bytes()).map_err(|e| format!("storage: {e:?}"))?;
                return Ok(Reply {
                    message_type: reply_type,
                    body: serde_json::json!({ "Count": n }).to_string(),
                });
            }
            _ => {}
        }
        Ok(Reply {
            message_type: reply_type,
            body: serde_json::json!({ "Body": request.body, "CallerID": request.caller.account_id }).to_string(),
        })
    }

    fn on_start(_config: String) {}

    fn on_timer() {}
}

export!(ExtChaos);
