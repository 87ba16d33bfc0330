//! UUIDs as the protocol reads and writes them.
//!
//! Read leniently: hyphenated, braced, URN or 32-digit forms in any case are
//! accepted; anything unparseable (including non-strings and BSON binary) reads as
//! the zero UUID, as in the original (quirk Q35, kept: tests and clients rely on
//! the resulting "no such capability" / "Unknown endpoint identifier" texts).
//! Written as lowercase 8-4-4-4-12 text.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, Visitor};
use serde::ser::{Serialize, Serializer};
use uuid::Uuid;

/// A UUID field of a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WireUuid(pub Uuid);

impl WireUuid {
    pub const NIL: WireUuid = WireUuid(Uuid::nil());

    /// Parse leniently; `None` if the text is not a UUID in any accepted form.
    pub fn parse(text: &str) -> Option<WireUuid> {
        let text = text.trim();
        // .NET's Guid parser also takes the parenthesised layout; the uuid crate
        // knows only braces.
        let text = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')).unwrap_or(text);
        Uuid::try_parse(text).ok().map(WireUuid)
    }

    pub fn is_nil(&self) -> bool {
        self.0.is_nil()
    }
}

impl From<Uuid> for WireUuid {
    fn from(u: Uuid) -> Self {
        WireUuid(u)
    }
}

impl From<WireUuid> for Uuid {
    fn from(u: WireUuid) -> Self {
        u.0
    }
}

impl fmt::Display for WireUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl Serialize for WireUuid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        serializer.serialize_str(self.0.hyphenated().encode_lower(&mut buf))
    }
}

impl<'de> Deserialize<'de> for WireUuid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UuidVisitor)
    }
}

struct UuidVisitor;

impl<'de> Visitor<'de> for UuidVisitor {
    type Value = WireUuid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a UUID")
    }

    fn visit_str<E>(self, v: &str) -> Result<WireUuid, E> {
        Ok(WireUuid::parse(v).unwrap_or_default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<WireUuid, E> {
        Ok(WireUuid::NIL)
    }
    fn visit_i64<E>(self, _: i64) -> Result<WireUuid, E> {
        Ok(WireUuid::NIL)
    }
    fn visit_u64<E>(self, _: u64) -> Result<WireUuid, E> {
        Ok(WireUuid::NIL)
    }
    fn visit_f64<E>(self, _: f64) -> Result<WireUuid, E> {
        Ok(WireUuid::NIL)
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<WireUuid, E> {
        Ok(WireUuid::NIL)
    }
    fn visit_unit<E>(self) -> Result<WireUuid, E> {
        Ok(WireUuid::NIL)
    }
    fn visit_none<E>(self) -> Result<WireUuid, E> {
        Ok(WireUuid::NIL)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<WireUuid, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(WireUuid::NIL)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<WireUuid, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(WireUuid::NIL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_common_form() {
        let canonical = "3f2c9a61-0b7e-4d52-9c1a-5e8d7f604b21";
        for form in [
            canonical,
            "{3f2c9a61-0b7e-4d52-9c1a-5e8d7f604b21}",
            "3F2C9A610B7E4D529C1A5E8D7F604B21",
            "urn:uuid:3f2c9a61-0b7e-4d52-9c1a-5e8d7f604b21",
            "(3f2c9a61-0b7e-4d52-9c1a-5e8d7f604b21)",
            " {3F2C9A61-0B7E-4D52-9C1A-5E8D7F604B21} ",
        ] {
            assert_eq!(WireUuid::parse(form).map(|u| u.to_string()), Some(canonical.to_string()), "{form}");
        }
        assert_eq!(WireUuid::parse("not-a-uuid"), None);
        assert_eq!(WireUuid::parse("(3f2c9a61-0b7e-4d52-9c1a-5e8d7f604b21"), None);
        assert_eq!(WireUuid::parse("()"), None);
    }
}
