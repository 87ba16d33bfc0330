//! `[RestPlugins]` and `[RestHandler]` (rest-inventory.md §2) and the service's
//! resource limits. The server's INI reader fills [`RestConfig`]; this module
//! only interprets it.

use std::path::PathBuf;

/// The keys of §2 with their defaults, plus `files-root` (the opt-in of §9.2).
#[derive(Clone, Debug, PartialEq)]
pub struct RestConfig {
    pub plugins_enabled: bool,
    pub god_key: String,
    pub prefix: String,
    pub handler_enabled: bool,
    pub authenticate: bool,
    /// `Basic`, `Digest` or `Any` (EXT), any case.
    pub auth_scheme: String,
    /// Read and logged only (§2.2).
    pub secured: bool,
    pub extended_escape: bool,
    pub realm: String,
    pub dump_asset: bool,
    pub dump_line_size: i64,
    /// Accepted and ignored (§2.2: never implemented).
    pub path_fill: bool,
    pub flush_on_error: bool,
    /// The files service (§9.2) is served only when this names a directory.
    pub files_root: Option<PathBuf>,
}

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig {
            plugins_enabled: false,
            god_key: String::new(),
            prefix: "/admin".into(),
            handler_enabled: false,
            authenticate: true,
            auth_scheme: "Basic".into(),
            secured: true,
            extended_escape: true,
            realm: "OpenSim REST".into(),
            dump_asset: false,
            dump_line_size: 32,
            path_fill: true,
            flush_on_error: true,
            files_root: None,
        }
    }
}

/// Which `Authorization` schemes are offered and accepted (§4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    Basic,
    Digest,
    /// EXT: both challenges, Basic first; either is accepted.
    Any,
}

impl AuthScheme {
    /// Case-insensitive (§4.2 FIX); `None` for an unknown word.
    pub fn parse(text: &str) -> Option<AuthScheme> {
        match text.trim().to_ascii_lowercase().as_str() {
            "basic" => Some(AuthScheme::Basic),
            "digest" => Some(AuthScheme::Digest),
            "any" => Some(AuthScheme::Any),
            _ => None,
        }
    }
}

impl RestConfig {
    /// Both switches of §2.1/§2.2 must be on.
    pub fn active(&self) -> bool {
        self.plugins_enabled && self.handler_enabled
    }

    /// The prefix with one leading `/` and no trailing `/` (§2.1 and its FIX).
    pub fn normalised_prefix(&self) -> String {
        let trimmed = self.prefix.trim().trim_end_matches('/');
        if trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        }
    }

    /// The configured scheme; an unknown word falls back to Basic (§4.2 FIX).
    pub fn scheme(&self) -> AuthScheme {
        AuthScheme::parse(&self.auth_scheme).unwrap_or(AuthScheme::Basic)
    }
}

/// Every resource the service lets a client consume, with its unit in its name.
#[derive(Clone, Debug, PartialEq)]
pub struct RestLimits {
    /// Largest request body handled; a larger one gets 413. Inline assets travel
    /// base64-encoded inside XML: the default fits one asset of the scene
    /// limit's 16 MiB (21.4 MiB as base64) with room for its markup.
    pub max_body_bytes: usize,
    /// How much of an oversized or unauthorised body is read and discarded before
    /// answering (§4.6 asks for a cap: draining is a denial-of-service risk).
    pub max_flush_bytes: usize,
    /// Deepest element nesting accepted in a request body.
    pub max_xml_depth: usize,
    /// Most elements (and text runs) accepted in one request body.
    pub max_xml_nodes: usize,
    /// Most attributes on one element of a request body. The richest element
    /// (`Item`) has 14 attributes.
    pub max_xml_attributes_per_element: usize,
    /// How long an issued Digest nonce stays acceptable.
    pub nonce_lifetime_secs: u64,
    /// Most outstanding nonces remembered (§4.5 FIX: the table is bounded);
    /// the oldest are forgotten first.
    pub max_nonces: usize,
    /// How long a request waits for another write to the same service (§6.2's
    /// 1000 ms inventory timeout).
    pub store_wait_ms: u64,
}

impl Default for RestLimits {
    fn default() -> Self {
        RestLimits {
            max_body_bytes: 24 * 1024 * 1024,
            max_flush_bytes: 64 * 1024 * 1024,
            max_xml_depth: 64,
            max_xml_nodes: 200_000,
            max_xml_attributes_per_element: 64,
            nonce_lifetime_secs: 300,
            max_nonces: 10_000,
            store_wait_ms: 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_normalised() {
        let mut c = RestConfig::default();
        for (given, want) in [("/admin", "/admin"), ("admin", "/admin"), ("/admin//", "/admin"), ("/Admin/", "/Admin")] {
            c.prefix = given.into();
            assert_eq!(c.normalised_prefix(), want);
        }
        assert_eq!(AuthScheme::parse("bAsIc"), Some(AuthScheme::Basic));
        assert_eq!(AuthScheme::parse("bogus"), None);
    }
}
