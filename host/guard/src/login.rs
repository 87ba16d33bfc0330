//! Login throttling shared by `CreateCapabilityRequest` and the REST service.
//!
//! Goals: an attacker can neither guess fast nor lock the real user out.
//! - Failures are counted per (account, source address) and per source
//!   address. Past a few free failures each further failure blocks that key for
//!   an exponentially growing time (`backoff_base_ms` doubling up to
//!   `backoff_max_ms`); a blocked key is refused without checking the password.
//! - An address that has no failures on record is never refused, so guesses
//!   from elsewhere cannot lock the owner out.
//! - The account is the *claimed* identity text (lowercased): unknown accounts
//!   are counted exactly like known ones, so throttling reveals nothing.
//! - Under attack (more than `attack_failures_per_minute` failures overall in a
//!   minute, e.g. guesses that rotate names and addresses) every address loses
//!   its free failures: its first failure already blocks it.
//! - Failures are logged with the source, the claimed account (escaped) and the
//!   count, never with the secret offered.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::logsafe::escape;

/// The throttle's knobs; see docs/config.md (`[Network] login_*`).
#[derive(Clone, Debug, PartialEq)]
pub struct LoginThrottleConfig {
    /// Failures per (account, address) before backoff starts.
    pub free_failures_per_account_address: u32,
    /// Failures per address, any account, before backoff starts.
    pub free_failures_per_address: u32,
    /// First backoff; doubles with each further failure.
    pub backoff_base_ms: u64,
    /// Longest backoff.
    pub backoff_max_ms: u64,
    /// A key with no failure for this long is forgotten.
    pub forget_after_s: u64,
    /// Failures per minute, all keys together, above which nobody gets free failures.
    pub attack_failures_per_minute: u32,
    /// Most keys remembered; the oldest half is forgotten when full.
    pub max_entries: usize,
}

impl Default for LoginThrottleConfig {
    fn default() -> Self {
        LoginThrottleConfig {
            free_failures_per_account_address: 5,
            free_failures_per_address: 20,
            backoff_base_ms: 1000,
            backoff_max_ms: 60_000,
            forget_after_s: 900,
            attack_failures_per_minute: 300,
            max_entries: 100_000,
        }
    }
}

/// A refused attempt: the caller answers 429 / a Failure with this delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

impl Throttled {
    /// Whole seconds, at least 1 (the `Retry-After` value).
    pub fn retry_after_secs(&self) -> u64 {
        (self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0)).max(1)
    }
}

/// What one attempt is counted under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LoginKey {
    AccountAddress(String, IpAddr),
    Address(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

struct State {
    records: HashMap<LoginKey, Record>,
    window_start: Instant,
    window_failures: u32,
    previous_window_failures: u32,
}

pub struct LoginThrottle {
    config: LoginThrottleConfig,
    state: Mutex<State>,
}

/// The address a key is kept under: IPv6 by its /64 (one host's usual share),
/// IPv4-mapped IPv6 as IPv4. Also used for per-address connection caps.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

fn account_key(account: &str) -> String {
    account.trim().to_lowercase()
}

impl LoginThrottle {
    pub fn new(config: LoginThrottleConfig) -> Self {
        let now = Instant::now();
        LoginThrottle {
            config,
            state: Mutex::new(State {
                records: HashMap::new(),
                window_start: now,
                window_failures: 0,
                previous_window_failures: 0,
            }),
        }
    }

    pub fn config(&self) -> &LoginThrottleConfig {
        &self.config
    }

    fn keys(account: &str, source: IpAddr) -> [LoginKey; 2] {
        let source = source_key(source);
        [LoginKey::AccountAddress(account_key(account), source), LoginKey::Address(source)]
    }

    fn live(&self, r: &Record, now: Instant) -> bool {
        r.blocked_until.is_some_and(|t| t > now)
            || now.saturating_duration_since(r.last_failure) < Duration::from_secs(self.config.forget_after_s)
    }

    /// May this attempt be checked at all? `Err` when its address, or its
    /// account from this address, is in backoff.
    pub fn check(&self, account: &str, source: IpAddr) -> Result<(), Throttled> {
        let now = Instant::now();
        let state = self.state.lock();
        let mut wait = Duration::ZERO;
        for key in Self::keys(account, source) {
            if let Some(until) = state.records.get(&key).and_then(|r| r.blocked_until) {
                wait = wait.max(until.saturating_duration_since(now));
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(Throttled { retry_after: wait })
        }
    }

    fn under_attack(&self, state: &mut State, now: Instant) -> bool {
        let minute = Duration::from_secs(60);
        let since = now.saturating_duration_since(state.window_start);
        if since >= minute * 2 {
            state.previous_window_failures = 0;
            state.window_failures = 0;
            state.window_start = now;
        } else if since >= minute {
            state.previous_window_failures = state.window_failures;
            state.window_failures = 0;
            state.window_start += minute;
        }
        state.window_failures.saturating_add(state.previous_window_failures) > self.config.attack_failures_per_minute
    }

    fn make_room(&self, state: &mut State, now: Instant) {
        if state.records.len() < self.config.max_entries {
            return;
        }
        state.records.retain(|_, r| self.live(r, now));
        if state.records.len() < self.config.max_entries {
            return;
        }
        // Still full: forget the older half (by last failure).
        let mut times: Vec<Instant> = state.records.values().map(|r| r.last_failure).collect();
        let mid = times.len() / 2;
        times.select_nth_unstable(mid);
        let cut = times[mid];
        state.records.retain(|_, r| r.last_failure > cut);
    }

    /// Count a failed attempt; `service` and the claimed account go to the log.
    pub fn record_failure(&self, service: &str, account: &str, source: IpAddr) {
        let now = Instant::now();
        let mut state = self.state.lock();
        state.window_failures = state.window_failures.saturating_add(1);
        let attack = self.under_attack(&mut state, now);
        self.make_room(&mut state, now);
        let mut blocked_ms = 0u64;
        let mut counts = [0u32; 2];
        for (i, key) in Self::keys(account, source).into_iter().enumerate() {
            let free = if attack {
                0
            } else {
                match key {
                    LoginKey::AccountAddress(..) => self.config.free_failures_per_account_address,
                    LoginKey::Address(_) => self.config.free_failures_per_address,
                }
            };
            let forget = Duration::from_secs(self.config.forget_after_s);
            let record = state.records.entry(key).or_insert(Record {
                failures: 0,
                last_failure: now,
                blocked_until: None,
            });
            if record.blocked_until.is_none_or(|t| t <= now) && now.saturating_duration_since(record.last_failure) >= forget {
                record.failures = 0;
            }
            record.failures = record.failures.saturating_add(1);
            record.last_failure = now;
            counts[i] = record.failures;
            if record.failures > free {
                let doublings = (record.failures - free - 1).min(30);
                let ms = self
                    .config
                    .backoff_base_ms
                    .saturating_mul(1u64 << doublings)
                    .min(self.config.backoff_max_ms);
                let until = now + Duration::from_millis(ms);
                record.blocked_until = Some(record.blocked_until.map_or(until, |t| t.max(until)));
                blocked_ms = blocked_ms.max(ms);
            }
        }
        drop(state);
        tracing::warn!(
            service,
            source = %source,
            account = %escape(account),
            failures_for_account = counts[0],
            failures_from_address = counts[1],
            blocked_ms,
            under_attack = attack,
            "login failed"
        );
    }

    /// A refused (throttled) attempt: logged, not counted.
    pub fn record_refusal(&self, service: &str, account: &str, source: IpAddr, throttled: Throttled) {
        tracing::info!(
            service,
            source = %source,
            account = %escape(account),
            retry_after_ms = throttled.retry_after.as_millis() as u64,
            "login refused: backoff"
        );
    }

    /// A successful login clears its (account, address) record; the address's
    /// own record stays, so a known password cannot reset guessing at others.
    pub fn record_success(&self, account: &str, source: IpAddr) {
        let [pair, _] = Self::keys(account, source);
        self.state.lock().records.remove(&pair);
    }

    /// Keys remembered (for tests and the console).
    pub fn len(&self) -> usize {
        self.state.lock().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(LoginThrottleConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(LoginThrottleConfig {
            free_failures_per_account_address: 3,
            free_failures_per_address: 6,
            ..LoginThrottleConfig::default()
        })
    }

    #[test]
    fn backoff_starts_after_the_free_failures() {
        let t = throttle();
        let a = ip("10.0.0.1");
        for _ in 0..3 {
            assert!(t.check("Ada Lovelace", a).is_ok());
            t.record_failure("test", "Ada Lovelace", a);
        }
        assert!(t.check("ada lovelace", a).is_ok(), "three failures are free");
        t.record_failure("test", "Ada Lovelace", a);
        let Err(th) = t.check("ADA LOVELACE", a) else { panic!("not throttled") };
        assert!(th.retry_after <= Duration::from_secs(1) && !th.retry_after.is_zero());
        assert_eq!(th.retry_after_secs(), 1);
    }

    #[test]
    fn another_address_never_locks_the_owner_out() {
        let t = throttle();
        let attacker = ip("10.0.0.2");
        for _ in 0..50 {
            t.record_failure("test", "Ada Lovelace", attacker);
        }
        assert!(t.check("Ada Lovelace", attacker).is_err());
        assert!(t.check("Ada Lovelace", ip("10.0.0.3")).is_ok());
    }

    #[test]
    fn rotating_names_are_caught_per_address_and_unknown_names_count_alike() {
        let t = throttle();
        let a = ip("10.0.0.4");
        for i in 0..6 {
            t.record_failure("test", &format!("nobody{i} x"), a);
        }
        assert!(t.check("fresh name", a).is_ok());
        t.record_failure("test", "nobody7 x", a);
        assert!(t.check("fresh name", a).is_err(), "the address is in backoff for every name");
    }

    #[test]
    fn under_attack_every_address_loses_its_free_failures() {
        let t = LoginThrottle::new(LoginThrottleConfig {
            attack_failures_per_minute: 10,
            ..LoginThrottleConfig::default()
        });
        for i in 0..11u8 {
            t.record_failure("test", &format!("n{i}"), IpAddr::from([10, 1, 0, i]));
        }
        let fresh = ip("10.2.0.1");
        assert!(t.check("x", fresh).is_ok(), "an address without failures is never refused");
        t.record_failure("test", "x", fresh);
        assert!(t.check("y", fresh).is_err());
    }

    #[test]
    fn success_clears_the_pair_but_not_the_address() {
        let t = throttle();
        let a = ip("10.0.0.5");
        for _ in 0..3 {
            t.record_failure("test", "Ada Lovelace", a);
        }
        t.record_success("Ada Lovelace", a);
        for _ in 0..3 {
            t.record_failure("test", "Ada Lovelace", a);
        }
        assert!(t.check("Ada Lovelace", a).is_ok(), "the pair was cleared");
        t.record_failure("test", "Bob Manager", a);
        assert!(t.check("Ada Lovelace", a).is_err(), "seven failures from the address");
    }

    #[test]
    fn ipv6_hosts_count_by_their_slash_64() {
        let t = throttle();
        for i in 0..7u16 {
            t.record_failure("test", "x", IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i + 1)));
        }
        assert!(t.check("other", ip("2001:db8:0:1::99")).is_err());
        assert!(t.check("other", ip("2001:db8:0:2::1")).is_ok());
    }

    #[test]
    fn the_table_is_bounded() {
        let t = LoginThrottle::new(LoginThrottleConfig {
            max_entries: 100,
            attack_failures_per_minute: u32::MAX,
            ..LoginThrottleConfig::default()
        });
        for i in 0..1000u32 {
            t.record_failure("test", "x", IpAddr::from(i.to_be_bytes()));
        }
        assert!(t.len() <= 100, "{}", t.len());
    }
}
