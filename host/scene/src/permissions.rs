//! Permission masks, carried by parts, task-inventory items and avatar inventory.
//!
//! The scene model stores them and hands them on; it does not enforce them (the
//! RemoteControl domain performs no permission checks, Q-23).

use serde::{Deserialize, Serialize};

pub const PERM_TRANSFER: u32 = 0x2000;
pub const PERM_MODIFY: u32 = 0x4000;
pub const PERM_COPY: u32 = 0x8000;
pub const PERM_MOVE: u32 = 0x8_0000;
pub const PERM_ALL: u32 = 0x7FFF_FFFF;

/// The five masks OpenSim keeps per item (REST §7.5 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub base: u32,
    /// The owner's mask ("current"; `OwnerMask` on parts).
    pub current: u32,
    /// What the next owner gets.
    pub next: u32,
    pub everyone: u32,
    pub group: u32,
}

impl Default for Permissions {
    /// REST §7.5 defaults: full rights for the owner, move+transfer for the next.
    fn default() -> Self {
        Permissions {
            base: PERM_ALL,
            current: PERM_ALL,
            next: PERM_MOVE | PERM_TRANSFER,
            everyone: 0,
            group: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_rest_7_5() {
        let p = Permissions::default();
        assert_eq!(format!("{:X}", p.current), "7FFFFFFF");
        assert_eq!(format!("{:X}", p.next), "82000");
        assert_eq!((p.everyone, p.group), (0, 0));
    }
}
