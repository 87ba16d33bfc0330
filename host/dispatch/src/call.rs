//! The typed entry into the pipeline: a request already in its Rust type
//! (from a script's typed import, or any caller inside the host) runs through
//! the same admission, context, panic catching and statistics as the byte
//! entry, without encoding or decoding anything.

use std::net::IpAddr;
use std::time::Instant;

use dispatcher_protocol::Request;
use uuid::Uuid;

use crate::endpoints::with_request_budget;
use crate::error::Failure;
use crate::pipeline::{guarded, Dispatcher};
use crate::transport::Transport;

/// Who is calling, for the typed entry (the byte entry reads the same from the envelope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// `_Scene`; empty stands for the capability's own scene.
    pub scene: String,
    /// `_Capability`.
    pub capability: Uuid,
    pub source: IpAddr,
    pub transport: Transport,
}

/// The domain of a type name: its first dotted segment (`RemoteControl` for
/// `RemoteControl.Messages.ChatRequest`).
pub fn domain_of_type(type_name: &str) -> &str {
    type_name.split('.').next().unwrap_or("")
}

impl Dispatcher {
    /// The same authorisation (capability, domain = the type's first dotted
    /// segment, scene), registry lookup (scene-specific first), panic catching,
    /// and statistics as `handle`, without encoding or decoding. Synchronous:
    /// it never queues. Its callbacks have no per-request byte budget, as for
    /// `handle_decoded`.
    pub fn call<M: Request>(&self, caller: &Caller, request: M) -> Result<M::Reply, Failure> {
        let started = Instant::now();
        let admitted = self.admit(M::TYPE_NAME, caller.capability, domain_of_type(M::TYPE_NAME), &caller.scene)?;
        let scene = admitted.bound_scene.unwrap_or_else(|| caller.scene.clone());
        let handler = admitted.handler;
        let ctx = self.context(&handler, scene, caller.capability, admitted.user, caller.source, caller.transport.clone());
        let result = guarded(&ctx, || with_request_budget(None, || handler.call_typed::<M>(&ctx, request)));
        if !admitted.pre_auth {
            self.services().stats.record(M::TYPE_NAME, started.elapsed());
        }
        result.map_err(Failure::from)
    }

    /// Whether a registered request type's handler commits (runs off the reactor).
    pub fn commits(&self, type_name: &str) -> bool {
        self.registry().commits(type_name)
    }
}
