//! The HTTP listener: one port for the Dispatcher path and the REST service
//! (below its prefix, run on blocking threads, as are Dispatcher requests that
//! commit to the database; see [`dispatch`]). A connection cap is taken
//! before `accept`; headers and bodies have time limits; bodies have a size
//! limit; accept errors back off.
//!
//! Transport-level refusals never carry a dispatcher reply object unless its
//! Content-Type says so (dispatcher-core.md §2.1.5): a filtered address gets 403,
//! an unsupported media type 415, a non-POST method 405, each with a short
//! plain-text reason.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dispatcher_dispatch::{Dispatcher, Route, Transport};
use dispatcher_protocol::{DecodedRequest, Encoding, Reply};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, WWW_AUTHENTICATE,
    X_CONTENT_TYPE_OPTIONS,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::config::HttpLimits;
use crate::forward::{Forwarded, Forwarder, Inbound, Outgoing, Relayed};
use dispatcher_rest::{RestRequest, RestService};

/// What every connection shares.
pub struct HttpState {
    pub dispatcher: Dispatcher,
    pub http_path: String,
    pub limits: HttpLimits,
    pub max_body_bytes: usize,
    /// The REST inventory interface, when enabled (rest-inventory.md §1).
    pub rest: Option<Arc<RestService>>,
    /// The dashboard's files (`/` and `/dashboard/`).
    pub dashboard: crate::dashboard::Dashboard,
    /// `/metrics` (docs/live.md), when enabled.
    pub metrics: Option<MetricsEndpoint>,
    /// The WebSocket event stream at `<http_path>events`, when enabled.
    pub events: Option<Arc<crate::event_stream::EventStreams>>,
    /// The listener's connection counters (`/metrics`).
    pub connections: Arc<crate::metrics::ConnectionCounters>,
    /// Grid mode: forwarding to the owners of regions served elsewhere, and
    /// the secret forwarded requests must carry. `None` standalone.
    pub forward: Option<Arc<Forwarder>>,
    /// Turns `true` when the host shuts down (grid links stop reading).
    pub shutdown: watch::Receiver<bool>,
}

/// The metrics exposition and where it is served.
pub struct MetricsEndpoint {
    pub path: String,
    /// `Authorization: Bearer <token>` required when set.
    pub bearer_token: Option<String>,
    pub metrics: crate::metrics::Metrics,
}

type Body = Full<Bytes>;

fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn protocol(status: StatusCode, reply: &Reply, encoding: Encoding) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(reply.encode(encoding))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(encoding.content_type()));
    r
}

/// Largest request body read and dropped before a refusal is sent. Answering
/// before the body has arrived makes hyper close the connection without saying
/// so, and a keep-alive client that reuses it then fails instead of seeing the
/// status; larger bodies get `Connection: close` instead.
const REFUSAL_DRAIN_BYTES: usize = 64 * 1024;

/// Send a transport refusal after draining a small request body.
async fn refuse(body: Incoming, limits: &HttpLimits, mut response: Response<Body>) -> Response<Body> {
    let drained = Limited::new(body, REFUSAL_DRAIN_BYTES);
    let read = tokio::time::timeout(Duration::from_millis(limits.body_timeout_ms), drained.collect()).await;
    if !matches!(read, Ok(Ok(_))) {
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A dashboard file for `GET` (headers only for `HEAD`); other methods get 405.
fn dashboard_file(file: crate::dashboard::File, method: &Method) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "the dashboard accepts GET and HEAD only");
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let length = file.body.len();
    let body = if method == Method::HEAD { Bytes::new() } else { file.body };
    let mut r = Response::new(Full::new(body));
    let headers = r.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(crate::dashboard::CONTENT_SECURITY_POLICY));
    r
}

/// Where a path falls relative to the dispatcher path: `Some(path_domain)` when
/// routed. Accepts the path itself, the path without its trailing slash, and the
/// path followed by one segment, which becomes the path domain (quirk Q4 fixed).
pub fn route(http_path: &str, path: &str) -> Option<String> {
    let bare = http_path.trim_end_matches('/');
    if path == http_path || path == bare {
        return Some(String::new());
    }
    let rest = path.strip_prefix(http_path)?;
    let segment = rest.strip_suffix('/').unwrap_or(rest);
    if segment.contains('/') {
        return None;
    }
    Some(percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned())
}

/// The declared `Content-Length`, when there is a valid one.
fn declared_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// `413` with a Failure in the request's encoding; the body stays unread, so
/// the connection is closed.
fn too_large(max_body_bytes: usize, encoding: Encoding) -> Response<Body> {
    let reply = Reply::failure(format!("Fatal error; request body exceeds the limit of {max_body_bytes} bytes"));
    let mut r = protocol(StatusCode::PAYLOAD_TOO_LARGE, &reply, encoding);
    r.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn handle(state: Arc<HttpState>, peer: SocketAddr, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if let Some(metrics) = state.metrics.as_ref().filter(|m| m.path == req.uri().path()) {
        return Ok(serve_metrics(metrics, &state.limits, req).await);
    }
    if let Some(events) = state.events.as_ref() {
        let path = req.uri().path();
        if path
            .strip_prefix(state.http_path.as_str())
            .is_some_and(|rest| rest == "events" || rest == "events/")
        {
            return Ok(crate::event_stream::upgrade(events, peer, req));
        }
    }
    let Some(path_domain) = route(&state.http_path, req.uri().path()) else {
        // The Dispatcher path has priority, then the dashboard's few paths;
        // the REST prefix gets the rest.
        if let Some(file) = state.dashboard.file(req.uri().path()) {
            return Ok(dashboard_file(file, req.method()));
        }
        let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        if let Some(rest) = state.rest.as_ref().filter(|r| r.handles(target)) {
            return Ok(serve_rest(rest.clone(), &state.limits, peer, req).await);
        }
        return Ok(refuse(req.into_body(), &state.limits, text(StatusCode::NOT_FOUND, "not found")).await);
    };
    if req.method() != Method::POST {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "the Dispatcher path accepts POST only");
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
        return Ok(refuse(req.into_body(), &state.limits, r).await);
    }
    if !state.dispatcher.ip_allowed(peer.ip()) {
        tracing::info!(%peer, "request from a filtered address refused");
        let r = text(StatusCode::FORBIDDEN, "source address not allowed");
        return Ok(refuse(req.into_body(), &state.limits, r).await);
    }
    if crate::grid_link::is_link_request(req.headers()) {
        return Ok(accept_link(&state, peer, req));
    }
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(encoding) = Encoding::from_content_type(content_type) else {
        let r = text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("unsupported Content-Type {content_type:?}; send application/json or application/bson"),
        );
        return Ok(refuse(req.into_body(), &state.limits, r).await);
    };
    let inbound = match crate::forward::inbound(req.headers(), state.forward.as_ref().map(|f| f.secret())) {
        Ok(inbound) => inbound,
        Err(refusal) => {
            tracing::warn!(%peer, reason = %refusal, "forwarded request refused");
            let r = protocol(StatusCode::OK, &Reply::failure(refusal.to_string()), encoding);
            return Ok(refuse(req.into_body(), &state.limits, r).await);
        }
    };
    if declared_length(&req).is_some_and(|n| n > state.max_body_bytes as u64) {
        // Refused before a byte of the body is read.
        return Ok(too_large(state.max_body_bytes, encoding));
    }
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let body = Limited::new(req.into_body(), state.max_body_bytes);
    let collected = tokio::time::timeout(Duration::from_millis(state.limits.body_timeout_ms), body.collect()).await;
    let bytes = match collected {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                return Ok(too_large(state.max_body_bytes, encoding));
            }
            return Ok(text(StatusCode::BAD_REQUEST, &format!("could not read the request body: {e}")));
        }
        Err(_) => return Ok(text(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time")),
    };
    let (source, hops, udp) = match inbound {
        Inbound::Client => (peer.ip(), 0, false),
        Inbound::Forwarded { hops, source, udp } => (source.unwrap_or(peer.ip()), hops, udp),
    };
    Ok(run_request(&state, path_domain, encoding, bytes, &path, source, hops, udp).await)
}

/// Run a Dispatcher request whose body has been read: decode, route (in a
/// grid, forward to the region's owner), dispatch. HTTP and the grid link
/// (forwarded requests, `hops` ≥ 1) both end here.
#[allow(
    clippy::too_many_arguments,
    reason = "the request's facts, each from its own header or frame field"
)]
async fn run_request(
    state: &HttpState,
    path_domain: String,
    encoding: Encoding,
    bytes: Bytes,
    path: &str,
    source: IpAddr,
    hops: u32,
    udp: bool,
) -> Response<Body> {
    let request = match state.dispatcher.decode(&bytes, encoding) {
        Ok(request) => request,
        Err(failure) => return protocol(StatusCode::OK, &failure, encoding),
    };
    // A datagram forwarded by another host runs as one (queued, unanswered).
    let transport = if udp { Transport::Udp } else { Transport::Http { path_domain } };
    if let Some(forwarder) = &state.forward {
        let route = state.dispatcher.route(&request, &transport);
        if let Route::Refused { message } = &route {
            return protocol(StatusCode::OK, &Reply::failure(message.clone()), encoding);
        }
        if route != Route::Local {
            let out = Outgoing {
                route,
                body: bytes.clone(),
                encoding,
                path,
                hops,
                source,
                udp,
            };
            if let Forwarded::Reply(relayed) = forwarder.forward(out).await {
                return relay(relayed);
            }
        }
    }
    let reply = dispatch(&state.dispatcher, request, bytes.len(), source, transport).await;
    let reply = match (reply, udp) {
        (Some(reply), _) => reply,
        (None, true) => Reply::queued(),
        (None, false) => Reply::failure("Fatal error; no reply"),
    };
    protocol(StatusCode::OK, &reply, encoding)
}

/// Answer a grid link request (docs/grid.md, "The grid link"; the IP filter
/// was applied already): refused unless this host is in a grid and the
/// secret matches; else `101`, and the link is served on the upgraded
/// connection, each request it brings run by [`run_link_request`].
fn accept_link(state: &Arc<HttpState>, peer: SocketAddr, mut req: Request<Incoming>) -> Response<Body> {
    let Some(forward) = state.forward.as_ref() else {
        return text(StatusCode::FORBIDDEN, "grid link refused: this host is not a member of a grid");
    };
    match req.headers().get(crate::grid_link::SECRET_HEADER).map(HeaderValue::as_bytes) {
        None => {
            tracing::warn!(%peer, "grid link refused: missing grid secret");
            return text(StatusCode::FORBIDDEN, "grid link refused: missing grid secret");
        }
        Some(sent) if !crate::grid_link::constant_time_eq(sent, forward.secret().as_bytes()) => {
            tracing::warn!(%peer, "grid link refused: wrong grid secret");
            return text(StatusCode::FORBIDDEN, "grid link refused: wrong grid secret");
        }
        Some(_) => {}
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let state = state.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let (max, shutdown) = (state.max_body_bytes, state.shutdown.clone());
                let run: crate::grid_link::Runner = Arc::new(move |r| {
                    let state = state.clone();
                    Box::pin(async move { run_link_request(&state, peer, r).await })
                });
                crate::grid_link::serve(peer, TokioIo::new(upgraded), max, shutdown, run).await;
            }
            Err(e) => tracing::debug!(%peer, error = %e, "grid link upgrade failed"),
        }
    });
    crate::grid_link::switching_protocols()
}

/// Run one request a grid link brought, as a forwarded HTTP request runs:
/// the frame's hop count checked as `X-Dispatcher-Hops` is, its body against
/// the size limit.
async fn run_link_request(state: &HttpState, peer: SocketAddr, r: crate::grid_link::LinkRequest) -> Response<Body> {
    let Some(path_domain) = route(&state.http_path, &r.path) else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    if !(1..=crate::forward::HOP_LIMIT).contains(&r.hops) {
        let reply = Reply::failure(crate::forward::InboundRefusal::BadHops.to_string());
        return protocol(StatusCode::OK, &reply, r.encoding);
    }
    if r.body.len() > state.max_body_bytes {
        return too_large(state.max_body_bytes, r.encoding);
    }
    let source = r.source.unwrap_or(peer.ip());
    run_request(state, path_domain, r.encoding, r.body, &r.path, source, r.hops, r.udp).await
}

/// The owner's reply to a forwarded request, as it came.
fn relay(relayed: Relayed) -> Response<Body> {
    let mut r = Response::new(Full::new(relayed.body));
    *r.status_mut() = relayed.status;
    if let Some(content_type) = relayed.content_type {
        r.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    r
}

/// Run one decoded Dispatcher request of `body_len` bytes. Decoding (bounded
/// by the decode limits) and the handlers of reads stay on the worker thread:
/// they commit nothing (a read still waits for a scene or store lock that a
/// commit holds, so a read of the region being written waits with it). A
/// synchronous request whose type commits ([`Dispatcher::commits`]: creates,
/// deletes, asset, appearance, terrain, sun and script writes) runs on a
/// blocking thread, as REST does, so that a slow disk or a held lock never
/// stalls accepting connections and reading requests. Asynchronous requests
/// only queue, so they stay here too.
async fn dispatch(
    dispatcher: &Dispatcher,
    request: DecodedRequest,
    body_len: usize,
    source: IpAddr,
    transport: Transport,
) -> Option<Reply> {
    if request.envelope.async_request || transport == Transport::Udp || !dispatcher.commits(&request.type_name) {
        return dispatcher.handle_received(request, body_len, source, transport);
    }
    let dispatcher = dispatcher.clone();
    match tokio::task::spawn_blocking(move || dispatcher.handle_received(request, body_len, source, transport)).await {
        Ok(reply) => reply,
        // Handler panics are caught in the pipeline; this is the runtime
        // shutting down under the request.
        Err(e) => Some(Reply::failure(format!("Fatal error; the request did not finish: {e}"))),
    }
}

/// `GET /metrics`: the exposition, after the bearer token when one is set.
async fn serve_metrics(endpoint: &MetricsEndpoint, limits: &HttpLimits, req: Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "the metrics path accepts GET only");
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return refuse(req.into_body(), limits, r).await;
    }
    if let Some(token) = &endpoint.bearer_token {
        let sent = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !sent.is_some_and(|s| constant_time_eq(s.trim().as_bytes(), token.as_bytes())) {
            let mut r = text(StatusCode::UNAUTHORIZED, "a bearer token is required");
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"metrics\""));
            return refuse(req.into_body(), limits, r).await;
        }
    }
    match endpoint.metrics.scrape() {
        Ok(body) => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"));
            r
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "the metrics could not be encoded"),
    }
}

/// Compare secrets without an early exit on the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Read a REST body: at most `max` bytes kept; beyond that the rest is read
/// and dropped up to `flush` bytes (rest-inventory.md §4.6), then reading stops.
async fn read_rest_body(mut body: Incoming, max: usize, flush: usize) -> Result<(Vec<u8>, bool), hyper::Error> {
    let (mut kept, mut seen, mut too_large) = (Vec::new(), 0usize, false);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            seen += data.len();
            if seen > max {
                too_large = true;
                kept = Vec::new();
                if seen > flush {
                    break;
                }
            } else {
                kept.extend_from_slice(&data);
            }
        }
    }
    Ok((kept, too_large))
}

/// Hand one request to the (synchronous) REST service on a blocking thread.
async fn serve_rest(rest: Arc<RestService>, limits: &HttpLimits, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let (max, flush) = (rest.limits().max_body_bytes, rest.limits().max_flush_bytes);
    if declared_length(&req).is_some_and(|n| n > flush as u64) {
        // More than would ever be drained (rest-inventory.md §4.6): refused unread.
        let mut r = text(StatusCode::PAYLOAD_TOO_LARGE, &format!("request body exceeds {max} bytes"));
        r.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(Duration::from_millis(limits.body_timeout_ms), read_rest_body(body, max, flush)).await;
    let (body, body_too_large) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => return text(StatusCode::BAD_REQUEST, &format!("could not read the request body: {e}")),
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time"),
    };
    let request = RestRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
        body_too_large,
        peer,
    };
    let Ok(reply) = tokio::task::spawn_blocking(move || rest.handle(&request)).await else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "the REST handler failed");
    };
    let mut r = Response::new(Full::new(Bytes::from(reply.body)));
    *r.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reply.reason.into_bytes()) {
        r.extensions_mut().insert(phrase);
    }
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (hyper::header::HeaderName::try_from(name), HeaderValue::try_from(value)) {
            r.headers_mut().append(n, v);
        }
    }
    r
}

/// Open connections per source address (IPv6 by /64), for the per-address cap.
#[derive(Default)]
struct PerAddress(parking_lot::Mutex<HashMap<IpAddr, usize>>);

/// Holds one connection's place in [`PerAddress`]; released on drop.
struct AddressSlot {
    table: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    fn enter(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<AddressSlot> {
        let key = dispatcher_guard::source_key(ip);
        let mut t = self.0.lock();
        let n = t.entry(key).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(AddressSlot { table: self.clone(), key })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut t = self.table.0.lock();
        if let Some(n) = t.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                t.remove(&self.key);
            }
        }
    }
}

/// Refuse a connection over its address's cap: a short 503, then close.
fn refuse_connection(stream: &tokio::net::TcpStream, peer: SocketAddr) {
    const PAGE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 39\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections from this address\n";
    let _ = stream.try_write(PAGE);
    tracing::debug!(%peer, "connection over the per-address cap refused");
}

/// Whether the listener is under pressure: at least `pressure_percent` of the
/// connection slots in use.
fn under_pressure(limits: &HttpLimits, permits: &Semaphore) -> bool {
    let used = limits.max_connections.saturating_sub(permits.available_permits());
    used * 100 >= limits.max_connections * usize::from(limits.pressure_percent)
}

/// Slow starters closed per new connection under pressure.
const EVICTIONS_PER_ARRIVAL: usize = 4;

/// One connection still waiting for its first request's headers.
struct Starter {
    since: std::time::Instant,
    evict: Arc<tokio::sync::Notify>,
}

/// Connections that have not yet delivered their first request's headers, by
/// source address (IPv6 by /64), oldest first within each (ids grow with
/// accept order).
#[derive(Default)]
struct Waiting(parking_lot::Mutex<HashMap<IpAddr, std::collections::BTreeMap<u64, Starter>>>);

impl Waiting {
    fn add(&self, ip: IpAddr, id: u64) -> Arc<tokio::sync::Notify> {
        let evict = Arc::new(tokio::sync::Notify::new());
        let starter = Starter {
            since: std::time::Instant::now(),
            evict: evict.clone(),
        };
        self.0
            .lock()
            .entry(dispatcher_guard::source_key(ip))
            .or_default()
            .insert(id, starter);
        evict
    }

    fn remove(&self, ip: IpAddr, id: u64) {
        let key = dispatcher_guard::source_key(ip);
        let mut map = self.0.lock();
        if let Some(starters) = map.get_mut(&key) {
            starters.remove(&id);
            if starters.is_empty() {
                map.remove(&key);
            }
        }
    }

    /// Close one slow starter that has waited at least `min_age`, taken from
    /// the address with the most of them (a flood's, not a fresh client's),
    /// oldest first. Otherwise: how long until one will be eligible (None:
    /// nobody is waiting).
    fn evict_one(&self, min_age: Duration) -> Option<Duration> {
        let mut map = self.0.lock();
        let mut soonest: Option<Duration> = None;
        let mut best: Option<(usize, IpAddr, u64)> = None;
        for (ip, starters) in map.iter() {
            let Some((&id, oldest)) = starters.iter().next() else { continue };
            let age = oldest.since.elapsed();
            if age < min_age {
                let left = min_age - age;
                soonest = Some(soonest.map_or(left, |s| s.min(left)));
                continue;
            }
            if best.is_none_or(|(n, _, _)| starters.len() > n) {
                best = Some((starters.len(), *ip, id));
            }
        }
        let Some((_, ip, id)) = best else {
            return soonest;
        };
        if let Some(starters) = map.get_mut(&ip) {
            if let Some(starter) = starters.remove(&id) {
                starter.evict.notify_one();
            }
            if starters.is_empty() {
                map.remove(&ip);
            }
        }
        Some(Duration::ZERO)
    }
}

/// Connections the kernel may hold completed but not yet accepted. Tokio's
/// `TcpListener::bind` asks for 1,024; a slow-header flood that reconnects as
/// fast as it is closed fills that while the accept loop waits for a slot, and
/// a fresh client's SYN is then dropped and retried only after the kernel's
/// one-second timeout. The kernel caps the request at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 8192;

/// Listen on `host:port` (the first address `host` resolves to that binds)
/// with [`LISTEN_BACKLOG`] and `SO_REUSEADDR`, as `TcpListener::bind` does.
pub async fn bind_listener(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        let bound = socket
            .set_reuseaddr(true)
            .and_then(|()| socket.bind(addr))
            .and_then(|()| socket.listen(LISTEN_BACKLOG));
        match bound {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, format!("{host} resolves to no address"))))
}

/// Accept connections until `shutdown` flips, then let open connections finish.
///
/// Slot defence (docs/security.md): a connection over its address's cap is
/// refused at once. Under pressure (`pressure_percent` of the slots in use)
/// every new connection closes one connection that has not delivered its
/// first request's headers within `pressure_header_timeout_ms` (from the
/// address holding most of them, oldest first), so a slow-header flood cannot
/// keep fresh clients waiting for `header_timeout_ms`.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(state.limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let waiting = Arc::new(Waiting::default());
    let pressure_deadline = Duration::from_millis(state.limits.pressure_header_timeout_ms);
    let mut next_id: u64 = 0;
    let mut backoff = Duration::from_millis(5);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Typically EMFILE: wait for descriptors to free up.
                    tracing::warn!(error = %e, "accept failed; backing off {:?}", backoff);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        backoff = Duration::from_millis(5);
        let Some(address_slot) = per_address.enter(peer.ip(), state.limits.max_connections_per_address) else {
            state.connections.refused.fetch_add(1, Ordering::Relaxed);
            refuse_connection(&stream, peer);
            continue;
        };
        if under_pressure(&state.limits, &permits) {
            // A few per arrival, so that the accept loop outpaces a flood's
            // reconnects and the backlog (where fresh clients wait) drains.
            for _ in 0..EVICTIONS_PER_ARRIVAL {
                if waiting.evict_one(pressure_deadline) != Some(Duration::ZERO) {
                    break;
                }
            }
        }
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Every slot is taken: wait for one, making room from the
                // slow starters as they pass their deadline.
                let acquired = loop {
                    // Wake when the oldest slow starter passes its deadline
                    // (or, with none waiting, after the deadline anyway).
                    let wake = match waiting.evict_one(pressure_deadline) {
                        Some(d) if d.is_zero() => Duration::from_millis(50),
                        Some(d) => d,
                        None => pressure_deadline,
                    };
                    tokio::select! {
                        p = permits.clone().acquire_owned() => break p.ok(),
                        _ = tokio::time::sleep(wake) => {}
                        _ = shutdown.changed() => break None,
                    }
                };
                match acquired {
                    Some(p) => p,
                    None => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        state.connections.accepted.fetch_add(1, Ordering::Relaxed);
        state.connections.open.fetch_add(1, Ordering::Relaxed);
        let state = state.clone();
        let mut conn_shutdown = shutdown.clone();
        let id = next_id;
        next_id += 1;
        let evicted = waiting.add(peer.ip(), id);
        let waiting = waiting.clone();
        tasks.spawn(async move {
            let counters = state.connections.clone();
            let header_timeout = Duration::from_millis(state.limits.header_timeout_ms);
            let seen = Arc::new(AtomicBool::new(false));
            let (seen_in_service, waiting_in_service) = (seen.clone(), waiting.clone());
            let service = service_fn(move |req| {
                if !seen_in_service.swap(true, Ordering::Relaxed) {
                    waiting_in_service.remove(peer.ip(), id);
                }
                handle(state.clone(), peer, req)
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        let counter = if e.is_timeout() { &counters.header_timeouts } else { &counters.broken };
                        counter.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                _ = evicted.notified() => {
                    counters.header_timeouts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "no request headers in time under pressure; connection closed");
                }
                _ = conn_shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            waiting.remove(peer.ip(), id);
            counters.open.fetch_sub(1, Ordering::Relaxed);
            drop(address_slot);
            drop(permit);
        });
        // Reap finished connection tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    // Give open connections a moment to finish their current request.
    let _ = tokio::time::timeout(Duration::from_secs(5), async { while tasks.join_next().await.is_some() {} }).await;
}

#[cfg(test)]
mod tests {
    use super::route;

    #[test]
    fn routing() {
        assert_eq!(route("/Dispatcher/", "/Dispatcher/"), Some(String::new()));
        assert_eq!(route("/Dispatcher/", "/Dispatcher"), Some(String::new()));
        assert_eq!(route("/Dispatcher/", "/Dispatcher/RemoteControl"), Some("RemoteControl".into()));
        assert_eq!(route("/Dispatcher/", "/Dispatcher/Remote%20Control/"), Some("Remote Control".into()));
        assert_eq!(route("/Dispatcher/", "/Dispatcher/a/b"), None);
        assert_eq!(route("/Dispatcher/", "/admin/x"), None);
        assert_eq!(route("/Dispatcher/", "/DispatcherX"), None);
    }
}
