//! The `dispatcher` binary as a client of a running host (issue: command line).

use std::process::Command;

use crate::support::*;

fn client(host: &Host, args: &[&str]) -> (bool, String, String) {
    let url = host.url("/Dispatcher/");
    let out = Command::new(BIN)
        .args(args)
        .args(["--url", &url])
        .env_remove("DISPATCHER_PASSWORD")
        .output()
        .expect("run dispatcher");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_info_lists_bindings_scenes_and_messages() {
    let host = Host::start();
    let (ok, out, err) = client(&host, &["info"]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("synchronous binding:  http://{}/Dispatcher/", host.http)), "{out}");
    assert!(out.contains(&format!("scene: {REGION}")), "{out}");
    assert!(out.contains("message: Dispatcher::Dispatcher.Messages.RenewCapabilityRequest"), "{out}");
}

#[test]
fn cli_wrong_password_says_why() {
    let host = Host::start();
    let (ok, _, err) = client(&host, &["object", "find", ".*", "--user", "Ada Lovelace", "--password", "nope"]);
    assert!(!ok);
    assert!(err.contains("failed to authenticate user"), "{err}");
}

#[test]
fn cli_unreachable_host_says_what_to_do() {
    let out = Command::new(BIN)
        .args(["info", "--url", "http://127.0.0.1:9/Dispatcher/"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is `dispatcher serve` running there?"), "{err}");
}

#[test]
fn cli_missing_password_is_explained() {
    let host = Host::start();
    let (ok, _, err) = client(&host, &["object", "find", "x", "--user", "Ada Lovelace"]);
    assert!(!ok);
    assert!(err.contains("give --password or set DISPATCHER_PASSWORD"), "{err}");
}

#[test]
fn cli_user_create_gives_the_account_a_standard_inventory() {
    let dir = tempfile::tempdir().expect("tmp");
    let with = cli(dir.path(), &["user", "create", "--first", "Inv", "--last", "Holder", "--password", "pw"]);
    let without = cli(
        dir.path(),
        &["user", "create", "--first", "No", "--last", "Inventory", "--password", "pw", "--no-inventory"],
    );
    let store = dispatcher_store::Store::open(dir.path()).expect("store");
    let id = |s: &str| uuid::Uuid::parse_str(s).expect("uuid");
    let inventory = store.inventory(id(&with)).expect("read").expect("an inventory");
    assert!(inventory.folders().count() > 1, "standard folders expected");
    assert!(store.inventory(id(&without)).expect("read").is_none());
}
