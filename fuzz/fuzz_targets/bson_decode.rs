//! BSON request bodies: parse into a value tree under the default caps, then
//! encode it and parse that again (the writer's output must always parse).
#![no_main]

use dispatcher_protocol::{bson, DecodeLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default();
    if let Ok(Some(value)) = bson::decode(data, &limits) {
        let bytes = bson::encode(&value);
        assert!(bson::looks_like_document(&bytes));
        assert!(bson::decode(&bytes, &limits).is_ok(), "written BSON does not parse");
    }
});
