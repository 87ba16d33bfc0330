//! Caps applied while decoding, so that no request can make the decoder allocate
//! or recurse without bound.

/// Decoder caps. Defaults are documented in docs/limits.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest request body accepted, in bytes. The largest legitimate request is a
    /// script upload or update: a component of the default `MaxComponentBytes`
    /// (24 MiB) is 32 MiB once base64-encoded in JSON, plus its members.
    pub max_body_bytes: usize,
    /// Deepest nesting of arrays and objects. Real messages nest at most 4 deep;
    /// the cap keeps recursion in the decoder and in binding shallow.
    pub max_depth: usize,
    /// Most members in one object (JSON) or document (BSON), duplicates
    /// included. Real messages carry a few dozen; the cap bounds what one object
    /// can cost to hold and to bind, which is linear in its member count.
    pub max_members_per_object: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_body_bytes: 34 * 1024 * 1024,
            max_depth: 32,
            max_members_per_object: 131_072,
        }
    }
}

/// The refusal text when an object reaches `max_members_per_object`.
pub(crate) fn too_many_members(limit: usize) -> String {
    format!("an object has more than {limit} members (limit max_members_per_object)")
}
