//! JSON request bodies: parse into a value tree under the default caps, then
//! write it back and parse that again (the writer's output must always parse).
#![no_main]

use dispatcher_protocol::{json, DecodeLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default();
    if let Ok(Some(value)) = json::decode(data, &limits) {
        let text = json::to_string(&value);
        assert!(json::decode(text.as_bytes(), &limits).is_ok(), "written JSON does not parse: {text}");
    }
});
