//! The dashboard (live.md §3) in a real headless Chromium driven over
//! WebDriver: sign in, the region's objects on the map, a move over HTTP seen
//! on the map within 1 s, a touch's log line, a script stopped with its
//! button, the message shown when the host goes away. Screenshots of each
//! view are kept in target/test-artefacts/dashboard/.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::scripting::{make_object, ok, rc, sc, upload_ok, wait_log, DOMAINS};
use crate::support::*;
use crate::webdriver::Browser;

fn artefact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artefacts/dashboard")
        .join(name)
}

/// Whether the map shows an object's marker (its colour) at region
/// coordinates `x`, `y`.
const MARKER_AT: &str = "const c = document.getElementById('map');
    const s = c.width / 256;
    const d = c.getContext('2d').getImageData(Math.round(arguments[0] * s), Math.round((256 - arguments[1]) * s), 1, 1).data;
    return d[0] === 0x1d && d[1] === 0x3f && d[2] === 0x8f;";

/// What the page says (sign-in error, connection line), for failure messages.
fn page_messages(browser: &Browser) -> Value {
    browser.eval(
        "return [document.getElementById('login-error').textContent, document.getElementById('connection').textContent];",
        &[],
    )
}

#[test]
fn dashboard_sign_in_map_moves_touch_log_and_stop_in_a_real_browser() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let object = make_object(&host, &cap);
    let script = upload_ok(&host, &cap, &object, "touch-lift", &["objects:read", "objects:write"], "");
    assert!(wait_log(&host, &cap, &script, "touch-lift ready"));

    let browser = Browser::start();
    browser.goto(&host.url("/"));
    browser
        .wait_until(
            Duration::from_secs(10),
            "return document.getElementById('first-name') === document.activeElement;",
            &[],
        )
        .expect("the sign-in form has the focus");
    browser.screenshot(&artefact("1-sign-in.png"));

    // A wrong password: a clear message, still on the form.
    browser.type_into("#first-name", OWNER.0);
    browser.type_into("#last-name", OWNER.1);
    browser.type_into("#password", "wrong");
    browser.click("#login-button");
    browser
        .wait_until(
            Duration::from_secs(10),
            "return document.getElementById('login-error').textContent.startsWith('Cannot sign in');",
            &[],
        )
        .expect("a refused sign-in is explained");
    browser.eval("document.getElementById('password').value = '';", &[]);
    browser.type_into("#password", PASSWORD);
    browser.click("#login-button");
    browser
        .wait_until(Duration::from_secs(10), "return !document.getElementById('region-view').hidden;", &[])
        .unwrap_or_else(|| panic!("not signed in: {}", page_messages(&browser)));

    // The region's object on the map, at the region centre.
    browser
        .wait_until(Duration::from_secs(10), MARKER_AT, &[json!(128.0), json!(128.0)])
        .expect("the object's marker on the map");
    let listed = browser.eval("return Array.from(document.querySelectorAll('#object-list button')).map(b => b.dataset.id);", &[]);
    assert_eq!(listed, json!([object]));
    browser.screenshot(&artefact("2-map.png"));

    // Moved over HTTP: the marker follows within 1 s.
    ok(rc(
        &host,
        &cap,
        "SetObjectPositionRequest",
        json!({ "ObjectID": object, "Position": [200.0, 60.0, 25.0] }),
    ));
    let took = browser
        .wait_until(Duration::from_secs(1), MARKER_AT, &[json!(200.0), json!(60.0)])
        .expect("the marker moved within 1 s");
    println!("marker moved {} ms after the reply", took.as_millis());
    assert_eq!(browser.eval(MARKER_AT, &[json!(128.0), json!(128.0)]), Value::Bool(false), "the old marker is gone");

    // Object details from a click in the list.
    browser.click("#object-list button");
    browser
        .wait_until(
            Duration::from_secs(5),
            "return document.querySelector(\"#details [data-field='Name']\")?.textContent === 'scripted box';",
            &[],
        )
        .expect("the object's details");
    browser.screenshot(&artefact("3-object.png"));

    // The script's live log shows the touch.
    browser
        .wait_until(Duration::from_secs(5), "return document.querySelectorAll('#scripts tbody tr').length === 1;", &[])
        .expect("the script is listed");
    browser.click("button[data-action='log']");
    browser
        .wait_until(
            Duration::from_secs(5),
            "return document.getElementById('log').textContent.includes('touch-lift ready');",
            &[],
        )
        .expect("the log so far");
    let avatar = host.ids[OWNER.0].clone();
    ok(rc(
        &host,
        &cap,
        "TouchObjectRequest",
        json!({ "ObjectID": object, "AvatarID": avatar, "LinkNum": 0 }),
    ));
    browser
        .wait_until(Duration::from_secs(5), "return document.getElementById('log').textContent.includes('now at');", &[])
        .expect("the touch's log line");
    browser.screenshot(&artefact("4-log.png"));

    // Stopped with its button: the state changes on the page and on the host.
    browser.click("button[data-action='stop']");
    browser
        .wait_until(
            Duration::from_secs(5),
            "return document.querySelector(\"#scripts td[data-field='State']\")?.textContent === 'stopped';",
            &[],
        )
        .expect("the script shows stopped");
    let status = ok(sc(&host, &cap, "GetScriptStatusRequest", json!({ "ScriptID": script })));
    assert_eq!(status["State"], "stopped");
    browser.screenshot(&artefact("5-stopped.png"));

    // The host goes away: the page says so.
    let _ = host.stop();
    browser
        .wait_until(
            Duration::from_secs(10),
            "return document.getElementById('connection').classList.contains('bad');",
            &[],
        )
        .expect("the page says the host is unreachable");
    let said = browser.eval("return document.getElementById('connection').textContent;", &[]);
    assert!(
        said.as_str()
            .is_some_and(|t| t.contains("reconnecting") || t.contains("unreachable")),
        "{said}"
    );
    browser.screenshot(&artefact("6-unreachable.png"));
}

#[test]
fn dashboard_files_are_served_with_their_types_and_policy() {
    let host = Host::start();
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/dashboard/", "text/html; charset=utf-8"),
        ("/dashboard/app.js", "text/javascript; charset=utf-8"),
        ("/dashboard/md5.js", "text/javascript; charset=utf-8"),
        ("/dashboard/style.css", "text/css; charset=utf-8"),
        ("/dashboard/config.json", "application/json"),
    ] {
        let ex = host.get(path);
        assert_eq!(ex.status, 200, "{path}");
        assert_eq!(ex.content_type, content_type, "{path}");
        assert!(!ex.body.is_empty(), "{path}");
    }
    let config = host.get("/dashboard/config.json").json();
    assert_eq!(config["dispatcherPath"], "/Dispatcher/");
    let head = host.raw_http(b"HEAD /dashboard/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-security-policy: default-src 'none'"), "{head}");
    assert!(head.to_ascii_lowercase().contains("x-content-type-options: nosniff"), "{head}");
    assert!(!head.contains("<html"), "HEAD has no body: {head}");
    let post = host.post("/dashboard/", Some("text/plain"), b"x");
    assert_eq!(post.status, 405);
    assert_eq!(host.get("/dashboard/nothing-here").status, 404);
    assert_eq!(host.get("/dashboard/../Cargo.toml").status, 404);
}
