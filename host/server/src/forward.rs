//! Forwarding between the hosts of a grid (docs/grid.md, "Request flow").
//!
//! The pipeline decides where a request runs (`Dispatcher::route`); this
//! module carries the ones routed elsewhere: the ORIGINAL request bytes go to
//! the owner's `AdvertiseUrl` on the grid link to that owner
//! ([`crate::grid_link`]: one connection, many requests in flight), or, to
//! an owner that does not speak the link, over keep-alive HTTP/1.1
//! connections pooled per owner; the owner's reply (status, Content-Type,
//! body) comes back unchanged.
//!
//! Over HTTP, a forwarded request carries (a link frame carries the same
//! facts, the link's handshake the secret):
//! - [`SECRET_HEADER`]: the grid's `[Grid] Secret`. A request that carries any
//!   of these headers with a wrong or missing secret is refused with a
//!   Failure and logged ([`inbound`]), so nobody outside the grid can pose as
//!   a host (and set the forwarded-for address or the UDP transport).
//! - [`HOPS_HEADER`]: how often it was forwarded. A host never forwards a
//!   request that arrived with [`HOP_LIMIT`] hops ([`next_hops`]): it answers
//!   with a Failure, so a forwarding loop (two hosts each believing the other
//!   owns a region, for a moment) ends after at most `HOP_LIMIT` hops.
//! - [`FORWARDED_FOR_HEADER`]: the client's address, which the owner uses as
//!   the request's source.
//! - [`TRANSPORT_HEADER`] `udp`: the request arrived as a UDP datagram; the
//!   owner runs it as one (queued, never answered).
//!
//! An owner that cannot be reached (refused connection, a pooled connection
//! that closed before the request was written) is given up on only after
//! waiting for its lease to move: the request is then sent to the new owner
//! (or run here, when this host took the region over). A request that was
//! written and got no reply is not sent again (the owner may have applied
//! it): it fails with a Failure saying so.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dispatcher_dispatch::{RemoteOwner, RemoteScenes, Route, SceneHome};
use dispatcher_protocol::{Encoding, Reply};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::grid_link::{constant_time_eq, Link, LinkRequest, OpenError, Outcome};

pub use crate::grid_link::SECRET_HEADER;
/// How many times the request has been forwarded.
pub const HOPS_HEADER: &str = "x-dispatcher-hops";
/// The client's address as the first host saw it.
pub const FORWARDED_FOR_HEADER: &str = "x-dispatcher-forwarded-for";
/// `udp` when the request arrived as a datagram.
pub const TRANSPORT_HEADER: &str = "x-dispatcher-transport";
/// A request that arrived with this many hops is never forwarded again.
pub const HOP_LIMIT: u32 = 2;

/// What an inbound request's grid headers say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// From a client (no grid header at all).
    Client,
    /// From another host of the grid (its secret checked).
    Forwarded {
        hops: u32,
        /// The client's address, when the forwarding host named one.
        source: Option<IpAddr>,
        /// The request arrived at the first host as a UDP datagram.
        udp: bool,
    },
}

/// Why a request posing as forwarded is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InboundRefusal {
    #[error("Unauthorized invocation; forwarded request refused: this host is not a member of a grid")]
    NotGrid,
    #[error("Unauthorized invocation; forwarded request refused: missing grid secret")]
    MissingSecret,
    #[error("Unauthorized invocation; forwarded request refused: wrong grid secret")]
    WrongSecret,
    #[error("Invalid forwarded request: {HOPS_HEADER} must be a number from 1 to {HOP_LIMIT}")]
    BadHops,
}

/// Read the grid headers of an inbound request. `secret` is this host's
/// `[Grid] Secret` (`None` standalone). Without any grid header the request
/// is a client's; with one, the secret must match (compared in constant time).
pub fn inbound(headers: &HeaderMap, secret: Option<&str>) -> Result<Inbound, InboundRefusal> {
    let sent_secret = headers.get(SECRET_HEADER);
    let hops = headers.get(HOPS_HEADER);
    let forwarded_for = headers.get(FORWARDED_FOR_HEADER);
    let transport = headers.get(TRANSPORT_HEADER);
    if sent_secret.is_none() && hops.is_none() && forwarded_for.is_none() && transport.is_none() {
        return Ok(Inbound::Client);
    }
    let secret = secret.ok_or(InboundRefusal::NotGrid)?;
    let sent = sent_secret.ok_or(InboundRefusal::MissingSecret)?;
    if !constant_time_eq(sent.as_bytes(), secret.as_bytes()) {
        return Err(InboundRefusal::WrongSecret);
    }
    let hops = hops
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|h| (1..=HOP_LIMIT).contains(h))
        .ok_or(InboundRefusal::BadHops)?;
    let source = forwarded_for.and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let udp = transport.is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"udp"));
    Ok(Inbound::Forwarded { hops, source, udp })
}

/// The hop count a request that arrived with `hops` is forwarded with, or the
/// Failure text when it has reached [`HOP_LIMIT`].
pub fn next_hops(hops: u32, scene: &str) -> Result<u32, String> {
    if hops >= HOP_LIMIT {
        return Err(format!(
            "Fatal error; request for region {scene} not forwarded: it has been forwarded {hops} times (the limit is {HOP_LIMIT}); the grid's hosts disagree on who owns it, retry shortly"
        ));
    }
    Ok(hops + 1)
}

/// The owner's reply, to be sent to the client as it is.
pub struct Relayed {
    /// The Failure's text when this host made the reply (the owner was not reached).
    pub failure: Option<String>,
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// What became of a request routed elsewhere.
pub enum Forwarded {
    /// The owner answered (or a Failure was made here).
    Reply(Relayed),
    /// This host owns the scene now (a takeover while waiting): run it here.
    RunHere,
}

/// One request to forward.
pub struct Outgoing<'a> {
    pub route: Route,
    /// The request's original bytes.
    pub body: Bytes,
    pub encoding: Encoding,
    /// Path and query, as the client sent them (HTTP) or the Dispatcher path (UDP).
    pub path: &'a str,
    /// Hops it arrived with (0 from a client).
    pub hops: u32,
    /// The client's address.
    pub source: IpAddr,
    pub udp: bool,
}

/// Why one attempt failed.
enum Attempt {
    /// Nothing reached the owner: safe to send again.
    Unreachable(String),
    /// The request was written and no reply came: not sent again.
    Lost(String),
}

/// Forwards requests to other hosts of the grid.
pub struct Forwarder {
    secret: String,
    scenes: Arc<dyn RemoteScenes>,
    pool: Pool,
    /// How long to wait for an unreachable owner's lease to move (2 × LeaseSeconds).
    takeover_wait: Duration,
    /// How long one forwarded request may take.
    reply_timeout: Duration,
    /// Largest reply body relayed.
    max_reply_bytes: usize,
    /// Grid links per owner (`host:port`), see [`crate::grid_link`].
    links: Links,
}

/// A grid link per owner, or the note that the owner does not speak it.
#[derive(Default)]
struct Links {
    by_owner: Mutex<HashMap<String, LinkEntry>>,
    /// One opening at a time per owner, so a burst of first requests opens
    /// one link, not one each.
    opening: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

enum LinkEntry {
    Open(Arc<Link>),
    /// The owner answered the upgrade with something else (an older host):
    /// plain HTTP until then.
    PlainUntil(Instant),
}

/// How long an owner that refused the link is sent plain HTTP before the
/// link is tried again.
const PLAIN_FOR: Duration = Duration::from_secs(60);

impl Forwarder {
    pub fn new(secret: String, scenes: Arc<dyn RemoteScenes>, lease: Duration) -> Self {
        Forwarder {
            secret,
            scenes,
            pool: Pool::default(),
            takeover_wait: lease * 2,
            reply_timeout: Duration::from_secs(120),
            max_reply_bytes: 256 * 1024 * 1024,
            links: Links::default(),
        }
    }

    /// The grid secret inbound requests are checked against.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Forward `out` to the owner its route names, waiting for a takeover
    /// when the owner is unreachable or the region has no owner now.
    pub async fn forward(&self, out: Outgoing<'_>) -> Forwarded {
        let (scene, mut owner) = match &out.route {
            Route::Local | Route::Refused { .. } => return Forwarded::RunHere,
            Route::Remote { scene, owner } => (scene.clone(), Some(owner.clone())),
            Route::Unowned { scene } => (scene.clone(), None),
        };
        let hops = match next_hops(out.hops, &scene) {
            Ok(h) => h,
            Err(text) => {
                tracing::warn!(region = %dispatcher_dispatch::escape(&scene), hops = out.hops, "hop limit reached; request not forwarded");
                return Forwarded::Reply(self.failure(out.encoding, text));
            }
        };
        let mut gave_up_on: Option<RemoteOwner> = None;
        loop {
            let target = match owner.take() {
                Some(o) => o,
                None => match self.await_owner(&scene, gave_up_on.as_ref()).await {
                    Some(SceneHome::Here) => return Forwarded::RunHere,
                    Some(SceneHome::Remote(o)) => o,
                    _ => {
                        let text = match &gave_up_on {
                            Some(o) => format!("Fatal error; region {scene}'s owner {} is unreachable and no other host has taken it over yet; retry shortly", o.host),
                            None => format!("Fatal error; region {scene} has no live owner (its host may have failed) and no host has taken it over yet; retry shortly"),
                        };
                        return Forwarded::Reply(self.failure(out.encoding, text));
                    }
                },
            };
            match self.attempt(&target, &out, hops).await {
                Ok(relayed) => return Forwarded::Reply(relayed),
                Err(Attempt::Lost(reason)) => {
                    tracing::warn!(region = %dispatcher_dispatch::escape(&scene), owner = %target.host, %reason, "forwarded request lost");
                    let text = format!(
                        "Fatal error; region {scene}'s owner {} failed during the request ({reason}); it may or may not have been applied",
                        target.host
                    );
                    return Forwarded::Reply(self.failure(out.encoding, text));
                }
                Err(Attempt::Unreachable(reason)) => {
                    if gave_up_on.as_ref().is_some_and(|g| *g == target) {
                        // Retried once on this owner already.
                        let text = format!("Fatal error; region {scene}'s owner {} is unreachable ({reason})", target.host);
                        return Forwarded::Reply(self.failure(out.encoding, text));
                    }
                    tracing::info!(region = %dispatcher_dispatch::escape(&scene), owner = %target.host, %reason, "owner unreachable; waiting for its lease to move");
                    gave_up_on = Some(target);
                }
            }
        }
    }

    /// Wait (up to the takeover wait) until the scene's home differs from
    /// `old` (another host, another epoch, or this host). `None`: it did not.
    async fn await_owner(&self, scene: &str, old: Option<&RemoteOwner>) -> Option<SceneHome> {
        let deadline = Instant::now() + self.takeover_wait;
        loop {
            match self.scenes.locate(scene) {
                SceneHome::Here => return Some(SceneHome::Here),
                SceneHome::Remote(o) if old != Some(&o) => return Some(SceneHome::Remote(o)),
                _ => {}
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One request to `owner`: on its grid link, or over plain HTTP to an
    /// owner that does not speak the link.
    async fn attempt(&self, owner: &RemoteOwner, out: &Outgoing<'_>, hops: u32) -> Result<Relayed, Attempt> {
        let (authority, base_path) = split_url(&owner.url).map_err(Attempt::Unreachable)?;
        let path = join_path(&base_path, out.path);
        let request = LinkRequest {
            hops,
            udp: out.udp,
            encoding: out.encoding,
            source: Some(out.source),
            path: out.path.to_owned(),
            body: out.body.clone(),
        };
        // A request a link never ran goes once more, on a fresh link.
        for _ in 0..2 {
            let link = match self.link(&authority, &path).await {
                Ok(Some(link)) => link,
                Ok(None) => return self.attempt_plain(&authority, &path, out, hops).await,
                Err(reason) => return Err(Attempt::Unreachable(reason)),
            };
            let outcome = match tokio::time::timeout(self.reply_timeout, link.send(&request)).await {
                Ok(outcome) => outcome,
                Err(_) => return Err(Attempt::Lost(format!("no reply within {} s", self.reply_timeout.as_secs()))),
            };
            match outcome {
                Outcome::Reply(r) => {
                    return Ok(Relayed {
                        failure: None,
                        status: r.status,
                        content_type: r.content_type,
                        body: r.body,
                    })
                }
                Outcome::Lost(reason) => return Err(Attempt::Lost(reason)),
                Outcome::NotRun(reason) => {
                    tracing::debug!(owner = %authority, %reason, "grid link ended before the request ran; trying a fresh one");
                }
            }
        }
        Err(Attempt::Unreachable(format!("the grid links to {authority} ended before the request ran")))
    }

    /// The open link to `authority`, opening one if there is none; `None`
    /// when the owner does not speak the link.
    async fn link(&self, authority: &str, path: &str) -> Result<Option<Arc<Link>>, String> {
        if let Some(known) = self.known_link(authority) {
            return Ok(known);
        }
        let opening = self.links.opening.lock().entry(authority.to_owned()).or_default().clone();
        let _opening = opening.lock().await;
        // Opened (or refused) by the request that held the lock before.
        if let Some(known) = self.known_link(authority) {
            return Ok(known);
        }
        match crate::grid_link::open(authority, path, &self.secret, CONNECT_TIMEOUT, self.max_reply_bytes).await {
            Ok(link) => {
                self.links
                    .by_owner
                    .lock()
                    .insert(authority.to_owned(), LinkEntry::Open(link.clone()));
                Ok(Some(link))
            }
            Err(OpenError::Unreachable(reason)) => Err(reason),
            Err(OpenError::NotSupported(reason)) => {
                tracing::info!(owner = %authority, %reason, "owner does not speak the grid link; forwarding over plain HTTP");
                self.links
                    .by_owner
                    .lock()
                    .insert(authority.to_owned(), LinkEntry::PlainUntil(Instant::now() + PLAIN_FOR));
                Ok(None)
            }
        }
    }

    /// What is known of the link to `authority`: open (`Some(Some)`), plain
    /// HTTP for now (`Some(None)`), or nothing (`None`: open one).
    fn known_link(&self, authority: &str) -> Option<Option<Arc<Link>>> {
        match self.links.by_owner.lock().get(authority) {
            Some(LinkEntry::Open(link)) if link.is_open() => Some(Some(link.clone())),
            Some(LinkEntry::PlainUntil(until)) if Instant::now() < *until => Some(None),
            _ => None,
        }
    }

    /// One request to an owner over a pooled plain HTTP/1.1 connection.
    async fn attempt_plain(&self, authority: &str, path: &str, out: &Outgoing<'_>, hops: u32) -> Result<Relayed, Attempt> {
        let (authority, path) = (authority.to_owned(), path.to_owned());
        let build = || {
            let mut request = Request::builder()
                .method(Method::POST)
                .uri(path.as_str())
                .header(HOST, authority.as_str())
                .header(CONTENT_TYPE, out.encoding.content_type())
                .header(SECRET_HEADER, self.secret.as_str())
                .header(HOPS_HEADER, hops)
                .header(FORWARDED_FOR_HEADER, out.source.to_string());
            if out.udp {
                request = request.header(TRANSPORT_HEADER, "udp");
            }
            request
                .body(Full::new(out.body.clone()))
                .map_err(|e| Attempt::Unreachable(format!("bad AdvertiseUrl path {path}: {e}")))
        };
        let exchange = async {
            let (response, sender) = self.pool.send(&authority, build).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, self.max_reply_bytes)
                .collect()
                .await
                .map_err(|e| Attempt::Lost(format!("reading the reply: {e}")))?
                .to_bytes();
            // Back to the pool once the reply is read: the connection is free.
            self.pool.put(&authority, sender);
            Ok(Relayed {
                failure: None,
                status: parts.status,
                content_type: parts.headers.get(CONTENT_TYPE).cloned(),
                body,
            })
        };
        match tokio::time::timeout(self.reply_timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(Attempt::Lost(format!("no reply within {} s", self.reply_timeout.as_secs()))),
        }
    }

    /// A Failure made here, in the request's encoding.
    fn failure(&self, encoding: Encoding, text: String) -> Relayed {
        Relayed {
            status: StatusCode::OK,
            content_type: Some(HeaderValue::from_static(encoding.content_type())),
            body: Bytes::from(Reply::failure(text.clone()).encode(encoding)),
            failure: Some(text),
        }
    }
}

/// `http://host:port/base` → (`host:port`, `/base`).
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("AdvertiseUrl {url} is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("AdvertiseUrl {url} names no host"));
    }
    Ok((authority.to_owned(), path.trim_end_matches('/').to_owned()))
}

fn join_path(base: &str, path: &str) -> String {
    if path.starts_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}

type Sender = SendRequest<Full<Bytes>>;

/// Idle keep-alive connections per owner (`host:port`).
#[derive(Default)]
struct Pool {
    idle: Mutex<HashMap<String, Vec<Sender>>>,
}

/// Idle connections kept per owner.
const MAX_IDLE_PER_OWNER: usize = 64;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl Pool {
    fn take(&self, authority: &str) -> Option<Sender> {
        let mut idle = self.idle.lock();
        let senders = idle.get_mut(authority)?;
        while let Some(s) = senders.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn put(&self, authority: &str, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock();
        match idle.get_mut(authority) {
            Some(senders) if senders.len() < MAX_IDLE_PER_OWNER => senders.push(sender),
            Some(_) => {}
            None => {
                idle.insert(authority.to_owned(), vec![sender]);
            }
        }
    }

    async fn connect(authority: &str) -> Result<Sender, Attempt> {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(authority)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(Attempt::Unreachable(format!("cannot connect to {authority}: {e}"))),
            Err(_) => return Err(Attempt::Unreachable(format!("no connection to {authority} within {} s", CONNECT_TIMEOUT.as_secs()))),
        };
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Attempt::Unreachable(format!("cannot talk HTTP to {authority}: {e}")))?;
        let id = Uuid::new_v4();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%id, error = %e, "grid connection ended");
            }
        });
        Ok(sender)
    }

    /// Send on an idle connection, or on a new one; the caller puts the
    /// connection back once it has read the reply. An idle connection that
    /// fails before any reply (closed by the owner while idle, or the owner
    /// died since) is dropped and the request sent once on a fresh
    /// connection, so that a dead owner shows as unreachable (connection
    /// refused) rather than as a request lost mid-way. The request is built
    /// once (no copy per attempt): a connection that could not write it
    /// hands it back; one that wrote it and failed has it built again.
    async fn send(
        &self,
        authority: &str,
        build: impl Fn() -> Result<Request<Full<Bytes>>, Attempt>,
    ) -> Result<(hyper::Response<hyper::body::Incoming>, Sender), Attempt> {
        let mut request = build()?;
        while let Some(mut sender) = self.take(authority) {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, sender)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => {
                        tracing::debug!(error = %e.error(), "idle grid connection failed; trying a fresh one");
                        request = unsent;
                    }
                    // Written, then the idle connection failed (closed by
                    // the owner while idle): no reply came, so it goes once
                    // more on a fresh connection, as before.
                    None => {
                        tracing::debug!(error = %e.error(), "idle grid connection failed; trying a fresh one");
                        request = build()?;
                    }
                },
            }
        }
        let mut sender = Self::connect(authority).await?;
        match sender.try_send_request(request).await {
            Ok(response) => Ok((response, sender)),
            Err(mut e) => match e.take_message() {
                Some(_) => Err(Attempt::Unreachable(e.into_error().to_string())),
                None => Err(Attempt::Lost(e.into_error().to_string())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::{HeaderMap, HeaderValue};

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use dispatcher_dispatch::{RemoteOwner, RemoteScenes, Route, SceneHome};
    use dispatcher_protocol::Encoding;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::{
        inbound, next_hops, split_url, Forwarded, Forwarder, Inbound, InboundRefusal, Outgoing, HOPS_HEADER, HOP_LIMIT, SECRET_HEADER,
        TRANSPORT_HEADER,
    };

    const SECRET: &str = "a-long-shared-secret-string";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    #[test]
    fn a_client_request_has_no_grid_headers() {
        assert_eq!(inbound(&HeaderMap::new(), Some(SECRET)), Ok(Inbound::Client));
        assert_eq!(inbound(&HeaderMap::new(), None), Ok(Inbound::Client));
    }

    #[test]
    fn forwarded_requests_need_the_right_secret() {
        let ok = headers(&[(SECRET_HEADER, SECRET), (HOPS_HEADER, "1"), ("x-dispatcher-forwarded-for", "10.1.2.3")]);
        assert_eq!(
            inbound(&ok, Some(SECRET)),
            Ok(Inbound::Forwarded {
                hops: 1,
                source: Some("10.1.2.3".parse().expect("address")),
                udp: false
            })
        );
        let wrong = headers(&[(SECRET_HEADER, "a-long-shared-secret-strinG"), (HOPS_HEADER, "1")]);
        assert_eq!(inbound(&wrong, Some(SECRET)), Err(InboundRefusal::WrongSecret));
        let short = headers(&[(SECRET_HEADER, "a-long"), (HOPS_HEADER, "1")]);
        assert_eq!(inbound(&short, Some(SECRET)), Err(InboundRefusal::WrongSecret));
        // Any grid header without the secret: refused, not taken for a client's.
        let missing = headers(&[(HOPS_HEADER, "1")]);
        assert_eq!(inbound(&missing, Some(SECRET)), Err(InboundRefusal::MissingSecret));
        let udp_only = headers(&[(TRANSPORT_HEADER, "udp")]);
        assert_eq!(inbound(&udp_only, Some(SECRET)), Err(InboundRefusal::MissingSecret));
        // A standalone host accepts no forwarded request at all.
        assert_eq!(inbound(&ok, None), Err(InboundRefusal::NotGrid));
    }

    #[test]
    fn hop_counts_outside_the_limit_are_refused() {
        for bad in ["0", "3", "-1", "x", "", "99999999999"] {
            let h = headers(&[(SECRET_HEADER, SECRET), (HOPS_HEADER, bad)]);
            assert_eq!(inbound(&h, Some(SECRET)), Err(InboundRefusal::BadHops), "{bad:?}");
        }
        let none = headers(&[(SECRET_HEADER, SECRET)]);
        assert_eq!(inbound(&none, Some(SECRET)), Err(InboundRefusal::BadHops));
        let udp = headers(&[(SECRET_HEADER, SECRET), (HOPS_HEADER, "2"), (TRANSPORT_HEADER, "UDP")]);
        assert_eq!(
            inbound(&udp, Some(SECRET)),
            Ok(Inbound::Forwarded {
                hops: 2,
                source: None,
                udp: true
            })
        );
    }

    #[test]
    fn a_request_at_the_hop_limit_is_never_forwarded() {
        assert_eq!(next_hops(0, "Harbor Island"), Ok(1));
        assert_eq!(next_hops(HOP_LIMIT - 1, "Harbor Island"), Ok(HOP_LIMIT));
        let refused = next_hops(HOP_LIMIT, "Harbor Island").expect_err("at the limit");
        assert!(refused.contains("Harbor Island") && refused.contains("limit is 2"), "{refused}");
        assert!(next_hops(u32::MAX, "x").is_err());
    }

    /// An owner stand-in that answers each connection's first request with a
    /// keep-alive reply, then closes the connection: the pooled connection
    /// is dead when it is next used, idle and undriven meanwhile.
    async fn closing_owner() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Headers, then a body of the declared length.
                    loop {
                        let Ok(n) = stream.read(&mut buf).await else { return };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length: usize = text
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if seen.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let body = r#"{"_Success":1}"#;
                    let reply =
                        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                    let _ = stream.write_all(reply.as_bytes()).await;
                    // Closed without a word, as an owner restarting would.
                });
            }
        });
        (addr, accepted)
    }

    struct Nowhere;

    impl RemoteScenes for Nowhere {
        fn locate(&self, _: &str) -> SceneHome {
            SceneHome::Unowned
        }
    }

    #[tokio::test]
    async fn a_pooled_connection_the_owner_closed_while_idle_is_replaced_by_a_fresh_one() {
        let (addr, accepted) = closing_owner().await;
        let forwarder = Forwarder::new(SECRET.into(), Arc::new(Nowhere), Duration::from_secs(1));
        let owner = RemoteOwner {
            host: "sim-a".into(),
            url: format!("http://{addr}"),
            epoch: 1,
        };
        for round in 1..=3 {
            let out = Outgoing {
                route: Route::Remote {
                    scene: "Harbor Island".into(),
                    owner: owner.clone(),
                },
                body: Bytes::from_static(b"{}"),
                encoding: Encoding::Json,
                path: "/Dispatcher/",
                hops: 0,
                source: "10.0.0.1".parse().expect("address"),
                udp: false,
            };
            let Forwarded::Reply(relayed) = forwarder.forward(out).await else {
                panic!("round {round}: the owner is remote");
            };
            assert_eq!(relayed.failure, None, "round {round}");
            assert_eq!(&relayed.body[..], br#"{"_Success":1}"#, "round {round}");
            // Let the stand-in close its side before the next request.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // One for the link request, which the stand-in answers without
        // upgrading (an owner that does not speak the link: plain HTTP from
        // then on), then one fresh connection per request.
        assert_eq!(accepted.load(Ordering::SeqCst), 4, "one fresh connection per request");
    }

    #[test]
    fn advertise_urls() {
        assert_eq!(split_url("http://10.0.0.5:9000"), Ok(("10.0.0.5:9000".into(), String::new())));
        assert_eq!(split_url("http://10.0.0.5:9000/"), Ok(("10.0.0.5:9000".into(), String::new())));
        assert_eq!(split_url("http://h:1/grid/"), Ok(("h:1".into(), "/grid".into())));
        assert!(split_url("https://h:1").is_err());
        assert!(split_url("http:///x").is_err());
    }
}
