//! Grants: which message a script may send. A request type's grant is
//! declared beside the type (`Request::GRANT` in dispatcher-messages; the
//! registry answers `Registry::grant` for the byte path), used alike by the
//! typed imports and by `messages.send`; docs/scripting.md's table is tested
//! against it. Scope grants restrict which objects the object messages may
//! address. A script's grants are a bit set built when it is uploaded or
//! loaded, so the check on every call is one AND.

use std::collections::BTreeSet;

use dispatcher_protocol::Request;

/// The RemoteControl domain, which every interface grant but `storage` and
/// `scripts` needs in the uploader's capability.
pub const REMOTE_CONTROL: &str = "RemoteControl";
/// The Scripting domain.
pub const SCRIPTING: &str = "Scripting";

/// Grants a script may ask for, with the capability domain each needs
/// (`None`: no domain, the grant is local to the script host).
pub const GRANTABLE: &[(&str, Option<&str>)] = &[
    ("objects:read", Some(REMOTE_CONTROL)),
    ("objects:write", Some(REMOTE_CONTROL)),
    ("objects:create", Some(REMOTE_CONTROL)),
    ("objects:delete", Some(REMOTE_CONTROL)),
    ("assets:read", Some(REMOTE_CONTROL)),
    ("assets:write", Some(REMOTE_CONTROL)),
    ("avatars:read", Some(REMOTE_CONTROL)),
    ("avatars:write", Some(REMOTE_CONTROL)),
    ("chat", Some(REMOTE_CONTROL)),
    ("terrain:read", Some(REMOTE_CONTROL)),
    ("terrain:write", Some(REMOTE_CONTROL)),
    ("region:read", Some(REMOTE_CONTROL)),
    ("region:write", Some(REMOTE_CONTROL)),
    ("scripts", Some(SCRIPTING)),
    ("storage", None),
    ("scope:self", None),
    ("scope:owner", None),
    ("scope:region", None),
];

/// The grant of every Dispatcher-domain message: never grantable, so a script
/// can neither mint, renew nor destroy capabilities (its own included) nor own
/// endpoints.
pub use dispatcher_messages::DISPATCHER_GRANT;

/// The bit of a grant name in a [`Grants`] set: its index in [`GRANTABLE`];
/// 0 (no bit) for a name that is not grantable (`dispatcher`, unknown), so
/// such a grant is never held. A `const fn`, so the grant of a request type
/// becomes its bit at compile time ([`GrantBit`]).
pub const fn grant_bit(name: &str) -> u32 {
    let mut i = 0;
    while i < GRANTABLE.len() {
        if same(GRANTABLE[i].0, name) {
            return 1 << i;
        }
        i += 1;
    }
    0
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The grant bit of a request type, computed once at compile time from its
/// associated grant.
pub trait GrantBit {
    const GRANT_BIT: u32;
}

impl<M: Request> GrantBit for M {
    const GRANT_BIT: u32 = grant_bit(M::GRANT);
}

/// The capability domain a grant needs.
pub fn domain_of(grant: &str) -> Option<&'static str> {
    GRANTABLE.iter().find(|(g, _)| *g == grant).and_then(|(_, d)| *d)
}

/// Which objects the object messages may address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// The script's own object (the default).
    SelfObject,
    /// Objects owned by the script's owner.
    Owner,
    /// Any object of the region.
    Region,
}

/// A script's effective grants: one bit per [`GRANTABLE`] entry, plus the
/// extension domains it may send to (`ext:<Domain>`, sorted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    bits: u32,
    ext: Option<std::sync::Arc<[String]>>,
}

/// The grant prefix that lets a script send an extension domain's messages.
pub const EXT_PREFIX: &str = "ext:";
/// The grant an installer may give an extension so that it handles requests
/// with the installer's rights instead of its caller's.
pub const ACT_AS_INSTALLER: &str = "act-as-installer";

/// Whether `name` is a well-formed extension domain name: `[A-Z][A-Za-z0-9]{1,31}`.
pub fn valid_domain_name(name: &str) -> bool {
    let b = name.as_bytes();
    (2..=32).contains(&b.len()) && b[0].is_ascii_uppercase() && b.iter().all(u8::is_ascii_alphanumeric)
}

const _: () = assert!(GRANTABLE.len() <= 32, "Grants holds one u32 bit per grantable name");

impl Grants {
    /// Parse requested grant names; unknown names are an error naming them.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Grants, String> {
        let mut bits = 0;
        let mut ext = BTreeSet::new();
        for name in names {
            let name = name.as_ref().trim();
            if name.is_empty() {
                continue;
            }
            if let Some(domain) = name.strip_prefix(EXT_PREFIX) {
                if !valid_domain_name(domain) {
                    return Err(format!("bad extension grant \"{name}\": the domain must match [A-Z][A-Za-z0-9]{{1,31}}"));
                }
                ext.insert(domain.to_owned());
                continue;
            }
            match grant_bit(name) {
                0 => return Err(format!("unknown grant \"{name}\"")),
                bit => bits |= bit,
            }
        }
        Ok(Grants::from_parts(bits, ext))
    }

    fn from_parts(bits: u32, ext: BTreeSet<String>) -> Grants {
        let ext = (!ext.is_empty()).then(|| ext.into_iter().collect::<Vec<_>>().into());
        Grants { bits, ext }
    }

    /// The extension domains held (`ext:<Domain>`), sorted.
    pub fn ext_domains(&self) -> &[String] {
        self.ext.as_deref().unwrap_or(&[])
    }

    /// The grants both sets hold (a script caller's grants and an
    /// extension's): scope grants by the narrower scope.
    pub fn both(&self, other: &Grants) -> Grants {
        let scope_bits = grant_bit("scope:self") | grant_bit("scope:owner") | grant_bit("scope:region");
        let mut bits = self.bits & other.bits & !scope_bits;
        bits |= match self.scope().min(other.scope()) {
            Scope::Region => grant_bit("scope:region"),
            Scope::Owner => grant_bit("scope:owner"),
            Scope::SelfObject => grant_bit("scope:self"),
        };
        let ext = self
            .ext_domains()
            .iter()
            .filter(|d| other.ext_domains().contains(d))
            .cloned()
            .collect();
        Grants::from_parts(bits, ext)
    }

    /// Keep only the grants `allowed` accepts (the uploader's rights).
    pub fn intersect(self, allowed: impl Fn(&str) -> bool) -> Grants {
        let bits = self.names().filter(|g| allowed(g)).fold(0, |bits, g| bits | grant_bit(g));
        let ext = self
            .ext_domains()
            .iter()
            .filter(|d| allowed(&format!("{EXT_PREFIX}{d}")))
            .cloned()
            .collect();
        Grants::from_parts(bits, ext)
    }

    pub fn has(&self, grant: &str) -> bool {
        if let Some(domain) = grant.strip_prefix(EXT_PREFIX) {
            return self.ext_domains().iter().any(|d| d == domain);
        }
        self.has_bit(grant_bit(grant))
    }

    /// Whether the grant of this bit ([`grant_bit`], [`GrantBit`]) is held;
    /// never for bit 0 (a grant that is not grantable).
    pub fn has_bit(&self, bit: u32) -> bool {
        self.bits & bit != 0
    }

    /// The widest scope granted; `scope:self` when none is.
    pub fn scope(&self) -> Scope {
        if self.has_bit(grant_bit("scope:region")) {
            Scope::Region
        } else if self.has_bit(grant_bit("scope:owner")) {
            Scope::Owner
        } else {
            Scope::SelfObject
        }
    }

    /// The names held, sorted.
    fn names(&self) -> impl Iterator<Item = &'static str> {
        let mut names: Vec<&'static str> = GRANTABLE
            .iter()
            .enumerate()
            .filter(|(i, _)| self.bits & (1 << i) != 0)
            .map(|(_, (g, _))| *g)
            .collect();
        names.sort_unstable();
        names.into_iter()
    }

    /// Capability domains the grants need, deduplicated.
    pub fn domains(&self) -> Vec<String> {
        let mut set: BTreeSet<&str> = self.names().filter_map(domain_of).collect();
        set.extend(self.ext_domains().iter().map(String::as_str));
        set.into_iter().map(str::to_owned).collect()
    }

    /// The names held, sorted.
    pub fn to_vec(&self) -> Vec<String> {
        let mut all: Vec<String> = self.names().map(str::to_owned).collect();
        all.extend(self.ext_domains().iter().map(|d| format!("{EXT_PREFIX}{d}")));
        all
    }

    /// The persisted form: names separated by spaces.
    pub fn to_text(&self) -> String {
        self.to_vec().join(" ")
    }

    /// The persisted form read back; names no longer grantable are dropped.
    pub fn from_text(text: &str) -> Grants {
        let bits = text.split_whitespace().fold(0, |bits, g| bits | grant_bit(g));
        let ext = text
            .split_whitespace()
            .filter_map(|g| g.strip_prefix(EXT_PREFIX))
            .filter(|d| valid_domain_name(d))
            .map(str::to_owned)
            .collect();
        Grants::from_parts(bits, ext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grantable_name_has_its_own_bit_and_nothing_else_has_one() {
        let mut seen = 0;
        for (g, _) in GRANTABLE {
            let bit = grant_bit(g);
            assert_eq!(bit.count_ones(), 1, "{g}");
            assert_eq!(seen & bit, 0, "{g} shares a bit");
            seen |= bit;
        }
        for name in [DISPATCHER_GRANT, "", "objects", "objects:read ", "Objects:read"] {
            assert_eq!(grant_bit(name), 0, "{name:?}");
        }
        let all: Vec<&str> = GRANTABLE.iter().map(|(g, _)| *g).collect();
        let g = Grants::parse(&all).expect("parse");
        assert!(GRANTABLE.iter().all(|(n, _)| g.has(n)));
        assert!(!g.has(DISPATCHER_GRANT) && !g.has_bit(0));
    }

    #[test]
    fn parse_intersect_scope() {
        assert!(Grants::parse(&["objects:read", "bogus"]).is_err());
        let g = Grants::parse(&["objects:read", "storage", "scope:owner", "scripts"]).expect("parse");
        assert_eq!(g.scope(), Scope::Owner);
        assert_eq!(g.domains(), vec!["RemoteControl".to_owned(), "Scripting".to_owned()]);
        let g = g.intersect(|x| x != "scripts");
        assert!(!g.has("scripts") && g.has("storage"));
        assert_eq!(Grants::from_text(&g.to_text()), g);
        assert_eq!(g.to_vec(), vec!["objects:read", "scope:owner", "storage"], "sorted by name");
        assert_eq!(Grants::from_text("storage bogus chat"), Grants::parse(&["chat", "storage"]).expect("parse"));
    }
}
