//! The typed messages of every domain, below the handlers and the scripting
//! runtime: each request struct implements [`dispatcher_protocol::Request`]
//! right beside its declaration, naming its reply type, the script grant that
//! allows sending it and whether its handler commits to the database. A
//! message, its reply and its grant are declared once, here.
//!
//! - [`dispatcher`]: the `Dispatcher` domain (info, capabilities, endpoints).
//! - [`remote_control`]: the `RemoteControl` domain, one module per family.
//! - [`scripting`]: the `Scripting` domain (script management).
//! - [`extensions`]: the `Extensions` domain (third-party message domains).
//!
//! Invariant: no I/O and no handler logic; wire quirks of member forms live
//! in the structs' serde code (e.g. [`remote_control::wire`]).

/// `impl Request` for each `Type => Reply, "grant" [, commits];` line.
macro_rules! requests {
    (@commits) => { false };
    (@commits commits) => { true };
    ($($ty:ident => $reply:ty, $grant:expr $(, $flag:ident)?;)+) => {
        $(impl dispatcher_protocol::Request for $ty {
            type Reply = $reply;
            const GRANT: &'static str = $grant;
            const COMMITS: bool = requests!(@commits $($flag)?);
        })+
    };
}

pub mod dispatcher;
pub mod extensions;
pub mod remote_control;
pub mod scripting;

/// The grant of every Dispatcher-domain message but Info and MessageFormat:
/// never grantable, so a script can neither mint, renew nor destroy
/// capabilities (its own included) nor own endpoints.
pub const DISPATCHER_GRANT: &str = "dispatcher";
