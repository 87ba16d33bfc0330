//! REST inventory benchmark (issue "REST inventory and asset interface"): a
//! whole 2,000-item inventory read (GET), written back unchanged (PUT), and
//! one item path looked up (GET, a redirect to its asset), through `RestService::handle` in process on a real
//! store. A plain program (`harness = false`):
//! `cargo bench -p dispatcher-rest --bench rest`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use dispatcher_rest::{RestConfig, RestRequest, RestResponse, RestService};
use dispatcher_scene::{AssetType, Inventory, InventoryItem, Permissions, SceneLimits};
use dispatcher_store::{NewAccount, Store};
use uuid::Uuid;

const ITEMS: usize = 2_000;
const INV: &str = "/admin/inventory/Test%20User";

fn call(svc: &RestService, method: &str, path: &str, body: &[u8]) -> RestResponse {
    let req = RestRequest {
        method: method.into(),
        path: path.into(),
        headers: vec![
            ("Host".into(), "example.org:9000".into()),
            ("Authorization".into(), format!("Basic {}", B64.encode("Test User:password"))),
        ],
        body: body.to_vec(),
        body_too_large: false,
        peer: "127.0.0.1:5000".parse().expect("addr"),
    };
    svc.handle(&req)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn timed(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let account = store
        .create_account(&NewAccount {
            first_name: "Test".into(),
            last_name: "User".into(),
            password: "password".into(),
            ..Default::default()
        })
        .expect("account");
    let mut inventory = Inventory::standard(account.id, &mut Uuid::new_v4);
    let folders: Vec<Uuid> = inventory.folders().map(|f| f.id).collect();
    let limits = SceneLimits::default();
    for n in 0..ITEMS {
        let item = InventoryItem {
            id: Uuid::new_v4(),
            folder_id: folders[n % folders.len()],
            owner_id: account.id,
            creator_id: account.id.to_string(),
            name: format!("item {n}"),
            description: format!("benchmark item number {n}"),
            asset_id: Uuid::new_v4(),
            asset_type: AssetType::Notecard,
            inv_type: 7,
            permissions: Permissions::default(),
            group_id: Uuid::nil(),
            group_owned: false,
            sale_type: 0,
            sale_price: 0,
            flags: 0,
            creation_date: 1_700_000_000 + n as i64,
        };
        inventory.upsert_item(item, &limits).expect("item");
    }
    store.create_inventory(&inventory).expect("inventory");
    // One item addressed by folder and item name.
    let one = inventory
        .items()
        .skip(ITEMS / 2)
        .find(|i| i.folder_id != inventory.root_id())
        .expect("an item outside the root");
    let folder = inventory.folder(one.folder_id).map(|f| f.name.clone()).expect("its folder");
    let item_path = format!("{INV}/{}/{}", folder.replace(' ', "%20"), one.name.replace(' ', "%20"));
    let svc = RestService::new(
        RestConfig {
            plugins_enabled: true,
            handler_enabled: true,
            ..RestConfig::default()
        },
        store,
    );

    let whole = call(&svc, "GET", INV, b"");
    assert_eq!(whole.status, 200, "{}", String::from_utf8_lossy(&whole.body));
    let get = timed(20, || assert_eq!(call(&svc, "GET", INV, b"").status, 200));
    // The whole document goes back over the root folder.
    let root = format!("{INV}/My%20Inventory");
    let put = timed(10, || {
        let r = call(&svc, "PUT", &root, &whole.body);
        assert!(r.status < 300, "{} {}", r.status, String::from_utf8_lossy(&r.body));
    });
    let after = call(&svc, "GET", INV, b"");
    assert_eq!(after.body, whole.body, "PUT of the GET body changed the inventory");
    let get_one = timed(200, || assert_eq!(call(&svc, "GET", &item_path, b"").status, 301));
    println!("dispatcher-rest benchmarks ({ITEMS}-item inventory, {} KiB of XML)", whole.body.len() / 1024);
    println!("GET whole inventory: median {:.1} ms (20 runs)", ms(get));
    println!(
        "PUT it back unchanged: median {:.1} ms (10 runs) = {:.1} x the GET",
        ms(put),
        put.as_secs_f64() / get.as_secs_f64()
    );
    println!(
        "GET one item path (answered 301 to its asset): median {:.3} ms (200 runs) = 1/{:.0} of the whole GET",
        ms(get_one),
        get.as_secs_f64() / get_one.as_secs_f64()
    );
}
