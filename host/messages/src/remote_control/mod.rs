//! The serde types of the RemoteControl messages, one file per message family:
//! the scene's objects (`object`, `part`, `event` for callbacks and touches)
//! and its shared resources (`archive` for region archives, `asset`, `avatar`, `chat`, `region` for the sun,
//! `terrain`); `wire` holds the vector and quaternion forms they all use.
//!
//! Conventions (the `dispatcher` module's style): `#[serde(default)]`
//! structs, PascalCase renames, [`WireUuid`](dispatcher_protocol::WireUuid) for ids,
//! vectors and quaternions through [`wire`]. Each request's reply type and
//! grant are declared at the end of its family's file.

pub mod archive;
pub mod asset;
pub mod avatar;
pub mod chat;
pub mod event;
pub mod object;
pub mod part;
pub mod region;
pub mod terrain;
pub mod wire;

/// `impl MessageType for $ty { TYPE_NAME = $name }`.
#[macro_export]
#[doc(hidden)]
macro_rules! rc_type_name {
    ($ty:ident, $name:literal) => {
        impl dispatcher_protocol::MessageType for $ty {
            const TYPE_NAME: &'static str = $name;
        }
    };
}
