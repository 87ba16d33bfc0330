//! Extensions (extensions.md) from the callers' side, against the real binary:
//! the tutorial's `Greeter` (guest-examples/ext-tutorial) called with the
//! tutorial's curl session, over HTTP JSON and BSON, from the Python and Perl
//! client libraries and from a script (`ext-caller`, grant `ext:Greeter`); the
//! JavaScript extension `ext-notes` installed by a god for the whole host and
//! called from every client; and docs/extensions.md showing the tutorial's
//! files verbatim.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::scripting::{base64, guest, log_text, make_object, ok, request, upload, wait_log};
use crate::support::*;

const GREET: &str = "Greeter.Messages.GreetRequest";
const SECOND_REGION: &str = "Second Isle";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn extensions(host: &Host, cap: &str, kind: &str, extra: Value) -> Value {
    host.call(&request("Extensions", kind, cap, extra))
}

/// Install a guest from guest-examples/out (built on demand); returns the reply.
fn install(host: &Host, cap: &str, name: &str, scope: &str, grants: &[&str]) -> Value {
    let reply = extensions(
        host,
        cap,
        "InstallExtensionRequest",
        json!({ "Component": base64(&guest(name)), "Scope": scope, "Grants": grants, "Config": "" }),
    );
    assert_eq!(reply["_Success"], 1, "install {name}: {reply}");
    reply
}

/// Run a command to completion; panics with its output unless it succeeds.
fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The environment the client examples read.
fn client_env(host: &Host, command: &mut Command) {
    command
        .env("OPENSIM_DISPATCHER_URL", host.url("/Dispatcher/"))
        .env("OPENSIM_USER", "Ada Lovelace")
        .env("OPENSIM_PASSWORD", PASSWORD)
        .env("OPENSIM_SCENE", REGION);
}

/// `python3` with the client library on its path (it has no dependencies).
fn python(host: &Host) -> Command {
    let mut command = Command::new("python3");
    command.env("PYTHONPATH", repo().join("clients/python/src"));
    client_env(host, &mut command);
    command
}

/// `perl` with the client library on its path.
fn perl(host: &Host) -> Command {
    let mut command = Command::new("perl");
    command.arg("-I").arg(repo().join("clients/perl/lib"));
    client_env(host, &mut command);
    command
}

/// The `<!-- example: PATH -->` blocks of a document: (path, code shown).
fn example_blocks(doc: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find("<!-- example: ") {
        let after = &rest[start + "<!-- example: ".len()..];
        let (path, tail) = after.split_once(" -->\n```").expect("example marker followed by a code fence");
        let (_lang, body) = tail.split_once('\n').expect("fence line");
        let end = body.find("```\n").expect("closing fence");
        blocks.push((path.to_owned(), body[..end].to_owned()));
        rest = &body[end..];
    }
    blocks
}

#[test]
fn extensions_clients_docs_show_the_tutorial_files_verbatim() {
    let doc = std::fs::read_to_string(repo().join("docs/extensions.md")).expect("docs/extensions.md");
    let blocks = example_blocks(&doc);
    let shown: Vec<&str> = blocks.iter().map(|(path, _)| path.as_str()).collect();
    for required in [
        "guest-examples/ext-tutorial/Cargo.toml",
        "guest-examples/ext-tutorial/src/lib.rs",
        "guest-examples/ext-tutorial/tutorial.sh",
        "clients/python/examples/greet.py",
        "guest-examples/ext-caller/src/lib.rs",
    ] {
        assert!(shown.contains(&required), "docs/extensions.md does not show {required}");
    }
    for (path, code) in &blocks {
        let file = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(&file, code, "docs/extensions.md is out of date for {path}");
    }
}

/// The tutorial end to end: its curl session installs the Greeter as the
/// estate owner and greets; then JSON, BSON, Python, Perl and a script call
/// the same domain and see the same per-region count go up by one each.
#[test]
fn extensions_clients_tutorial_from_curl_http_bson_python_perl_and_a_script() {
    let host = Host::start();
    let component = guest("ext-tutorial");
    assert!(!component.is_empty());

    // 1. The tutorial's own curl session, verbatim.
    let out = run(Command::new("sh")
        .arg(repo().join("guest-examples/ext-tutorial/tutorial.sh"))
        .env("DISPATCHER_URL", host.url("/Dispatcher/"))
        .env("REGION", REGION)
        .env("COMPONENT", repo().join("guest-examples/out/ext-tutorial.wasm")));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let installed: Value = serde_json::from_str(lines[0]).expect("install reply is JSON");
    assert_eq!(installed["_Success"], 1, "{out}");
    assert_eq!(installed["Domain"], "Greeter");
    let greeted: Value = serde_json::from_str(lines[1]).expect("greeting is JSON");
    assert_eq!(greeted["$type"], "Greeter.Messages.GreetResponse", "{out}");
    assert_eq!(greeted["Greeting"], "Hello, curl!");
    assert_eq!(greeted["Count"], 1);

    // 2. Over HTTP JSON, then BSON (the reply in the request's encoding).
    let cap = host.capability(&["Dispatcher", "RemoteControl", "Scripting", "Extensions", "Greeter"]);
    let reply = ok(host.call(&request("Greeter", "GreetRequest", &cap, json!({ "Name": "JSON" }))));
    assert_eq!((reply["Greeting"].as_str(), reply["Count"].as_i64()), (Some("Hello, JSON!"), Some(2)));
    let mut doc = bson::Document::new();
    doc.insert("$type", GREET);
    doc.insert("_domain", "Greeter");
    doc.insert("_scene", REGION);
    doc.insert("_capability", cap.clone());
    doc.insert("Name", "BSON");
    let reply = host.call_bson(&doc);
    assert_eq!(reply.get_str("Greeting").ok(), Some("Hello, BSON!"), "{reply}");
    assert_eq!(reply.get_i32("Count").ok().map(i64::from).or(reply.get_i64("Count").ok()), Some(3), "{reply}");
    // The extension's err(text) is a Failure carrying the text.
    let refused = host.call(&request("Greeter", "GreetRequest", &cap, json!({ "Name": "x".repeat(65) })));
    assert_eq!(refused["_Success"], 0, "{refused}");
    assert_eq!(refused["_Message"], "Name is longer than 64 characters");
    // A capability without the domain is refused, as for RemoteControl.
    let narrow = host.capability(&["RemoteControl"]);
    let refused = host.call(&request("Greeter", "GreetRequest", &narrow, json!({ "Name": "no" })));
    assert_eq!(refused["_Success"], 0, "{refused}");

    // 3. The Python client's tutorial example (docs/extensions.md step 5).
    let out = run(python(&host).arg(repo().join("clients/python/examples/greet.py")).arg("Python"));
    assert!(out.contains("Hello, Python! (greeting number 4 in Harbor Island)"), "{out}");

    // 4. The Perl client's example.
    let out = run(perl(&host).arg(repo().join("clients/perl/examples/greet.pl")).arg("Perl"));
    assert!(out.contains("Hello, Perl! (greeting number 5 in Harbor Island)"), "{out}");

    // 5. A script with the grant ext:Greeter (docs/extensions.md step 6).
    let object = make_object(&host, &cap);
    let script = ok(upload(&host, &cap, &object, &guest("ext-caller"), &["ext:Greeter"], "Script"));
    let script = script["ScriptID"].as_str().expect("ScriptID").to_owned();
    assert!(
        wait_log(&host, &cap, &script, "Greeter says \"Hello, Script!\" (greeting number 6)"),
        "{}",
        log_text(&host, &cap, &script)
    );
    // Without the grant the request never reaches the extension.
    let denied = ok(upload(&host, &cap, &object, &guest("ext-caller"), &[], "Denied"));
    let denied = denied["ScriptID"].as_str().expect("ScriptID").to_owned();
    assert!(
        wait_log(&host, &cap, &denied, "cannot call Greeter: Error::NotPermitted(\"ext:Greeter not granted\")"),
        "{}",
        log_text(&host, &cap, &denied)
    );
    let count = ok(host.call(&request("Greeter", "GreetRequest", &cap, json!({ "Name": "after" }))));
    assert_eq!(count["Count"], 7, "the refused script's call was not counted: {count}");
}

/// The JavaScript extension, installed once by a god for the whole host
/// (BSON, binary Component, from the Python client), called over HTTP and
/// from the Python and Perl clients; notes are kept per region.
#[test]
fn extensions_clients_js_notes_installed_by_a_god_for_every_region() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ids = seed(dir.path());
    cli(dir.path(), &["region", "create", "--name", SECOND_REGION, "--owner", "Ada Lovelace"]);
    // A god gets a capability for a region they hold no estate role in only
    // as a grid manager.
    let host = Host::launch(dir, ids, "[Dispatcher]\nGrantGridManagersAccess = true\nGridManagerAccessLevel = 200\n");
    let notes = guest("ext-notes");
    assert!(notes.len() > 1_000_000, "a componentize-js component");

    // Install from the Python client as the god, over BSON (Component binary).
    let install = format!(
        r#"
import sys
from opensim_dispatcher import Client, Credentials
with Client.connect(sys.argv[1], Credentials.from_name("Grace God", "{PASSWORD}"), scene="{REGION}",
                    encoding="bson", timeout_seconds=300) as god:
    with open(sys.argv[2], "rb") as f:
        reply = god.install_extension(f.read(), scope="", grants=["storage"])
    print(reply.extension_id, reply.domain, reply.state, " ".join(reply.message_types))
"#
    );
    let out = run(python(&host)
        .arg("-c")
        .arg(install)
        .arg(host.url("/Dispatcher/"))
        .arg(repo().join("guest-examples/out/ext-notes.wasm")));
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.get(1..3), Some(&["Notes", "running"][..]), "{out}");
    assert!(
        words.contains(&"Notes.Messages.AddNoteRequest") && words.contains(&"Notes.Messages.ListNotesRequest"),
        "{out}"
    );

    // The estate owner adds a note over HTTP JSON ...
    let cap = host.capability(&["Dispatcher", "Extensions", "Notes"]);
    let added = ok(host.call(&request("Notes", "AddNoteRequest", &cap, json!({ "Text": "from curl" }))));
    assert_eq!((added["NoteID"].as_i64(), added["Count"].as_i64()), (Some(1), Some(1)), "{added}");
    // ... bad input is the extension's err, as a Failure with its text ...
    let refused = host.call(&request("Notes", "AddNoteRequest", &cap, json!({ "Text": "" })));
    assert_eq!(refused["_Success"], 0, "{refused}");
    assert_eq!(refused["_Message"], "Text must be a non-empty string");

    // ... then from Python and from Perl with the generic call.
    let py = r#"
from opensim_dispatcher import DEFAULT_DOMAINS, Client, Credentials
import os
with Client.connect(os.environ["OPENSIM_DISPATCHER_URL"], Credentials.from_name("Ada Lovelace", "password"),
                    scene=os.environ["OPENSIM_SCENE"], domains=[*DEFAULT_DOMAINS, "Notes"]) as client:
    reply = client.call("Notes.Messages.AddNoteRequest", {"Text": "from python"})
    print("added", reply["NoteID"], reply["Count"])
"#;
    let out = run(python(&host).arg("-c").arg(py));
    assert!(out.contains("added 2 2"), "{out}");
    let pl = r#"
use v5.36;
use OpenSim::Dispatcher;
my $client = OpenSim::Dispatcher->connect(url => $ENV{OPENSIM_DISPATCHER_URL}, user => 'Ada Lovelace',
    password => 'password', scene => $ENV{OPENSIM_SCENE},
    domains => [@OpenSim::Dispatcher::DEFAULT_DOMAINS, 'Notes']);
my $reply = $client->call('Notes.Messages.AddNoteRequest', { Text => 'from perl' });
say "added $reply->{NoteID} $reply->{Count}";
my $list = $client->call('Notes.Messages.ListNotesRequest', { Limit => 2 });
say 'last two: ', join(' | ', map { $_->{Text} } @{ $list->{Notes} });
$client->close;
"#;
    let out = run(perl(&host).arg("-e").arg(pl));
    assert!(out.contains("added 3 3"), "{out}");
    assert!(out.contains("last two: from python | from perl"), "{out}");

    // Every note names its author; the other region has its own (empty) list.
    let list = ok(host.call(&request("Notes", "ListNotesRequest", &cap, json!({}))));
    let texts: Vec<&str> = list["Notes"]
        .as_array()
        .expect("Notes")
        .iter()
        .filter_map(|n| n["Text"].as_str())
        .collect();
    assert_eq!(texts, ["from curl", "from python", "from perl"], "{list}");
    assert!(
        list["Notes"]
            .as_array()
            .expect("Notes")
            .iter()
            .all(|n| n["Author"] == "Ada Lovelace" && n["AuthorID"] == host.ids["Ada"].as_str()),
        "{list}"
    );
    // Capabilities are bound to a scene: one for the second region.
    let second_cap = host.call(&json!({
        "$type": "Dispatcher.Messages.CreateCapabilityRequest", "_domain": "Dispatcher", "_scene": SECOND_REGION,
        "firstname": OWNER.0, "lastname": OWNER.1, "hashedpasswd": PASSWORD_MD5, "lifespan": 300,
        "domainlist": ["Dispatcher", "Notes"],
    }));
    let second_cap = second_cap["Capability"]
        .as_str()
        .expect("a capability for the second region")
        .to_owned();
    let mut second = request("Notes", "ListNotesRequest", &second_cap, json!({}));
    second["_scene"] = json!(SECOND_REGION);
    let other = host.call(&second);
    assert_eq!(other["_Success"], 1, "{other}");
    assert_eq!(other["Count"], 0, "{other}");

    // MessageFormatRequest knows the JavaScript domain's defaults.
    let format = host.call(&json!({
        "$type": "Dispatcher.Messages.MessageFormatRequest", "_domain": "Dispatcher", "MessageName": "Notes.Messages.AddNoteRequest",
    }));
    assert_eq!(format["_Success"], 1, "{format}");
    let sample: Value = serde_json::from_str(format["SampleMessage"].as_str().expect("SampleMessage")).expect("sample JSON");
    assert_eq!(sample["Text"], "", "{format}");

    // Listed, with its counters.
    let god = host.create_capability(GOD, &["Extensions"], 300);
    let god = god["Capability"].as_str().expect("god capability").to_owned();
    let listed = ok(extensions(&host, &god, "ListExtensionsRequest", json!({})));
    let record = listed["Extensions"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["Domain"] == "Notes"))
        .cloned()
        .unwrap_or_else(|| panic!("Notes not listed: {listed}"));
    assert_eq!(record["InstalledBy"], host.ids["Grace"].as_str(), "{record}");
    assert!(eventually(Duration::from_secs(5), || {
        let status = extensions(&host, &god, "GetExtensionStatusRequest", json!({ "ExtensionID": record["ExtensionID"] }));
        let status = status.get("Status").cloned().unwrap_or(status);
        status["RequestsHandled"].as_i64().unwrap_or(0) >= 6
    }));
}

/// Installing as the estate owner for a region, and the install refusals a
/// caller sees (nothing stored).
#[test]
fn extensions_clients_install_rights_and_refusals() {
    let host = Host::start();
    let cap = host.capability(&["Extensions", "Greeter"]);
    // The estate owner may not install for the whole host.
    let whole = extensions(
        &host,
        &cap,
        "InstallExtensionRequest",
        json!({ "Component": base64(&guest("ext-tutorial")), "Scope": "", "Grants": ["storage"] }),
    );
    assert_eq!(whole["_Success"], 0, "{whole}");
    // Not a component.
    let junk = extensions(
        &host,
        &cap,
        "InstallExtensionRequest",
        json!({ "Component": base64(b"\0asm\x01\0\0\0"), "Scope": REGION }),
    );
    assert_eq!(junk["_Success"], 0, "{junk}");
    // A script is not an extension (wrong world).
    let script = extensions(
        &host,
        &cap,
        "InstallExtensionRequest",
        json!({ "Component": base64(&guest("ext-caller")), "Scope": REGION }),
    );
    assert_eq!(script["_Success"], 0, "{script}");
    let listed = ok(extensions(&host, &cap, "ListExtensionsRequest", json!({})));
    assert_eq!(listed["Extensions"].as_array().map(Vec::len), Some(0), "nothing stored: {listed}");
    // For its own region it may, once; the same domain twice is refused.
    let first = install(&host, &cap, "ext-tutorial", REGION, &["storage"]);
    assert_eq!(first["State"], "running");
    let twice = extensions(
        &host,
        &cap,
        "InstallExtensionRequest",
        json!({ "Component": base64(&guest("ext-tutorial")), "Scope": REGION }),
    );
    assert_eq!(twice["_Success"], 0, "{twice}");
    let reply = ok(host.call(&request("Greeter", "GreetRequest", &cap, json!({}))));
    assert_eq!(reply["Greeting"], "Hello, Ada!");
}
