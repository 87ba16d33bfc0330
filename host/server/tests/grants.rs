//! Every request type the host registers (the Dispatcher, RemoteControl and
//! Scripting domains, as `serve` wires them) declares a grant a script can
//! hold, or "dispatcher" (never grantable), and each type's grant is the one
//! its `Request` impl in dispatcher-messages declares.

use std::sync::Arc;

use dispatcher_server::config::HostConfig;
use dispatcher_store::{NewAccount, NewRegion, Store};

#[test]
fn every_registered_type_has_a_grantable_grant_or_dispatcher() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let owner = store
        .create_account(&NewAccount {
            first_name: "Grant".into(),
            last_name: "Owner".into(),
            password: "password".into(),
            ..Default::default()
        })
        .expect("account");
    store
        .create_region(&NewRegion {
            name: "Grants".into(),
            owner: owner.id,
            ..Default::default()
        })
        .expect("region");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut config = HostConfig {
        http_port: 0,
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    config.dispatcher.udp_port = 0;
    let running = runtime.block_on(dispatcher_server::serve::start(&config, store)).expect("start");

    let grants = running.dispatcher.registry().grants();
    let grantable: Vec<&str> = dispatcher_scripting::grants::GRANTABLE.iter().map(|(g, _)| *g).collect();
    for (type_name, grant) in &grants {
        assert!(
            *grant == "dispatcher" || grantable.contains(grant),
            "{type_name} declares {grant:?}, neither grantable nor \"dispatcher\""
        );
    }
    let grant_of = |name: &str| grants.iter().find(|(t, _)| t == name).map(|(_, g)| *g);
    // Every domain is there, each type once (9 Dispatcher with SubscribeRequest,
    // 8 Extensions, 39 RemoteControl, 9 Scripting).
    assert_eq!(grants.len(), 65, "{grants:?}");
    assert_eq!(
        grant_of("RemoteControl.Messages.ImportOarRequest"),
        Some("dispatcher"),
        "archives are never a script's"
    );
    assert_eq!(grant_of("RemoteControl.Messages.GetObjectPositionRequest"), Some("objects:read"));
    assert_eq!(grant_of("RemoteControl.Messages.AddAsset"), Some("assets:write"));
    assert_eq!(grant_of("Dispatcher.Messages.InfoRequest"), Some("region:read"));
    assert_eq!(grant_of("Dispatcher.Messages.CreateCapabilityRequest"), Some("dispatcher"));
    assert_eq!(grant_of("Dispatcher.Messages.SubscribeRequest"), Some("dispatcher"));
    assert_eq!(grant_of("Scripting.Messages.UploadScriptRequest"), Some("scripts"));
    assert_eq!(grant_of("Scripting.Messages.UpdateScriptRequest"), Some("scripts"));
    // The commit flag travels with the type.
    assert!(running.dispatcher.commits("RemoteControl.Messages.CreateObjectRequest"));
    assert!(running.dispatcher.commits("RemoteControl.Messages.AddAssetRequest"));
    assert!(!running.dispatcher.commits("RemoteControl.Messages.GetObjectPositionRequest"));
    assert!(!running.dispatcher.commits("RemoteControl.Messages.SetObjectPositionRequest"));
    runtime.block_on(running.stop());
}
