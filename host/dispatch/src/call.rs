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
use crate::stats::{Outcome, UNKNOWN};
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
    pub fn call<M: Request>(&self, caller: Caller, request: M) -> Result<M::Reply, Failure> {
        let started = Instant::now();
        let admitted = self
            .admit(M::TYPE_NAME, caller.capability, domain_of_type(M::TYPE_NAME), &caller.scene, started)
            .inspect_err(|_| {
                let stats = &self.services().stats;
                stats.record_request(UNKNOWN, M::TYPE_NAME, &caller.transport, Outcome::Failure, started.elapsed(), false);
            })?;
        let scene = admitted.bound_scene.unwrap_or(caller.scene);
        let handler = admitted.handler;
        let ctx = self.context(&handler, scene, caller.capability, admitted.user, caller.source, caller.transport);
        let result = guarded(&ctx, || with_request_budget(None, || handler.call_typed::<M>(&ctx, request)));
        let outcome = if result.is_ok() { Outcome::Success } else { Outcome::Failure };
        let stats = &self.services().stats;
        stats.record_request(&ctx.domain, M::TYPE_NAME, &ctx.transport, outcome, started.elapsed(), !admitted.pre_auth);
        result.map_err(Failure::from)
    }

    /// Whether a registered request type's handler commits (runs off the reactor).
    pub fn commits(&self, type_name: &str) -> bool {
        self.registry().commits(type_name)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;
    use std::time::Duration;

    use dispatcher_protocol::{Done, Encoding, MessageType, Request};
    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    use super::*;
    use crate::config::DispatcherConfig;
    use crate::directory::{Account, Directory, DirectoryError, SceneInfo};
    use crate::endpoints::NullSink;
    use crate::error::{FailureKind, HandlerError};

    const SCENE: &str = "Harbor Island";

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default)]
    struct EchoRequest {
        #[serde(rename = "Text")]
        text: String,
    }
    impl MessageType for EchoRequest {
        const TYPE_NAME: &'static str = "Test.Messages.EchoRequest";
    }

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default)]
    struct EchoResponse {
        #[serde(rename = "Text")]
        text: String,
    }
    impl MessageType for EchoResponse {
        const TYPE_NAME: &'static str = "Test.Messages.EchoResponse";
    }

    impl Request for EchoRequest {
        type Reply = EchoResponse;
        const GRANT: &'static str = "objects:read";
    }

    /// Another type, registered nowhere.
    #[derive(Debug, Default, Serialize, Deserialize)]
    struct NobodyRequest {}
    impl MessageType for NobodyRequest {
        const TYPE_NAME: &'static str = "Test.Messages.NobodyRequest";
    }
    impl Request for NobodyRequest {
        type Reply = Done;
        const GRANT: &'static str = "dispatcher";
        const COMMITS: bool = true;
    }

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

    fn dispatcher() -> Dispatcher {
        Dispatcher::new(DispatcherConfig::default(), Arc::new(NoDirectory), Arc::new(NullSink), Default::default())
    }

    /// A capability of `domains` for SCENE.
    fn capability(d: &Dispatcher, domains: &[&str], lifespan: Duration) -> Uuid {
        let domains = domains.iter().map(|s| s.to_string()).collect();
        d.services()
            .capabilities
            .create(Uuid::from_u128(7), "Ada Lovelace".into(), SCENE.into(), domains, lifespan)
            .id
    }

    fn caller(capability: Uuid, scene: &str) -> Caller {
        Caller {
            scene: scene.into(),
            capability,
            source: IpAddr::V4(Ipv4Addr::LOCALHOST),
            transport: Transport::Script,
        }
    }

    /// The byte entry's `_Message` for the same request.
    fn byte_message(d: &Dispatcher, capability: Uuid, scene: &str, text: &str) -> String {
        let body = format!(
            r#"{{"$type":"Test.Messages.EchoRequest","_Domain":"Test","_Scene":"{scene}","_Capability":"{capability}","Text":"{text}"}}"#
        );
        let reply = d.handle(body.as_bytes(), Encoding::Json, IpAddr::V4(Ipv4Addr::LOCALHOST), Transport::Script);
        reply.map(|r| r.message).unwrap_or_default()
    }

    fn register_echo(d: &Dispatcher, scene: Option<&str>, tag: &'static str) {
        d.registry()
            .register(scene, "Test", move |ctx: &RequestContext, r: EchoRequest| match r.text.as_str() {
                "panic" => panic!("boom"),
                "missing" => Err(HandlerError::NotFound("no such thing".into())),
                "refused" => Err(HandlerError::NotPermitted("not yours".into())),
                "bad" => Err(HandlerError::Invalid("Fatal error; bad text".into())),
                "many" => Err(HandlerError::Limited("too many".into())),
                _ => Ok(EchoResponse {
                    text: format!("{tag}:{}:{}", ctx.scene, r.text),
                }),
            });
    }

    use crate::context::RequestContext;

    #[test]
    fn a_granted_call_runs_the_typed_handler_and_records_statistics() {
        let d = dispatcher();
        register_echo(&d, None, "generic");
        let cap = capability(&d, &["Test"], Duration::from_secs(60));
        let reply = d.call(caller(cap, ""), EchoRequest { text: "hi".into() }).expect("reply");
        // An empty scene is the capability's own.
        assert_eq!(
            reply,
            EchoResponse {
                text: format!("generic:{SCENE}:hi")
            }
        );
        let stats = d.services().stats.snapshot();
        assert_eq!(stats.iter().find(|(n, _)| n == "EchoRequest").map(|(_, s)| s.count), Some(1), "{stats:?}");
        d.call(caller(cap, SCENE), EchoRequest { text: "again".into() }).expect("reply");
        let stats = d.services().stats.snapshot();
        assert_eq!(stats.iter().find(|(n, _)| n == "EchoRequest").map(|(_, s)| s.count), Some(2), "{stats:?}");
        d.shutdown();
    }

    #[test]
    fn refusals_are_not_permitted_with_the_byte_entry_text() {
        let d = dispatcher();
        register_echo(&d, None, "generic");
        let expect = |cap: Uuid, scene: &str, text: &str| {
            let failure = d.call(caller(cap, scene), EchoRequest { text: "hi".into() }).expect_err("refused");
            assert_eq!((failure.kind, failure.message.as_str()), (FailureKind::NotPermitted, text));
        };
        // No such capability; then one for another domain (wrong domain); then another scene.
        let unknown = Uuid::new_v4();
        let text = "Unauthorized invocation; no such capability";
        assert_eq!(byte_message(&d, unknown, SCENE, "hi"), text);
        expect(unknown, SCENE, text);
        let other = capability(&d, &["RemoteControl"], Duration::from_secs(60));
        let text = "Unauthorized invocation; capability does not authorize access to message domain";
        assert_eq!(byte_message(&d, other, SCENE, "hi"), text);
        expect(other, SCENE, text);
        let cap = capability(&d, &["Test"], Duration::from_secs(60));
        expect(cap, "Other Island", "Unauthorized invocation; capability does not authorize access to scene");
        // An expired capability is no capability.
        let short = capability(&d, &["Test"], Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(60));
        expect(short, SCENE, "Unauthorized invocation; no such capability");
        d.shutdown();
    }

    #[test]
    fn the_scene_handler_wins_and_unknown_types_are_not_found() {
        let d = dispatcher();
        register_echo(&d, None, "generic");
        register_echo(&d, Some(SCENE), "scene");
        let cap = capability(&d, &["MASTER"], Duration::from_secs(60));
        let reply = d.call(caller(cap, SCENE), EchoRequest { text: "hi".into() }).expect("reply");
        assert_eq!(reply.text, format!("scene:{SCENE}:hi"));
        assert!(byte_message(&d, cap, SCENE, "hi").is_empty(), "the byte entry succeeds too");
        let failure = d.call(caller(cap, SCENE), NobodyRequest {}).expect_err("unknown");
        assert_eq!(
            (failure.kind, failure.message.as_str()),
            (FailureKind::NotFound, "Unknown message type; Test.Messages.NobodyRequest")
        );
        d.shutdown();
    }

    #[test]
    fn handler_errors_keep_their_kind_and_panics_are_internal() {
        let d = dispatcher();
        register_echo(&d, Some(SCENE), "scene");
        let cap = capability(&d, &["Test"], Duration::from_secs(60));
        for (text, kind, message) in [
            ("missing", FailureKind::NotFound, "no such thing"),
            ("refused", FailureKind::NotPermitted, "not yours"),
            ("bad", FailureKind::Invalid, "Fatal error; bad text"),
            ("many", FailureKind::Limited, "too many"),
            ("panic", FailureKind::Internal, "Fatal error; boom"),
        ] {
            let failure = d.call(caller(cap, SCENE), EchoRequest { text: text.into() }).expect_err(text);
            assert_eq!((failure.kind, failure.message.as_str()), (kind, message));
            assert_eq!(byte_message(&d, cap, SCENE, text), message, "the byte entry sends the same text");
        }
        // The panic took down nothing: the next call runs.
        assert!(d.call(caller(cap, SCENE), EchoRequest { text: "after".into() }).is_ok());
        d.shutdown();
    }

    #[test]
    fn pre_authentication_messages_need_no_capability() {
        let d = dispatcher();
        let reply = d
            .call(
                caller(Uuid::nil(), ""),
                dispatcher_messages::dispatcher::MessageFormatRequest {
                    message_name: Some("Dispatcher.Messages.InfoRequest".into()),
                },
            )
            .expect("sample");
        assert!(
            reply.sample_message.starts_with(r#"{"$type":"Dispatcher.Messages.InfoRequest""#),
            "{}",
            reply.sample_message
        );
        let failure = d
            .call(
                caller(Uuid::nil(), ""),
                dispatcher_messages::dispatcher::MessageFormatRequest {
                    message_name: Some("Nope".into()),
                },
            )
            .expect_err("unknown type");
        assert_eq!((failure.kind, failure.message.as_str()), (FailureKind::NotFound, "unknown type"));
        d.shutdown();
    }

    #[test]
    fn registered_types_declare_grants_and_commits() {
        let d = dispatcher();
        register_echo(&d, None, "generic");
        d.registry()
            .register(None, "Test", |_: &RequestContext, _: NobodyRequest| Ok(Done::ok()));
        assert_eq!(d.registry().grant("Test.Messages.EchoRequest"), Some("objects:read"));
        assert_eq!(d.registry().grant("Dispatcher.Messages.CreateCapabilityRequest"), Some("dispatcher"));
        assert_eq!(d.registry().grant("Test.Messages.Missing"), None);
        assert!(d.commits("Test.Messages.NobodyRequest") && !d.commits("Test.Messages.EchoRequest") && !d.commits("Nope"));
        let grants = d.registry().grants();
        let names: Vec<&str> = grants.iter().map(|(n, _)| n.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        // The Dispatcher domain's nine types (SubscribeRequest the ninth) and
        // the two test types.
        assert_eq!(grants.len(), 11, "{grants:?}");
        d.shutdown();
    }
}
