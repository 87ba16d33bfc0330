//! The handler and message-type registries (dispatcher-core.md §9).
//!
//! Handlers are keyed by (scene?, domain, type). A scene-specific handler wins
//! over the generic one when `_Scene` matches. Request types are reference
//! counted across registrations (quirk Q28 fixed), so removing one scene's
//! handler never unregisters the type for the others.
//!
//! Each handler is stored once, typed (`Fn(&RequestContext, M) ->
//! Result<M::Reply, HandlerError>`) behind `dyn Any`: the byte entry reaches it
//! through a function made for `M` that binds the decoded request and encodes
//! the reply; the typed entry downcasts it and calls it with the request as is.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use dispatcher_protocol::messages::sample_json;
use dispatcher_protocol::{DecodedRequest, Reply, ReplyBody, Request};
use parking_lot::RwLock;

use crate::context::RequestContext;
use crate::error::HandlerError;
use crate::fasthash::FastBuild;

/// A typed handler as registered.
pub type TypedHandler<M> = dyn Fn(&RequestContext, M) -> Result<<M as Request>::Reply, HandlerError> + Send + Sync;

/// The byte entry into a stored typed handler: bind, call, encode.
type BytesFn = fn(&(dyn Any + Send + Sync), &RequestContext, &DecodedRequest) -> Result<Reply, HandlerError>;

/// A registered handler, as a lookup returns it (cheap to clone).
#[derive(Clone)]
pub struct HandlerRef {
    /// A `Box<TypedHandler<M>>` for the registered `M`.
    typed: Arc<dyn Any + Send + Sync>,
    bytes: BytesFn,
    type_name: &'static str,
    domain: Arc<str>,
}

impl HandlerRef {
    fn new<M, F>(domain: &str, f: F) -> HandlerRef
    where
        M: Request,
        F: Fn(&RequestContext, M) -> Result<M::Reply, HandlerError> + Send + Sync + 'static,
    {
        let typed: Box<TypedHandler<M>> = Box::new(f);
        HandlerRef {
            typed: Arc::new(typed),
            bytes: call_bytes::<M>,
            type_name: M::TYPE_NAME,
            domain: Arc::from(domain),
        }
    }

    /// The registered type's name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The domain the handler is registered under.
    pub fn domain(&self) -> &Arc<str> {
        &self.domain
    }

    /// Bind the decoded request, run the handler, encode its reply.
    pub fn call_decoded(&self, ctx: &RequestContext, request: &DecodedRequest) -> Result<Reply, HandlerError> {
        (self.bytes)(&*self.typed, ctx, request)
    }

    /// Run the handler on a typed request: no encoding, no decoding.
    pub fn call_typed<M: Request>(&self, ctx: &RequestContext, request: M) -> Result<M::Reply, HandlerError> {
        match self.typed.downcast_ref::<Box<TypedHandler<M>>>() {
            Some(f) => f(ctx, request),
            None => Err(HandlerError::Internal(format!(
                "the handler registered for {} takes another request type",
                M::TYPE_NAME
            ))),
        }
    }
}

/// A handler registered at run time for a type only known then (an
/// extension's): it gets the decoded request and answers a reply itself.
pub type DynamicHandler = dyn Fn(&RequestContext, &DecodedRequest) -> Result<Reply, HandlerError> + Send + Sync;

fn call_dynamic(typed: &(dyn Any + Send + Sync), ctx: &RequestContext, request: &DecodedRequest) -> Result<Reply, HandlerError> {
    match typed.downcast_ref::<Box<DynamicHandler>>() {
        Some(f) => f(ctx, request),
        None => Err(HandlerError::Internal("a dynamic handler is not stored as one".into())),
    }
}

/// A name that lives as long as the process: registered type names and
/// grants are `&'static str`. Each distinct name is kept once, so installing
/// and removing the same extension again does not grow the set.
pub fn intern(name: &str) -> &'static str {
    static NAMES: std::sync::OnceLock<parking_lot::Mutex<std::collections::HashSet<&'static str>>> = std::sync::OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock();
    if let Some(n) = names.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

fn call_bytes<M: Request>(typed: &(dyn Any + Send + Sync), ctx: &RequestContext, request: &DecodedRequest) -> Result<Reply, HandlerError> {
    let Some(f) = typed.downcast_ref::<Box<TypedHandler<M>>>() else {
        return Err(HandlerError::Internal(format!("the handler registered for {} is not typed for it", M::TYPE_NAME)));
    };
    let message: M = request.bind()?;
    f(ctx, message).map(ReplyBody::into_reply)
}

struct HandlerEntry {
    scene: Option<String>,
    handler: HandlerRef,
}

/// What every registration of a request type shares.
struct RequestType {
    refs: usize,
    sample: Sample,
    grant: &'static str,
    commits: bool,
}

impl RequestType {
    fn of<M: Request>() -> RequestType {
        RequestType {
            refs: 0,
            sample: Sample::Typed(sample_json::<M>),
            grant: M::GRANT,
            commits: M::COMMITS,
        }
    }
}

/// A request type's default body, for MessageFormatRequest.
enum Sample {
    Typed(fn() -> String),
    /// Given at registration (an extension's `describe`).
    Text(Arc<str>),
}

#[derive(Default)]
struct Inner {
    /// By type name; few entries per type, scanned linearly.
    handlers: HashMap<&'static str, Vec<HandlerEntry>, FastBuild>,
    /// Handler keys in registration order, for InfoResponse.MessageList.
    order: Vec<String>,
    request_types: HashMap<&'static str, RequestType, FastBuild>,
    pre_auth: HashMap<&'static str, HandlerRef, FastBuild>,
}

#[derive(Default)]
pub struct Registry {
    inner: RwLock<Inner>,
}

fn key(scene: Option<&str>, domain: &str, type_name: &str) -> String {
    match scene {
        Some(scene) => format!("{scene}::{domain}::{type_name}"),
        None => format!("{domain}::{type_name}"),
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a handler for `M` in `domain`, for one scene or (None) all scenes.
    /// Registering the same key again replaces the handler.
    pub fn register<M, F>(&self, scene: Option<&str>, domain: &str, f: F)
    where
        M: Request,
        F: Fn(&RequestContext, M) -> Result<M::Reply, HandlerError> + Send + Sync + 'static,
    {
        let handler = HandlerRef::new::<M, F>(domain, f);
        let mut inner = self.inner.write();
        let entries = inner.handlers.entry(M::TYPE_NAME).or_default();
        let existing = entries
            .iter_mut()
            .find(|e| e.scene.as_deref() == scene && &*e.handler.domain == domain);
        let added = match existing {
            Some(entry) => {
                entry.handler = handler;
                false
            }
            None => {
                entries.push(HandlerEntry {
                    scene: scene.map(str::to_owned),
                    handler,
                });
                true
            }
        };
        if added {
            inner.order.push(key(scene, domain, M::TYPE_NAME));
            inner.request_types.entry(M::TYPE_NAME).or_insert_with(RequestType::of::<M>).refs += 1;
        }
    }

    /// Register a handler for a type known only at run time (an extension's
    /// request type) in `domain`, for one scene or (None) all scenes, with the
    /// default body MessageFormatRequest answers and the grant a script needs
    /// to send it. The type goes through the same pipeline as every other:
    /// capability and DomainList, `_Scene`, async queue, statistics. It is
    /// not marked as committing: HTTP runs it on the thread that read it, and
    /// the handler moves its own blocking work (an extension's storage
    /// writes, a slow guest) off the reactor. Refused
    /// (false) when the type is already registered in another domain or by a
    /// typed handler.
    pub fn register_dynamic(
        &self,
        scene: Option<&str>,
        domain: &str,
        type_name: &str,
        sample: &str,
        grant: &str,
        f: Box<DynamicHandler>,
    ) -> bool {
        let type_name = intern(type_name);
        let handler = HandlerRef {
            typed: Arc::new(f),
            bytes: call_dynamic,
            type_name,
            domain: Arc::from(domain),
        };
        let mut inner = self.inner.write();
        let entries = inner.handlers.entry(type_name).or_default();
        if entries.iter().any(|e| e.scene.as_deref() == scene || &*e.handler.domain != domain) {
            return false;
        }
        entries.push(HandlerEntry {
            scene: scene.map(str::to_owned),
            handler,
        });
        inner.order.push(key(scene, domain, type_name));
        let grant = intern(grant);
        inner
            .request_types
            .entry(type_name)
            .or_insert_with(|| RequestType {
                refs: 0,
                sample: Sample::Text(Arc::from(sample)),
                grant,
                commits: false,
            })
            .refs += 1;
        true
    }

    /// Remove every handler registered for `scene` in `domain` (a region that
    /// stops being hosted here); returns how many.
    pub fn unregister_scene(&self, scene: &str, domain: &str) -> usize {
        let prefix = format!("{scene}::{domain}::");
        let types: Vec<String> = {
            let inner = self.inner.read();
            inner
                .order
                .iter()
                .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
                .collect()
        };
        types.iter().filter(|t| self.unregister(Some(scene), domain, t)).count()
    }

    /// Remove a handler; the type stays known while other handlers use it.
    pub fn unregister(&self, scene: Option<&str>, domain: &str, type_name: &str) -> bool {
        let mut inner = self.inner.write();
        let Some(entries) = inner.handlers.get_mut(type_name) else {
            return false;
        };
        let before = entries.len();
        entries.retain(|e| !(e.scene.as_deref() == scene && &*e.handler.domain == domain));
        if entries.len() == before {
            return false;
        }
        let k = key(scene, domain, type_name);
        inner.order.retain(|o| *o != k);
        if let Some(t) = inner.request_types.get_mut(type_name) {
            t.refs -= 1;
            if t.refs == 0 {
                inner.request_types.remove(type_name);
            }
        }
        true
    }

    /// Register a pre-authentication message (Info, MessageFormat, CreateCapability).
    pub fn register_pre_auth<M, F>(&self, domain: &str, f: F)
    where
        M: Request,
        F: Fn(&RequestContext, M) -> Result<M::Reply, HandlerError> + Send + Sync + 'static,
    {
        let mut inner = self.inner.write();
        inner.pre_auth.insert(M::TYPE_NAME, HandlerRef::new::<M, F>(domain, f));
        inner.request_types.entry(M::TYPE_NAME).or_insert_with(RequestType::of::<M>).refs += 1;
    }

    pub fn pre_auth(&self, type_name: &str) -> Option<HandlerRef> {
        self.inner.read().pre_auth.get(type_name).cloned()
    }

    /// What admission needs first, in one read: `Ok(Some(handler))` for a
    /// pre-authentication message, `Ok(None)` for another registered request
    /// type, `Err(())` for an unknown name.
    pub(crate) fn classify(&self, type_name: &str) -> Result<Option<HandlerRef>, ()> {
        let inner = self.inner.read();
        if let Some(handler) = inner.pre_auth.get(type_name) {
            return Ok(Some(handler.clone()));
        }
        match inner.request_types.contains_key(type_name) {
            true => Ok(None),
            false => Err(()),
        }
    }

    /// Whether `type_name` is a registered request type of any domain.
    pub fn is_request_type(&self, type_name: &str) -> bool {
        self.inner.read().request_types.contains_key(type_name)
    }

    /// The default-valued JSON sample of a request type.
    pub fn sample(&self, type_name: &str) -> Option<String> {
        let inner = self.inner.read();
        match &inner.request_types.get(type_name)?.sample {
            Sample::Typed(f) => Some(f()),
            Sample::Text(text) => Some(text.to_string()),
        }
    }

    /// The grant declared by a registered request type (`M::GRANT`).
    pub fn grant(&self, type_name: &str) -> Option<&'static str> {
        self.inner.read().request_types.get(type_name).map(|t| t.grant)
    }

    /// Every registered request type with its grant, sorted by name.
    pub fn grants(&self) -> Vec<(String, &'static str)> {
        let mut all: Vec<(String, &'static str)> = self
            .inner
            .read()
            .request_types
            .iter()
            .map(|(name, t)| ((*name).to_owned(), t.grant))
            .collect();
        all.sort();
        all
    }

    /// Whether a registered request type's handler commits (`M::COMMITS`).
    pub fn commits(&self, type_name: &str) -> bool {
        self.inner.read().request_types.get(type_name).is_some_and(|t| t.commits)
    }

    /// The handler for a request: scene-specific first, then generic.
    pub fn lookup(&self, scene: &str, domain: &str, type_name: &str) -> Option<HandlerRef> {
        let inner = self.inner.read();
        let entries = inner.handlers.get(type_name)?;
        let in_domain = |e: &&HandlerEntry| &*e.handler.domain == domain;
        if !scene.is_empty() {
            if let Some(e) = entries.iter().filter(in_domain).find(|e| e.scene.as_deref() == Some(scene)) {
                return Some(e.handler.clone());
            }
        }
        entries
            .iter()
            .filter(in_domain)
            .find(|e| e.scene.is_none())
            .map(|e| e.handler.clone())
    }

    /// Every handler key, in registration order (pre-authentication types excluded).
    pub fn keys(&self) -> Vec<String> {
        self.inner.read().order.clone()
    }
}
