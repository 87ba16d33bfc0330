//! One module per WIT interface: the `Host` impls. Each function looks up,
//! checks the grant and scope, acts through the message path, and maps the
//! reply (see `crate::call`).

mod assets;
mod avatars;
mod chat;
mod log;
mod messages;
mod objects;
mod parts;
mod region;
mod self_;
mod storage;
mod terrain;
mod timers;
mod types;

use serde::Deserialize;

use crate::bindings::opensim::dispatcher::types::{Quaternion, Vector3};

/// `[X, Y, Z]` as the protocol sends it (missing elements read as 0).
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub(crate) struct WireVec(pub Vec<f64>);

impl WireVec {
    fn at(&self, i: usize) -> f32 {
        self.0.get(i).copied().unwrap_or(0.0) as f32
    }

    pub(crate) fn vector3(&self) -> Vector3 {
        Vector3 {
            x: self.at(0),
            y: self.at(1),
            z: self.at(2),
        }
    }

    pub(crate) fn quaternion(&self) -> Quaternion {
        Quaternion {
            x: self.at(0),
            y: self.at(1),
            z: self.at(2),
            w: self.at(3),
        }
    }
}
