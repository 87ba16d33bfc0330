//! UDP datagrams: `Dispatcher::handle_datagram`, the function the UDP listener
//! calls on each datagram, in process. The pipeline is the real one (the
//! `Dispatcher` domain registered, authentication on); accounts and scenes come
//! from a small in-memory directory, callbacks go nowhere.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

use dispatcher_dispatch::endpoints::NullSink;
use dispatcher_dispatch::{Account, Directory, DirectoryError, Dispatcher, DispatcherConfig, SceneInfo};
use dispatcher_protocol::DecodeLimits;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

struct Dir;

impl Directory for Dir {
    fn scenes(&self) -> Result<Vec<SceneInfo>, DirectoryError> {
        Ok(vec![SceneInfo {
            id: Uuid::from_u128(1),
            name: "Harbor Island".into(),
            estate_owner: Uuid::from_u128(2),
            estate_managers: vec![],
        }])
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

fn dispatcher() -> &'static Dispatcher {
    static D: OnceLock<Dispatcher> = OnceLock::new();
    D.get_or_init(|| {
        let config = DispatcherConfig {
            max_async_threads: 1,
            ..DispatcherConfig::default()
        };
        Dispatcher::new(config, Arc::new(Dir), Arc::new(NullSink), DecodeLimits::default())
    })
}

fuzz_target!(|data: &[u8]| {
    // The listener drops anything over the IPv4 maximum before this call.
    if data.len() <= 65_507 {
        dispatcher().handle_datagram(data, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
});
