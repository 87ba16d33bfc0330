//! Region archives (issue 14 part 3): `dispatcher region import|export --oar`
//! on the data directory, and ImportOarRequest / ExportOarRequest on a running
//! host, against the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::*;

const PENROSE_OBJECT: &str = "18b10e15-3b7c-4036-8df8-6ba9c1dc2ec1";

fn penrose_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/penrose.oar")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs the binary on `dir`; (success, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run dispatcher");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn object_ids(dir: &Path) -> Vec<uuid::Uuid> {
    let store = dispatcher_store::Store::open(dir).expect("store");
    let region = store
        .list_regions()
        .expect("regions")
        .into_iter()
        .find(|r| r.name == REGION)
        .expect("region");
    store.load_objects(region.id).expect("objects").iter().map(|o| o.id()).collect()
}

#[test]
fn cli_imports_penrose_exports_it_and_the_export_imports_identically() {
    let dir = tempfile::tempdir().expect("tmp");
    seed(dir.path());
    let penrose = penrose_path();
    let (ok, out, err) = run(dir.path(), &["region", "import", "--oar", penrose.to_str().expect("path"), "--region", REGION]);
    assert!(ok, "{err}");
    assert!(out.contains("1 objects (1 parts), 10 assets, terrain yes, settings yes"), "{out}");
    assert_eq!(object_ids(dir.path()), vec![uuid::Uuid::parse_str(PENROSE_OBJECT).expect("id")]);

    let exported = dir.path().join("out.oar");
    let (ok, out, err) = run(dir.path(), &["region", "export", "--oar", exported.to_str().expect("path"), "--region", REGION]);
    assert!(ok, "{err}");
    assert!(out.contains("1 objects, 10 assets"), "{out}");

    let other = tempfile::tempdir().expect("tmp");
    seed(other.path());
    let (ok, out, err) = run(other.path(), &["region", "import", "--oar", exported.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.contains("1 objects (1 parts), 10 assets, terrain yes"), "{out}");
    let a = dispatcher_store::Store::open(dir.path()).expect("a");
    let b = dispatcher_store::Store::open(other.path()).expect("b");
    let id = |s: &dispatcher_store::Store| s.list_regions().expect("regions")[0].id;
    assert_eq!(a.load_objects(id(&a)).expect("a"), b.load_objects(id(&b)).expect("b"));
    assert_eq!(a.load_terrain(id(&a)).expect("a"), b.load_terrain(id(&b)).expect("b"));
    assert_eq!(a.archive_members(id(&a)).expect("a"), b.archive_members(id(&b)).expect("b"));
}

#[test]
fn cli_refuses_a_broken_archive_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    seed(dir.path());
    let penrose = penrose_path();
    let (ok, _, err) = run(dir.path(), &["region", "import", "--oar", penrose.to_str().expect("path")]);
    assert!(ok, "{err}");
    let bytes = std::fs::read(&penrose).expect("read");
    let cut = dir.path().join("cut.oar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let (ok, _, err) = run(dir.path(), &["region", "import", "--oar", cut.to_str().expect("path")]);
    assert!(!ok);
    assert!(err.contains("nothing was changed"), "{err}");
    let text = dir.path().join("text.oar");
    std::fs::write(&text, b"just text").expect("write");
    let (ok, _, err) = run(dir.path(), &["region", "import", "--oar", text.to_str().expect("path"), "--merge"]);
    assert!(!ok);
    assert!(err.contains("not a gzip file"), "{err}");
    assert_eq!(object_ids(dir.path()).len(), 1);
}

fn rc(kind: &str, cap: &str, extra: Value) -> Value {
    let mut v = json!({
        "$type": format!("RemoteControl.Messages.{kind}"),
        "_domain": "RemoteControl",
        "_scene": REGION,
        "_capability": cap,
        "_asyncrequest": false,
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

#[test]
fn protocol_import_and_export_for_the_owner_with_the_scene_matching_the_store() {
    let host = Host::start();
    let cap = host.capability(&["RemoteControl"]);
    let penrose = std::fs::read(penrose_path()).expect("read");
    let reply = host.call(&rc("ImportOarRequest", &cap, json!({"Archive": b64(&penrose)})));
    assert_eq!(reply["_Success"], 1, "{reply}");
    assert_eq!(reply["Objects"], 1, "{reply}");
    assert_eq!(reply["Assets"], 10, "{reply}");
    // The scene has the object at its archived place.
    let pos = host.call(&rc("GetObjectPositionRequest", &cap, json!({"ObjectID": PENROSE_OBJECT})));
    assert_eq!(pos["_Success"], 1, "{pos}");
    assert_eq!(pos["Position"], json!([5.0, 5.0, 30.0]), "{pos}");

    // A broken archive: a Failure naming the problem, the scene unchanged.
    let bad = host.call(&rc("ImportOarRequest", &cap, json!({"Archive": b64(b"not gzip")})));
    assert_eq!(bad["_Success"], 0, "{bad}");
    assert!(bad["_Message"].as_str().expect("message").contains("not a gzip file"), "{bad}");
    let pos = host.call(&rc("GetObjectPositionRequest", &cap, json!({"ObjectID": PENROSE_OBJECT})));
    assert_eq!(pos["_Success"], 1, "still there: {pos}");

    let export = host.call(&rc("ExportOarRequest", &cap, json!({})));
    assert_eq!(export["_Success"], 1, "{export}");
    assert_eq!(export["Objects"], 1);
    let archive = base64::engine::general_purpose::STANDARD
        .decode(export["Archive"].as_str().expect("Archive"))
        .expect("base64");
    assert_eq!(&archive[..2], &[0x1f, 0x8b], "gzip");

    // A manager (neither the estate owner nor a god) may do neither.
    let manager = host.create_capability(MANAGER, &["RemoteControl"], 300);
    let vcap = manager["Capability"].as_str().expect("cap");
    let refused = host.call(&rc("ExportOarRequest", vcap, json!({})));
    assert_eq!(refused["_Success"], 0, "{refused}");
    assert!(refused["_Message"].as_str().expect("m").contains("estate owner"), "{refused}");

    // What the host wrote is what a restart reads.
    let (_, dir) = host.stop();
    assert_eq!(object_ids(dir.path()), vec![uuid::Uuid::parse_str(PENROSE_OBJECT).expect("id")]);
}

/// The object ids of a reload snapshot (`Reload: true` on its first frame),
/// read up to its `Final` frame; the frames are counted.
fn reload_snapshot(ws: &mut crate::live::Ws) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut frames = 0;
    loop {
        let frame = crate::live::next(ws).expect("a snapshot frame after the import");
        assert_eq!(frame["$type"], "Dispatcher.Messages.ObjectSnapshot", "no per-object frames, one snapshot: {frame}");
        assert_eq!(frame["Reload"] == true, frames == 0, "Reload on the first frame only: {frame}");
        frames += 1;
        for o in frame["Objects"].as_array().expect("Objects") {
            ids.push(o["ObjectID"].as_str().expect("ObjectID").to_owned());
        }
        if frame["Final"] == true {
            return (ids, frames);
        }
    }
}

#[test]
fn a_protocol_import_reaches_event_stream_subscribers_as_one_snapshot() {
    let host = Host::start();
    let cap = host.capability(&["RemoteControl"]);
    let (mut ws, before) = crate::live::subscribed(&host, &cap, &["objects", "chat"], None);
    assert!(before.iter().all(|o| o["ObjectID"] != PENROSE_OBJECT), "{before:?}");

    let penrose = std::fs::read(penrose_path()).expect("read");
    let reply = host.call(&rc("ImportOarRequest", &cap, json!({"Archive": b64(&penrose)})));
    assert_eq!(reply["_Success"], 1, "{reply}");
    let (ids, frames) = reload_snapshot(&mut ws);
    assert_eq!(ids, vec![PENROSE_OBJECT.to_owned()]);
    assert_eq!(frames, 1);

    // 1,234 objects replace it: three snapshot frames, not 1,234 events.
    const OBJECTS: usize = 1_234;
    let archive = dispatcher_oar::generate::archive(OBJECTS).expect("generate");
    let reply = host.call(&rc("ImportOarRequest", &cap, json!({"Archive": b64(&archive)})));
    assert_eq!(reply["_Success"], 1, "{reply}");
    assert_eq!(reply["Objects"], OBJECTS, "{reply}");
    let (ids, frames) = reload_snapshot(&mut ws);
    assert_eq!(frames, OBJECTS.div_ceil(500));
    let mut want: Vec<String> = (0..OBJECTS)
        .map(|i| {
            dispatcher_oar::generate::object(i, uuid::Uuid::nil(), uuid::Uuid::nil())
                .id()
                .to_string()
        })
        .collect();
    let mut got = ids;
    want.sort();
    got.sort();
    assert_eq!(got, want, "the snapshot is the imported region, penrose gone");

    // A refused archive changes nothing and sends nothing: the next frame
    // is the chat line said after it.
    let bad = host.call(&rc("ImportOarRequest", &cap, json!({"Archive": b64(b"not gzip")})));
    assert_eq!(bad["_Success"], 0, "{bad}");
    let said = host.call(&rc("ChatRequest", &cap, json!({"Message": "after the imports", "Channel": 0})));
    assert_eq!(said["_Success"], 1, "{said}");
    let frame = crate::live::next(&mut ws).expect("the chat frame");
    assert_eq!(frame["$type"], "Dispatcher.Messages.ChatEvent", "{frame}");
    assert_eq!(frame["Text"], "after the imports", "{frame}");
}

/// Runs `dispatcher serve` on `dir` expecting a refusal; (stdout, stderr).
fn serve_refused(dir: &Path) -> (String, String) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--http-port", "0", "--udp-port", "0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let served = !eventually(std::time::Duration::from_secs(15), || matches!(child.try_wait(), Ok(Some(_))));
    if served {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait");
    assert!(!served && !out.status.success(), "a second host served the same data directory");
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Issue 14: a serving host holds `<data>/dispatcher.lock`; the store-writing
/// CLI commands and a second host are refused, naming its pid, with nothing
/// written; read-only commands still work; after `kill -9` the kernel has
/// dropped the lock (the file stays) and the CLI import goes through.
#[test]
fn store_writing_cli_and_a_second_host_are_refused_while_a_host_serves_then_proceed_after_kill9() {
    if grid_mode() {
        return; // grid mode's store is PostgreSQL: no data-directory lock
    }
    let mut host = Host::start();
    let dir = host.dir.path().to_path_buf();
    let pid = format!("pid {}", host.pid());
    let penrose = penrose_path();
    let penrose = penrose.to_str().expect("path");

    let (ok, out, err) = run(&dir, &["region", "import", "--oar", penrose, "--region", REGION]);
    assert!(!ok, "import ran beside the host: {out}");
    assert!(err.contains(&pid) && err.contains(&dir.display().to_string()), "{err}");
    assert!(err.contains("nothing was written") && err.contains("ImportOarRequest"), "{err}");
    assert!(object_ids(&dir).is_empty(), "the store was written");
    let cap = host.capability(&["RemoteControl"]);
    let pos = host.call(&rc("GetObjectPositionRequest", &cap, json!({"ObjectID": PENROSE_OBJECT})));
    assert_eq!(pos["_Success"], 0, "{pos}");

    for args in [
        &["user", "create", "--first", "Late", "--last", "Comer", "--password", "pw"][..],
        &["region", "create", "--name", "Late Isle"][..],
    ] {
        let (ok, out, err) = run(&dir, args);
        assert!(!ok, "{args:?} ran beside the host: {out}");
        assert!(err.contains(&pid) && err.contains("stop the host"), "{err}");
    }
    let (ok, out, err) = run(&dir, &["user", "list"]);
    assert!(ok, "{err}");
    assert!(!out.contains("Late Comer"), "{out}");
    let (ok, out, err) = run(&dir, &["region", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains(REGION) && !out.contains("Late Isle"), "{out}");

    let (_, err) = serve_refused(&dir);
    assert!(err.contains(&pid) && err.contains("already in use"), "{err}");
    // The host still serves.
    let pos = host.call(&rc("GetObjectPositionRequest", &cap, json!({"ObjectID": PENROSE_OBJECT})));
    assert_eq!(pos["_Success"], 0, "{pos}");

    host.kill9();
    assert!(dir.join("dispatcher.lock").exists(), "kill -9 leaves the file");
    let (ok, out, err) = run(&dir, &["region", "import", "--oar", penrose, "--region", REGION]);
    assert!(ok, "{err}");
    assert!(out.contains("1 objects (1 parts)"), "{out}");
    assert_eq!(object_ids(&dir), vec![uuid::Uuid::parse_str(PENROSE_OBJECT).expect("id")]);
}
