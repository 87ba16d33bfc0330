//! The serde types of the RemoteControl messages, one file per message family.
//!
//! Conventions (host/protocol's dispatcher.rs style): `#[serde(default)]`
//! structs, PascalCase renames, [`WireUuid`](dispatcher_protocol::WireUuid) for ids,
//! vectors and quaternions through [`wire`]. Part A owns `object`, `part`, `event`
//! and `wire`; part B owns `asset`, `avatar`, `chat`, `region`, `terrain`.

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
