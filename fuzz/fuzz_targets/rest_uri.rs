//! REST request paths: service selection and segment decoding (`uri::route`),
//! for each escape mode, under a few prefixes.
#![no_main]

use dispatcher_rest::uri::{encode_segment, route, Service};
use libfuzzer_sys::fuzz_target;

const ALL: [Service; 4] = [Service::Inventory, Service::Assets, Service::Appearance, Service::Files];

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else { return };
    for prefix in ["/admin", "", "/a%20b"] {
        for extended in [false, true] {
            if let Some(routed) = route(prefix, path, extended, &ALL) {
                for p in &routed.params {
                    let _ = encode_segment(p);
                }
            }
        }
    }
});
