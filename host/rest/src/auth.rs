//! HTTP authentication (§4): Basic and Digest against the account store, the
//! god-key rule for unknown names, issued-nonce tracking and the shared login
//! throttle (`dispatcher_guard::LoginThrottle`, the same one CreateCapability
//! uses): backoff per (name, address) and per address, never a lockout of an
//! address that has not failed. Authentication runs before anything else looks
//! at a request; there is no authorisation beyond it (§4.7, Q4).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use dispatcher_guard::{LoginThrottle, Throttled};
use dispatcher_store::{Account, Store};
use md5::{Digest, Md5};
use parking_lot::Mutex;
use uuid::Uuid;

use crate::config::{AuthScheme, RestConfig, RestLimits};

/// The result of checking one request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    Granted,
    /// 401 with a fresh challenge.
    Challenge,
    /// 400: a Digest header that breaks the rules of §4.5.
    BadRequest(String),
    /// This address (or this name from it) is in backoff after failures.
    Throttled(Throttled),
}

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

/// OpenSim's legacy stored hash: `md5hex(md5hex(password) + ":" + salt)`.
fn password_matches(account: &Account, password: &str) -> bool {
    let computed = md5_hex(&format!("{}:{}", md5_hex(password), account.password_salt));
    computed.eq_ignore_ascii_case(&account.password_hash)
}

struct NonceState {
    issued: Instant,
    /// Highest `nc` accepted so far (§4.5's per-nonce counter).
    last_nc: Option<u32>,
}

/// Per-service authentication state.
pub struct Authenticator {
    scheme: AuthScheme,
    enabled: bool,
    realm: String,
    god_key: String,
    limits: RestLimits,
    nonces: Mutex<HashMap<String, NonceState>>,
    throttle: Arc<LoginThrottle>,
}

/// Splits "First Last" at the first space (§4.4 step 4).
fn split_name(user: &str) -> (&str, &str) {
    user.split_once(' ').unwrap_or((user, ""))
}

fn lookup(store: &Store, user: &str) -> Result<Option<Account>, ()> {
    let (first, last) = split_name(user);
    if first.is_empty() || last.is_empty() {
        return Ok(None);
    }
    store.account_by_name(first, last).map_err(|e| {
        tracing::error!(error = %e, "REST authentication: account lookup failed");
    })
}

/// Parses `name="value", name=token, ...`; `None` when malformed or when a
/// parameter appears twice (§4.5 FIX: 400, not a crash).
fn digest_params(text: &str) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let cut = after.find(',').unwrap_or(after.len());
            (after[..cut].trim().to_owned(), &after[cut..])
        };
        if name.is_empty() || out.insert(name, value).is_some() {
            return None;
        }
        rest = tail.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Some(out)
}

impl Authenticator {
    pub fn new(config: &RestConfig, limits: &RestLimits, throttle: Arc<LoginThrottle>) -> Authenticator {
        Authenticator {
            scheme: config.scheme(),
            enabled: config.authenticate,
            realm: config.realm.clone(),
            god_key: config.god_key.clone(),
            limits: limits.clone(),
            nonces: Mutex::new(HashMap::new()),
            throttle,
        }
    }

    /// The `WWW-Authenticate` header values of a 401 (§4.3), one per offered
    /// scheme; each Digest challenge carries a newly issued nonce.
    pub fn challenge(&self, domain: &str) -> Vec<String> {
        let basic = format!("Basic realm=\"{}\"", self.realm);
        let digest = || {
            format!(
                "Digest realm=\"{}\",nonce=\"{}\",algorithm=MD5,qop=\"auth\",domain=\"{domain}\"",
                self.realm,
                self.issue_nonce()
            )
        };
        match self.scheme {
            AuthScheme::Basic => vec![basic],
            AuthScheme::Digest => vec![digest()],
            AuthScheme::Any => vec![basic, digest()],
        }
    }

    fn issue_nonce(&self) -> String {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let nonce = B64.encode(format!("{secs}{}", Uuid::new_v4()));
        let mut table = self.nonces.lock();
        let lifetime = Duration::from_secs(self.limits.nonce_lifetime_secs);
        table.retain(|_, s| s.issued.elapsed() < lifetime);
        if table.len() >= self.limits.max_nonces {
            // Forget the oldest: its client gets a fresh challenge.
            if let Some(oldest) = table.iter().min_by_key(|(_, s)| s.issued).map(|(k, _)| k.clone()) {
                table.remove(&oldest);
            }
        }
        table.insert(
            nonce.clone(),
            NonceState {
                issued: Instant::now(),
                last_nc: None,
            },
        );
        nonce
    }

    /// Check a request's `Authorization` header.
    pub fn check(&self, store: &Store, method: &str, authorization: Option<&str>, peer: IpAddr) -> AuthOutcome {
        if !self.enabled {
            return AuthOutcome::Granted;
        }
        let Some(header) = authorization.map(str::trim) else {
            return AuthOutcome::Challenge;
        };
        let (word, rest) = header.split_once(' ').unwrap_or((header, ""));
        let offered = |s: AuthScheme| self.scheme == s || self.scheme == AuthScheme::Any;
        if word.eq_ignore_ascii_case("basic") && offered(AuthScheme::Basic) {
            self.basic(store, rest.trim(), peer)
        } else if word.eq_ignore_ascii_case("digest") && offered(AuthScheme::Digest) {
            self.digest(store, method, rest, peer)
        } else {
            AuthOutcome::Challenge
        }
    }

    fn basic(&self, store: &Store, token: &str, peer: IpAddr) -> AuthOutcome {
        // Invalid base64 or UTF-8 gives an empty string, which has no colon (§4.4).
        let decoded = B64.decode(token).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
        let Some((user, password)) = decoded.split_once(':') else {
            return AuthOutcome::Challenge;
        };
        let user = user.trim();
        if user.is_empty() {
            return AuthOutcome::Challenge;
        }
        if let Err(t) = self.throttle.check(user, peer) {
            self.throttle.record_refusal("REST", user, peer, t);
            return AuthOutcome::Throttled(t);
        }
        let ok = match lookup(store, user) {
            Err(()) => return AuthOutcome::Challenge,
            Ok(Some(account)) => password_matches(&account, password),
            // God key: unknown names only, and never an empty key (§4.4 FIX).
            Ok(None) => !self.god_key.is_empty() && password == self.god_key,
        };
        self.record(user, peer, ok)
    }

    fn digest(&self, store: &Store, method: &str, text: &str, peer: IpAddr) -> AuthOutcome {
        let Some(p) = digest_params(text) else {
            return AuthOutcome::BadRequest("malformed or repeated Digest parameter".into());
        };
        let get = |k: &str| p.get(k).map(String::as_str);
        let Some(response) = get("response") else {
            return AuthOutcome::BadRequest("Digest response missing".into());
        };
        let Some(nonce) = get("nonce") else {
            return AuthOutcome::Challenge;
        };
        if get("opaque").is_some() || get("algorithm").is_some_and(|a| a != "MD5") {
            return AuthOutcome::Challenge;
        }
        let qop = get("qop").map(str::to_ascii_lowercase);
        let (cnonce, nc) = (get("cnonce"), get("nc"));
        let nc_value = match (&qop, cnonce, nc) {
            (Some(_), None, _) => return AuthOutcome::BadRequest("Digest cnonce missing".into()),
            (Some(_), _, None) => return AuthOutcome::BadRequest("Digest nc missing".into()),
            (Some(q), Some(_), Some(nc)) => {
                if q != "auth" {
                    // Only `auth` is offered; auth-int is refused rather than
                    // hashed over the wrong body (§4.5).
                    return AuthOutcome::BadRequest(format!("Digest qop {q} not supported"));
                }
                match u32::from_str_radix(nc, 16) {
                    Ok(n) => Some(n),
                    Err(_) => return AuthOutcome::BadRequest("Digest nc is not hexadecimal".into()),
                }
            }
            (None, None, None) => None,
            (None, _, _) => return AuthOutcome::BadRequest("Digest cnonce or nc without qop".into()),
        };
        let user = get("username").unwrap_or("");
        let uri = get("uri").unwrap_or("");
        {
            let table = self.nonces.lock();
            let lifetime = Duration::from_secs(self.limits.nonce_lifetime_secs);
            match table.get(nonce) {
                Some(s) if s.issued.elapsed() < lifetime => {
                    if let (Some(n), Some(last)) = (nc_value, s.last_nc) {
                        if n <= last {
                            return AuthOutcome::BadRequest("Digest nonce count reused".into());
                        }
                    }
                }
                // Not issued here, expired or already used up: a fresh challenge.
                _ => return AuthOutcome::Challenge,
            }
        }
        if let Err(t) = self.throttle.check(user, peer) {
            self.throttle.record_refusal("REST", user, peer, t);
            return AuthOutcome::Throttled(t);
        }
        let material = match lookup(store, user) {
            Err(()) => return AuthOutcome::Challenge,
            Ok(Some(account)) => account.password_hash,
            Ok(None) if !self.god_key.is_empty() => self.god_key.clone(),
            Ok(None) => return self.record(user, peer, false),
        };
        let ha1 = md5_hex(&format!("{user}:{}:{material}", self.realm));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let expected = match (&qop, cnonce, nc) {
            (Some(q), Some(cn), Some(nc)) => md5_hex(&format!("{ha1}:{nonce}:{nc}:{cn}:{q}:{ha2}")),
            _ => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
        };
        let ok = expected.eq_ignore_ascii_case(response);
        if ok {
            let mut table = self.nonces.lock();
            match nc_value {
                Some(n) => {
                    if let Some(s) = table.get_mut(nonce) {
                        s.last_nc = Some(n);
                    }
                }
                // Without qop there is no counter to stop a replay: single use.
                None => {
                    table.remove(nonce);
                }
            }
        }
        self.record(user, peer, ok)
    }

    fn record(&self, user: &str, peer: IpAddr, ok: bool) -> AuthOutcome {
        if ok {
            self.throttle.record_success(user, peer);
            return AuthOutcome::Granted;
        }
        self.throttle.record_failure("REST", user, peer);
        AuthOutcome::Challenge
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dispatcher_store::NewAccount;

    fn setup(config: RestConfig, limits: RestLimits) -> (tempfile::TempDir, Store, Authenticator) {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("open");
        store
            .create_account(&NewAccount {
                first_name: "Test".into(),
                last_name: "User".into(),
                password: "password".into(),
                ..Default::default()
            })
            .expect("account");
        let auth = Authenticator::new(&config, &limits, Arc::new(LoginThrottle::default()));
        (dir, store, auth)
    }

    fn basic(text: &str) -> String {
        format!("Basic {}", B64.encode(text))
    }

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn basic_rules_and_god_key() {
        let config = RestConfig {
            god_key: "SECRET".into(),
            ..RestConfig::default()
        };
        let (_d, store, auth) = setup(config, RestLimits::default());
        let check = |h: &str| auth.check(&store, "GET", Some(h), PEER);
        assert_eq!(check(&basic("Test User:password")), AuthOutcome::Granted);
        assert_eq!(check(&basic("Test User:wrong")), AuthOutcome::Challenge);
        assert_eq!(check(&basic("nobody:SECRET")), AuthOutcome::Granted);
        assert_eq!(check(&basic("Test User:SECRET")), AuthOutcome::Challenge);
        assert_eq!(check(&basic("nocolon")), AuthOutcome::Challenge);
        assert_eq!(check(&basic(":SECRET")), AuthOutcome::Challenge);
        assert_eq!(check("Basic !!!"), AuthOutcome::Challenge);
        assert_eq!(auth.check(&store, "GET", None, PEER), AuthOutcome::Challenge);
    }

    #[test]
    fn empty_god_key_never_admits() {
        let (_d, store, auth) = setup(RestConfig::default(), RestLimits::default());
        assert_eq!(auth.check(&store, "GET", Some(&basic("nobody:")), PEER), AuthOutcome::Challenge);
    }

    #[test]
    fn failures_back_off_per_address_without_locking_the_owner_out() {
        let (_d, store, auth) = setup(RestConfig::default(), RestLimits::default());
        let attacker: IpAddr = "10.0.0.1".parse().expect("ip");
        let mut throttled = None;
        for _ in 0..20 {
            match auth.check(&store, "GET", Some(&basic("Test User:wrong")), attacker) {
                AuthOutcome::Challenge => {}
                AuthOutcome::Throttled(t) => {
                    throttled = Some(t);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(throttled.is_some(), "guessing was never slowed down");
        // The attacker's address is refused even with the right password…
        assert!(matches!(
            auth.check(&store, "GET", Some(&basic("Test User:password")), attacker),
            AuthOutcome::Throttled(_)
        ));
        // …the owner's is not.
        assert_eq!(auth.check(&store, "GET", Some(&basic("Test User:password")), PEER), AuthOutcome::Granted);
    }

    fn digest_header(user: &str, material: &str, nonce: &str, nc: Option<&str>) -> String {
        let ha1 = md5_hex(&format!("{user}:OpenSim REST:{material}"));
        let ha2 = md5_hex("GET:/admin/inventory");
        match nc {
            Some(nc) => {
                let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:c1:auth:{ha2}"));
                format!(
                    r#"username="{user}", nonce="{nonce}", uri="/admin/inventory", qop=auth, nc={nc}, cnonce="c1", response="{response}""#
                )
            }
            None => {
                let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
                format!(r#"username="{user}", nonce="{nonce}", uri="/admin/inventory", response="{response}""#)
            }
        }
    }

    fn issued(auth: &Authenticator) -> String {
        let c = auth.challenge("/admin/inventory").remove(0);
        let start = c.find("nonce=\"").expect("nonce") + 7;
        c[start..start + c[start..].find('"').expect("end")].to_owned()
    }

    #[test]
    fn digest_nonces_are_issued_counted_single_use_and_expire() {
        let config = RestConfig {
            auth_scheme: "Digest".into(),
            ..RestConfig::default()
        };
        let (_d, store, auth) = setup(config.clone(), RestLimits::default());
        let hash = store.account_by_name("Test", "User").expect("q").expect("a").password_hash;
        let check = |h: String| auth.check(&store, "GET", Some(&format!("Digest {h}")), PEER);
        let nonce = issued(&auth);
        assert_eq!(check(digest_header("Test User", &hash, &nonce, Some("00000001"))), AuthOutcome::Granted);
        assert!(matches!(
            check(digest_header("Test User", &hash, &nonce, Some("00000001"))),
            AuthOutcome::BadRequest(_)
        ));
        assert_eq!(check(digest_header("Test User", &hash, &nonce, Some("00000002"))), AuthOutcome::Granted);
        // Without qop there is no counter: the nonce is good once.
        let nonce = issued(&auth);
        assert_eq!(check(digest_header("Test User", &hash, &nonce, None)), AuthOutcome::Granted);
        assert_eq!(check(digest_header("Test User", &hash, &nonce, None)), AuthOutcome::Challenge);
        // The clear password is not the material; an unknown user needs the god key.
        let nonce = issued(&auth);
        assert_eq!(check(digest_header("Test User", "password", &nonce, Some("00000001"))), AuthOutcome::Challenge);
        assert_eq!(check(digest_header("nobody", "", &nonce, Some("00000002"))), AuthOutcome::Challenge);

        // Expired nonces and a bounded table.
        let limits = RestLimits {
            nonce_lifetime_secs: 0,
            ..RestLimits::default()
        };
        let (_d2, store2, expiring) = setup(config.clone(), limits);
        let nonce = issued(&expiring);
        let header = format!("Digest {}", digest_header("Test User", &hash, &nonce, Some("00000001")));
        assert_eq!(expiring.check(&store2, "GET", Some(&header), PEER), AuthOutcome::Challenge);
        let limits = RestLimits {
            max_nonces: 2,
            ..RestLimits::default()
        };
        let (_d3, _store3, small) = setup(config, limits);
        for _ in 0..5 {
            issued(&small);
        }
        assert_eq!(small.nonces.lock().len(), 2);
    }

    #[test]
    fn digest_parameters() {
        let p = digest_params(r#"username="Test User", nc=00000001, qop=auth, uri="/a,b""#).expect("parse");
        assert_eq!(p["username"], "Test User");
        assert_eq!(p["uri"], "/a,b");
        assert_eq!(p["nc"], "00000001");
        assert!(digest_params(r#"nonce="a", nonce="b""#).is_none());
    }
}
