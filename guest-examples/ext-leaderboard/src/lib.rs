//! `ext-leaderboard`: the `Leaderboard` message domain, kept per region in
//! the extension's storage.
//!
//! - `Leaderboard.Messages.SubmitScoreRequest` `{"Player": "", "Score": 0}`
//!   records a score in the request's region (`_Scene`) and answers
//!   `SubmitScoreResponse` with the player's `Rank` there.
//! - `Leaderboard.Messages.GetTopScoresRequest` `{"Count": 10}` answers
//!   `GetTopScoresResponse` with `Scores`, the best first, each
//!   `{"Player", "Score"}`.
//!
//! Storage holds one key per region, `scores:<region>`, a JSON array of at
//! most [`KEEP`] entries; a player keeps their best score only.

// wit-bindgen's export glue for string results forgets the returned buffer
// (the host frees it through `cabi_post_handle`), which the workspace's
// `mem_forget` lint flags.
#![allow(clippy::mem_forget, reason = "wit-bindgen's export glue for string results")]

wit_bindgen::generate!({
    world: "domain-extension",
    path: "../../wit",
});

use exports::opensim::dispatcher::domain::{DomainDescription, Guest, MessageType, Reply, Request};
use opensim::dispatcher::storage;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Entries kept per region.
const KEEP: usize = 100;

struct Leaderboard;

/// One stored score, as it is kept and as `GetTopScoresResponse` lists it.
/// Typed rather than a `serde_json::Value` tree: a read parses the stored
/// list on every request, and a tree of maps costs the guest several times
/// the work (docs/performance.md, Extensions).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    player: String,
    score: i64,
}

/// `GetTopScoresResponse`'s body.
#[derive(Serialize)]
struct TopScores<'a> {
    #[serde(rename = "Scores")]
    scores: &'a [Entry],
}

fn load(region: &str) -> Result<Vec<Entry>, String> {
    let raw = storage::get(&format!("scores:{region}")).map_err(|e| format!("storage: {e:?}"))?;
    let Some(raw) = raw else { return Ok(Vec::new()) };
    serde_json::from_slice(&raw).map_err(|e| format!("stored scores unreadable: {e}"))
}

fn save(region: &str, scores: &[Entry]) -> Result<(), String> {
    let text = serde_json::to_vec(scores).map_err(|e| format!("cannot write scores: {e}"))?;
    storage::set(&format!("scores:{region}"), &text).map_err(|e| format!("storage: {e:?}"))
}

impl Guest for Leaderboard {
    fn describe() -> DomainDescription {
        let t = |name: &str, req: &str, rep: &str| MessageType {
            request_type: format!("Leaderboard.Messages.{name}Request"),
            reply_type: format!("Leaderboard.Messages.{name}Response"),
            request_default: req.to_owned(),
            reply_default: rep.to_owned(),
        };
        DomainDescription {
            name: "Leaderboard".to_owned(),
            version: "1.0.0".to_owned(),
            message_types: vec![
                t("SubmitScore", r#"{"Player":"","Score":0}"#, r#"{"Rank":0}"#),
                t("GetTopScores", r#"{"Count":10}"#, r#"{"Scores":[]}"#),
            ],
        }
    }

    fn handle(request: Request) -> Result<Reply, String> {
        let body: Value = serde_json::from_str(&request.body).map_err(|e| format!("bad body: {e}"))?;
        let region = request.scene.as_str();
        match request.message_type.as_str() {
            "Leaderboard.Messages.SubmitScoreRequest" => {
                let player = body.get("Player").and_then(Value::as_str).unwrap_or("").trim().to_owned();
                if player.is_empty() {
                    return Err("Player must not be empty".to_owned());
                }
                let score = body.get("Score").and_then(Value::as_i64).ok_or("Score must be an integer")?;
                let mut scores = load(region)?;
                match scores.iter_mut().find(|e| e.player == player) {
                    Some(entry) => entry.score = entry.score.max(score),
                    None => scores.push(Entry {
                        player: player.clone(),
                        score,
                    }),
                }
                scores.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.player.cmp(&b.player)));
                scores.truncate(KEEP);
                save(region, &scores)?;
                let rank = scores.iter().position(|e| e.player == player).map_or(0, |i| i + 1);
                Ok(Reply {
                    message_type: "Leaderboard.Messages.SubmitScoreResponse".to_owned(),
                    body: format!("{{\"Rank\":{rank}}}"),
                })
            }
            "Leaderboard.Messages.GetTopScoresRequest" => {
                let count = body.get("Count").and_then(Value::as_u64).unwrap_or(10).min(KEEP as u64) as usize;
                let scores = load(region)?;
                let top = TopScores {
                    scores: &scores[..count.min(scores.len())],
                };
                let body = serde_json::to_string(&top).map_err(|e| format!("cannot write the reply: {e}"))?;
                Ok(Reply {
                    message_type: "Leaderboard.Messages.GetTopScoresResponse".to_owned(),
                    body,
                })
            }
            other => Err(format!("Leaderboard does not serve {other}")),
        }
    }

    fn on_start(_config: String) {}

    fn on_timer() {}
}

export!(Leaderboard);
