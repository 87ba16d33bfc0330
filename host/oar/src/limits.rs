//! The caps an archive is read under (`[OAR]` in the configuration; defaults
//! and their reasons in docs/limits.md).

/// Caps for reading one archive. Sizes are checked against what is actually
/// read, never used to allocate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OarLimits {
    /// Bytes the whole archive may unpack to (all members). Default 2 GiB:
    /// a full 256 m region with its textures is a few hundred MiB.
    pub max_archive_bytes: u64,
    /// Members (files and directories). Default 1 000 000: 100 000 objects
    /// (the scene's region cap) with several assets each.
    pub max_members: usize,
    /// Bytes of one member. Default 256 MiB, the terrain of the largest region
    /// side the scene accepts (8 192 m: 8 192² × 4 bytes).
    pub max_member_bytes: u64,
}

impl Default for OarLimits {
    fn default() -> Self {
        OarLimits {
            max_archive_bytes: 2 * 1024 * 1024 * 1024,
            max_members: 1_000_000,
            max_member_bytes: 256 * 1024 * 1024,
        }
    }
}
