//! Front-door protections shared by every transport and service: the login
//! throttle (CreateCapability and REST alike), token-bucket rates, and the one
//! helper that makes text from the network safe to put in a log line.
//!
//! No I/O and no clocks of its own beyond `Instant::now()`; the callers decide
//! what a refusal looks like on their wire.

pub mod login;
pub mod logsafe;
pub mod rate;

pub use login::{source_key, LoginKey, LoginThrottle, LoginThrottleConfig, Throttled};
pub use logsafe::{escape, Escaped};
pub use rate::TokenBucket;
