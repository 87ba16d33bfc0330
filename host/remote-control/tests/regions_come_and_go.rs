//! Grid mode hosts only the regions it leases: a region added at run time is
//! loaded from the store with what an earlier host committed and answers
//! requests; a removed region answers no more, and a graceful removal commits
//! its pending motion first.

use std::sync::Arc;

use dispatcher_dispatch::endpoints::NullSink;
use dispatcher_dispatch::{Account, Directory, DirectoryError, Dispatcher, DispatcherConfig, SceneInfo};
use dispatcher_protocol::DecodeLimits;
use dispatcher_remote_control::messages::object::GetObjectPositionRequest;
use dispatcher_remote_control::{RegionSelection, RemoteControl, RemoteControlLimits, DEFAULT_DOMAIN};
use dispatcher_scene::{RezParams, SceneLimits, Uuid, Vector3};
use dispatcher_store::{NewRegion, Store};

struct NoDirectory;

impl Directory for NoDirectory {
    fn scenes(&self) -> Result<Vec<SceneInfo>, DirectoryError> {
        Ok(Vec::new())
    }
    fn account_by_id(&self, _: Uuid) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
    fn account_by_name(&self, _: &str, _: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
    fn account_by_email(&self, _: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
}

fn domain(store: &Arc<Store>) -> (Dispatcher, Arc<RemoteControl>) {
    let dispatcher = Dispatcher::new(DispatcherConfig::default(), Arc::new(NoDirectory), Arc::new(NullSink), DecodeLimits::default());
    let rc = RemoteControl::load_selected(
        store.clone(),
        dispatcher.services().clone(),
        SceneLimits::default(),
        RemoteControlLimits::default(),
        RegionSelection::None,
    )
    .expect("load");
    rc.register(dispatcher.registry(), DEFAULT_DOMAIN);
    (dispatcher, rc)
}

#[test]
fn a_region_added_at_run_time_serves_and_a_removed_one_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let info = store
        .create_region(&NewRegion {
            name: "Moving Region".into(),
            owner: Uuid::new_v4(),
            ..Default::default()
        })
        .expect("region");
    let type_name = <GetObjectPositionRequest as dispatcher_protocol::MessageType>::TYPE_NAME;

    // First host: nothing until the region is added.
    let (dispatcher, rc) = domain(&store);
    assert!(rc.region("Moving Region").is_none());
    assert!(dispatcher.registry().lookup("Moving Region", DEFAULT_DOMAIN, type_name).is_none());
    let host = rc.add_region(dispatcher.registry(), DEFAULT_DOMAIN, &info).expect("add");
    assert!(dispatcher.registry().lookup("Moving Region", DEFAULT_DOMAIN, type_name).is_some());
    assert!(rc.add_region(dispatcher.registry(), DEFAULT_DOMAIN, &info).is_err(), "added twice");

    // An object is created (committed), then moves (write-behind only).
    let fixture = format!("{}/../scene/tests/fixtures/penrose_assets_region_object.xml", env!("CARGO_MANIFEST_DIR"));
    let template = dispatcher_scene::parse_object(&std::fs::read(fixture).expect("fixture"), &SceneLimits::default()).expect("parse");
    let object = {
        let mut region = host.region.write();
        let params = RezParams {
            position: Vector3::new(1.0, 2.0, 3.0),
            ..Default::default()
        };
        let id = region.rez_object(&template, &params, &mut Uuid::new_v4).expect("rez").0;
        let saved = region.object(id).expect("object").clone();
        rc.persist.save_objects(host.id, std::slice::from_ref(&saved)).expect("save");
        region.set_object_position(id, Vector3::new(50.0, 60.0, 70.0)).expect("move");
        id
    };
    host.dirty.lock().insert(object);

    // Graceful removal commits the motion and unregisters the handlers.
    assert!(rc
        .remove_region(dispatcher.registry(), DEFAULT_DOMAIN, "Moving Region", true)
        .is_some());
    assert!(rc.region("Moving Region").is_none());
    assert!(dispatcher.registry().lookup("Moving Region", DEFAULT_DOMAIN, type_name).is_none());
    assert!(rc
        .remove_region(dispatcher.registry(), DEFAULT_DOMAIN, "Moving Region", true)
        .is_none());

    // A second host takes the region over and sees the moved object.
    let (dispatcher2, rc2) = domain(&store);
    let host2 = rc2.add_region(dispatcher2.registry(), DEFAULT_DOMAIN, &info).expect("take over");
    let region = host2.region.read();
    let p = region.object(object).expect("object restored").position;
    assert_eq!((p.x, p.y, p.z), (50.0, 60.0, 70.0));
}
