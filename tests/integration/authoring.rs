//! The author's loop (authoring spec §1, §2) against a running host:
//! `object create` → `script new` → `script dev` for each language, editing
//! the generated source while the dev loop runs. Each language's template is
//! built by its own toolchain once per test; Rust builds share one cargo
//! target dir (target/author-guests), so wit-bindgen is compiled once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::scripting::{ok, rc, sc};
use crate::support::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The client flags for the seeded owner.
fn client(host: &Host) -> Vec<String> {
    vec![
        "--url".into(),
        host.url("/Dispatcher/"),
        "--user".into(),
        "Ada Lovelace".into(),
        "--password".into(),
        PASSWORD.into(),
    ]
}

/// Run a client command; (success, stdout, stderr).
fn run(args: &[String]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("CARGO_TARGET_DIR", repo().join("target/author-guests"))
        .env("DISPATCHER_COMPONENTIZE_PY", repo().join("guest-examples/.venv/bin/componentize-py"))
        .output()
        .expect("run dispatcher");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn args(list: &[&str], more: &[String]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).chain(more.iter().cloned()).collect()
}

/// The running `script dev`, its standard output line by line.
struct Dev {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Dev {
    fn start(host: &Host, project: &Path, object: &str) -> Dev {
        let mut child = Command::new(BIN)
            .args(args(&["script", "dev"], &[project.display().to_string()]))
            .args(["--object", object])
            .args(client(host))
            .env("CARGO_TARGET_DIR", repo().join("target/author-guests"))
            .env("DISPATCHER_COMPONENTIZE_PY", repo().join("guest-examples/.venv/bin/componentize-py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn script dev");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Dev {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait for a line containing `needle`; the line.
    fn wait_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("script dev never printed {needle:?}; it printed:\n{}", self.seen.join("\n"));
    }

    /// Ctrl-C, and the exit status.
    fn interrupt(mut self) -> bool {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        false
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_text(host: &Host, cap: &str, script: &str) -> String {
    let reply = sc(host, cap, "GetScriptLogRequest", json!({ "ScriptID": script, "Since": 0 }));
    reply["Lines"]
        .as_array()
        .map(|lines| lines.iter().map(|l| format!("{}\n", l["Text"].as_str().unwrap_or(""))).collect())
        .unwrap_or_default()
}

fn wait_log(host: &Host, cap: &str, script: &str, needle: &str, limit: Duration) {
    let found = eventually(limit, || log_text(host, cap, script).contains(needle));
    assert!(found, "log never showed {needle:?}:\n{}", log_text(host, cap, script));
}

fn status(host: &Host, cap: &str, script: &str) -> Value {
    ok(sc(host, cap, "GetScriptStatusRequest", json!({ "ScriptID": script })))
}

fn touch(host: &Host, cap: &str, object: &str) {
    ok(rc(host, cap, "TouchObjectRequest", json!({ "ObjectID": object })));
}

fn edit(path: &Path, f: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(path).expect("read source");
    let changed = f(&text);
    assert_ne!(changed, text, "the edit changed nothing in {}", path.display());
    std::fs::write(path, changed).expect("write source");
}

/// The edits each language's storage template takes in the test.
struct Edits {
    lang: &'static str,
    source: &'static str,
    on_start: &'static str,
    fault: &'static str,
}

const RUST: Edits = Edits {
    lang: "rust",
    source: "src/lib.rs",
    on_start: "fn on_start(_start_parameter: String) {",
    fault: "\n        panic!(\"on-start fails on purpose\");",
};
const PYTHON: Edits = Edits {
    lang: "python",
    source: "app.py",
    on_start: "def on_start(self, start_parameter: str) -> None:",
    fault: "\n        raise RuntimeError(\"on-start fails on purpose\")",
};
const JS: Edits = Edits {
    lang: "js",
    source: "app.js",
    on_start: "onStart(startParameter) {",
    fault: "\n    throw new Error('on-start fails on purpose');",
};

/// new → build → dev, then three edits while the loop runs: new behaviour
/// live with the same ScriptID and the count kept; a syntax error leaves the
/// running one; a faulting on-start rolls back.
fn author_loop(e: &Edits, host: &Host, full: bool) {
    let cap = host.capability(&["RemoteControl", "Scripting"]);
    let work = tempfile::tempdir().expect("tempdir");
    let name = format!("lamp-{}", e.lang);
    let (done, out, err) = run(&args(
        &["script", "new", &name, "--lang", e.lang, "--template", "storage", "--dir"],
        &[work.path().display().to_string()],
    ));
    assert!(done, "script new: {err}");
    let project = PathBuf::from(out);
    assert!(project.join("wit/world.wit").exists() && project.join("README.md").exists());
    if e.lang == "js" {
        // The toolchain the guest examples installed (`npm install` offline).
        std::os::unix::fs::symlink(repo().join("guest-examples/js-hello/node_modules"), project.join("node_modules"))
            .expect("link node_modules");
    }
    let (done, object, err) = run(&args(&["object", "create", &format!("{name}-box"), "--position", "100,100,25"], &client(host)));
    assert!(done, "object create: {err}");
    let mut dev = Dev::start(host, &project, &object);
    let script = dev.wait_line("-", Duration::from_secs(900)).trim().to_owned();
    assert_eq!(script.len(), 36, "{script}");
    wait_log(host, &cap, &script, &format!("{name} started, count = 0"), Duration::from_secs(60));
    touch(host, &cap, &object);
    touch(host, &cap, &object);
    wait_log(host, &cap, &script, "count = 2 ", Duration::from_secs(30));
    let first_hash = status(host, &cap, &script)["Hash"].clone();

    // 1. A new behaviour, live within seconds, same script, storage kept.
    let source = project.join(e.source);
    edit(&source, |t| t.replace("count = {n}", "total = {n}").replace("count = ${n}", "total = ${n}"));
    dev.wait_line("live in", Duration::from_secs(600));
    let s = status(host, &cap, &script);
    assert_ne!(s["Hash"], first_hash, "{s}");
    assert_eq!((s["ScriptID"].as_str(), s["State"].as_str()), (Some(script.as_str()), Some("running")), "{s}");
    touch(host, &cap, &object);
    wait_log(host, &cap, &script, "total = 3 ", Duration::from_secs(30));
    let list = ok(sc(host, &cap, "ListScriptsRequest", json!({ "ObjectID": object })));
    assert_eq!(list["Scripts"].as_array().map(Vec::len), Some(1), "{list}");
    if !full {
        assert!(dev.interrupt(), "script dev exits cleanly on Ctrl-C");
        return;
    }
    let live_hash = status(host, &cap, &script)["Hash"].clone();

    // 2. A syntax error: shown, and the running script is left alone.
    let good = std::fs::read_to_string(&source).expect("read");
    std::fs::write(&source, format!("{good}\n) this does not parse (\n")).expect("write");
    dev.wait_line("left as it was", Duration::from_secs(600));
    assert_eq!(status(host, &cap, &script)["Hash"], live_hash);
    touch(host, &cap, &object);
    wait_log(host, &cap, &script, "total = 4 ", Duration::from_secs(30));

    // 3. A faulting on-start: rolled back to the running component.
    std::fs::write(&source, &good).expect("write");
    edit(&source, |t| t.replacen(e.on_start, &format!("{}{}", e.on_start, e.fault), 1));
    dev.wait_line("rolled back", Duration::from_secs(600));
    let s = status(host, &cap, &script);
    assert_eq!((s["Hash"].clone(), s["State"].as_str()), (live_hash.clone(), Some("running")), "{s}");
    touch(host, &cap, &object);
    wait_log(host, &cap, &script, "total = 5 ", Duration::from_secs(30));

    // Ctrl-C ends the loop and leaves the script running.
    assert!(dev.interrupt(), "script dev exits cleanly on Ctrl-C");
    let s = status(host, &cap, &script);
    assert_eq!(s["State"], "running", "{s}");
}

#[test]
fn authoring_rust_new_build_dev_hot_swaps_keeping_id_and_storage() {
    let host = Host::start();
    author_loop(&RUST, &host, true);
}

#[test]
fn authoring_python_and_js_templates_run_and_hot_swap_on_the_default_configuration() {
    let host = Host::start();
    author_loop(&PYTHON, &host, false);
    author_loop(&JS, &host, false);
}

#[test]
fn authoring_bad_names_and_updates_are_refused_with_clear_errors() {
    let host = Host::start();
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().display().to_string();
    for (list, needle) in [
        (
            vec!["script", "new", "x", "--lang", "cobol", "--dir", &dir],
            "unknown language \"cobol\": choose rust, python or js",
        ),
        (
            vec!["script", "new", "x", "--lang", "rust", "--template", "dance", "--dir", &dir],
            "unknown template \"dance\"",
        ),
        (vec!["script", "new", "../x", "--lang", "rust", "--dir", &dir], "not a usable script name"),
        (vec!["script", "build", &dir], "not a script project"),
    ] {
        let (done, _, err) = run(&args(&list, &[]));
        assert!(!done && err.contains(needle), "{list:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(work.path()).map(|d| d.count()).unwrap_or(0), 0, "nothing written");
    // An update with a bad component or wider grants changes nothing.
    let cap = host.capability(&["RemoteControl", "Scripting"]);
    let (done, object, err) = run(&args(&["object", "create", "box", "--position", "120,120,25"], &client(&host)));
    assert!(done, "{err}");
    let (done, _, err) = run(&args(&["object", "create", "box", "--position", "1,2"], &client(&host)));
    assert!(!done && err.contains("--position takes X,Y,Z"), "{err}");
    let script = crate::scripting::upload_ok(&host, &cap, &object, "counter", &["storage"], "");
    let before = status(&host, &cap, &script);
    let bad = work.path().join("bad.wasm");
    std::fs::write(&bad, b"not wasm").expect("write");
    let (done, _, err) = run(&args(&["script", "update", &script, &bad.display().to_string()], &client(&host)));
    assert!(!done && err.contains("not a WebAssembly component"), "{err}");
    let counter = repo().join("guest-examples/out/counter.wasm").display().to_string();
    let visitor = vec![
        "--url".to_owned(),
        host.url("/Dispatcher/"),
        "--user".into(),
        "Carol Visitor".into(),
        "--password".into(),
        PASSWORD.into(),
    ];
    // A visitor may not manage the owner's script (here: not even reach the domain).
    let (done, _, err) = run(&args(&["script", "update", &script, &counter], &visitor));
    assert!(!done && (err.contains("not permitted") || err.contains("not authorized")), "{err}");
    let after = status(&host, &cap, &script);
    assert_eq!((after["Hash"].clone(), after["Grants"].clone()), (before["Hash"].clone(), before["Grants"].clone()));
    // The owner's update of the same component: same id, same hash.
    let (done, hash, err) = run(&args(&["script", "update", &script, &counter, "--grant", "storage"], &client(&host)));
    assert!(done, "{err}");
    assert_eq!(Some(hash.as_str()), before["Hash"].as_str());
}
