//! `dispatcher script dev`: build, upload (or update the project's script in
//! the object), then watch the sources: every save rebuilds and hot-swaps
//! (`UpdateScriptRequest`), a failed build is shown and the running script
//! left alone, and the script's log streams to the terminal with its levels
//! in colour. Ctrl-C ends the loop and leaves the script running.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use base64::Engine as _;
use notify_debouncer_mini::{new_debouncer, notify::RecursiveMode, DebounceEventResult};
use serde_json::json;

use crate::author::{self, Project};
use crate::client::{self, Session};

/// How often the loop renews its capability.
const RENEW_EVERY: Duration = Duration::from_secs(60);

/// Where the script runs.
pub enum Target<'a> {
    Object(&'a str),
    Create(&'a str),
}

/// ANSI colours, only when standard output is a terminal.
struct Paint {
    on: bool,
}

impl Paint {
    fn new() -> Paint {
        Paint {
            on: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn level(&self, level: &str) -> String {
        let code = match level {
            "error" => "1;31",
            "warn" => "33",
            "info" => "32",
            "debug" => "36",
            _ => "2",
        };
        self.wrap(code, &format!("{level:<5}"))
    }

    /// A log line; faults and rollbacks stand out whatever their level.
    fn line(&self, level: &str, text: &str) -> String {
        let fault = text.starts_with("fault ") || text.contains("faulted") || text.contains("rolled back");
        let text = if fault { self.wrap("1;41;97", text) } else { text.to_owned() };
        format!("{} {text}", self.level(level))
    }
}

fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Upload the component, or update the project's script if the object has
/// one of that name already; the script id.
fn install(session: &Session, project: &Project, object: &str, bytes: &[u8]) -> anyhow::Result<String> {
    let list = session.call(json!({
        "$type": "Scripting.Messages.ListScriptsRequest",
        "_domain": "Scripting",
        "ObjectID": object,
    }))?;
    let existing = list["Scripts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["Name"].as_str() == Some(project.name.as_str()))
        .and_then(|s| s["ScriptID"].as_str().map(str::to_owned));
    if let Some(id) = existing {
        let reply = client::update_script(session, &id, bytes, Some(&project.grants), None)?;
        if reply["RolledBack"].as_bool().unwrap_or(false) {
            eprintln!("{}", reply["Message"].as_str().unwrap_or("rolled back"));
        }
        return Ok(id);
    }
    let reply = session.call_with_progress(
        json!({
            "$type": "Scripting.Messages.UploadScriptRequest",
            "_domain": "Scripting",
            "ObjectID": object,
            "Name": project.name,
            "Component": base64::engine::general_purpose::STANDARD.encode(bytes),
            "Grants": project.grants,
            "Start": true,
        }),
        "uploading",
    )?;
    reply["ScriptID"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the host's reply has no ScriptID: {reply}"))
}

/// Print the log lines after `since`; the new `since`.
fn print_log(session: &Session, paint: &Paint, script: &str, since: u64) -> anyhow::Result<u64> {
    let reply = session.call(json!({
        "$type": "Scripting.Messages.GetScriptLogRequest",
        "_domain": "Scripting",
        "ScriptID": script,
        "Since": since,
    }))?;
    let mut last = since;
    for line in reply["Lines"].as_array().into_iter().flatten() {
        last = last.max(line["Seq"].as_u64().unwrap_or(last));
        say(&paint.line(line["Level"].as_str().unwrap_or(""), line["Text"].as_str().unwrap_or("")));
    }
    Ok(last)
}

/// Ctrl-C sets the flag (the default would kill the process mid-request).
fn on_ctrl_c(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            stop.store(true, Ordering::SeqCst);
        }
    });
}

/// Rebuild and hot-swap after a save.
fn rebuild(session: &Session, project: &Project, paint: &Paint, script: &str) {
    let started = Instant::now();
    let limits = dispatcher_scripting::ScriptingLimits::default();
    let built = match author::build(project, &limits) {
        Ok((path, _)) => path,
        Err(e) => {
            say(&paint.wrap("1;31", &format!("{e}")));
            say(&paint.wrap("33", "the running script is left as it was; fix the source and save again"));
            return;
        }
    };
    let swapped = std::fs::read(&built)
        .with_context(|| format!("cannot read {}", built.display()))
        .and_then(|bytes| client::update_script(session, script, &bytes, None, None));
    match swapped {
        Ok(reply) if reply["RolledBack"].as_bool().unwrap_or(false) => {
            say(&paint.wrap("1;33", reply["Message"].as_str().unwrap_or("rolled back")));
        }
        Ok(reply) => say(&paint.wrap(
            "1;32",
            &format!(
                "live in {:.1} s: component {}",
                started.elapsed().as_secs_f64(),
                reply["Hash"].as_str().map(|h| &h[..h.len().min(12)]).unwrap_or("")
            ),
        )),
        Err(e) => say(&paint.wrap("1;31", &format!("the update failed: {e}; the running script is left as it was"))),
    }
}

pub fn dev(session: &Session, dir: &Path, target: Target<'_>) -> anyhow::Result<()> {
    let project = Project::open(dir)?;
    let paint = Paint::new();
    let limits = dispatcher_scripting::ScriptingLimits::default();
    let built = author::build_verbose(&project, &limits)?;
    let bytes = std::fs::read(&built).with_context(|| format!("cannot read {}", built.display()))?;
    let object = match target {
        Target::Object(id) => id.to_owned(),
        Target::Create(name) => {
            let id = client::create_box(session, name, "128,128,25")?;
            eprintln!("created object {name}: {id}");
            id
        }
    };
    let script = install(session, &project, &object, &bytes)?;
    say(&script);
    eprintln!("watching {} (Ctrl-C stops watching and leaves script {script} running)", project.dir.display());
    let stop = Arc::new(AtomicBool::new(false));
    on_ctrl_c(stop.clone());
    let (tx, rx) = mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(Duration::from_millis(200), tx).context("cannot watch the sources")?;
    debouncer
        .watcher()
        .watch(&project.dir, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch {}", project.dir.display()))?;
    let mut since = 0;
    let mut renewed = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        // Capabilities live at most MaxLifeSpan (300 s by default): renew
        // well before, for as long as the loop runs.
        if renewed.elapsed() >= RENEW_EVERY {
            renewed = Instant::now();
            if let Err(e) = session.call(json!({
                "$type": "Dispatcher.Messages.RenewCapabilityRequest",
                "_domain": "Dispatcher",
                "LifeSpan": 300,
            })) {
                say(&paint.wrap("31", &format!("cannot renew the session: {e}")));
            }
        }
        match print_log(session, &paint, &script, since) {
            Ok(s) => since = s,
            Err(e) => say(&paint.wrap("31", &format!("cannot read the log: {e}"))),
        }
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(Ok(events)) if events.iter().any(|e| project.is_source(&e.path)) => {
                // Saves that came in while building are one more rebuild.
                while rx.try_recv().is_ok() {}
                rebuild(session, &project, &paint, &script);
                while rx.try_recv().is_ok() {}
            }
            Ok(Err(e)) => say(&paint.wrap("31", &format!("watch error: {e}"))),
            Ok(Ok(_)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    eprintln!("stopped watching; script {script} is still running");
    Ok(())
}
