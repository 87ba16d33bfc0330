//! The pipeline's first steps on any body: `decode_request` (first byte picks
//! JSON or BSON), then binding the request to typed messages of several kinds
//! with the protocol's leniency, as handlers do.
#![no_main]

use dispatcher_messages::dispatcher::{
    CreateCapabilityRequest, CreateEndPointRequest, InfoRequest, MessageFormatRequest, RenewCapabilityRequest,
};
use dispatcher_messages::remote_control::event::RegisterUpdatedCallbackRequest;
use dispatcher_messages::remote_control::object::{BulkDynamicsRequest, CreateObjectRequest, FindObjectsRequest, SetObjectPositionRequest};
use dispatcher_protocol::{decode_request, DecodeLimits, DecodedRequest, Encoding, Envelope};
use libfuzzer_sys::fuzz_target;

fn bind_all(d: &DecodedRequest) {
    let _ = d.bind::<Envelope>();
    let _ = d.bind::<InfoRequest>();
    let _ = d.bind::<MessageFormatRequest>();
    let _ = d.bind::<CreateCapabilityRequest>();
    let _ = d.bind::<RenewCapabilityRequest>();
    let _ = d.bind::<CreateEndPointRequest>();
    let _ = d.bind::<RegisterUpdatedCallbackRequest>();
    let _ = d.bind::<FindObjectsRequest>();
    let _ = d.bind::<SetObjectPositionRequest>();
    let _ = d.bind::<BulkDynamicsRequest>();
    let _ = d.bind::<CreateObjectRequest>();
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let encoding = if selector & 1 == 0 { Encoding::Json } else { Encoding::Bson };
    if let Ok(d) = decode_request(body, encoding, &DecodeLimits::default()) {
        bind_all(&d);
    }
});
