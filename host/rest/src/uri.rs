//! Service selection and path normalisation (§3): prefix matching on segment
//! boundaries without regard to case, `+` as space, and percent-decoding per
//! segment so `%2F` can name a `/` inside a name (§3.2 FIX).

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// The services of §1 this crate implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Inventory,
    Assets,
    Appearance,
    Files,
}

impl Service {
    fn segment(self) -> &'static str {
        match self {
            Service::Inventory => "inventory",
            Service::Assets => "assets",
            Service::Appearance => "appearance",
            Service::Files => "files",
        }
    }
}

/// A request path resolved to a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routed {
    pub service: Service,
    /// `{prefix}/inventory` as configured (the Digest `domain`).
    pub service_prefix: String,
    /// Decoded segments after the service prefix (§3.2 "parameters").
    pub params: Vec<String>,
}

/// Characters escaped when a path segment is written back (§6.5 `Location`).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'+')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// The longest matching service prefix, if any (§3.1). `enabled` lists the
/// services that are served at all.
pub fn route(prefix: &str, raw_path: &str, extended_escape: bool, enabled: &[Service]) -> Option<Routed> {
    let path = raw_path.split('?').next().unwrap_or("");
    let path = path.strip_suffix('/').unwrap_or(path);
    let lower = path.to_ascii_lowercase();
    let mut best: Option<(Service, String, &str)> = None;
    for service in enabled {
        let service_prefix = format!("{prefix}/{}", service.segment());
        let Some(rest) = lower.strip_prefix(&service_prefix.to_ascii_lowercase()) else {
            continue;
        };
        // Segment boundary: `/admin/inventoryX` is not `/admin/inventory`.
        if !(rest.is_empty() || rest.starts_with('/')) {
            continue;
        }
        let remainder = &path[path.len() - rest.len()..];
        if best.as_ref().is_none_or(|(_, p, _)| service_prefix.len() > p.len()) {
            best = Some((*service, service_prefix, remainder));
        }
    }
    let (service, service_prefix, remainder) = best?;
    let params = match remainder.strip_prefix('/') {
        None => Vec::new(),
        Some(rest) => rest.split('/').map(|s| decode_segment(s, extended_escape)).collect(),
    };
    Some(Routed {
        service,
        service_prefix,
        params,
    })
}

fn decode_segment(segment: &str, extended_escape: bool) -> String {
    // `+` becomes a space before decoding, so `%2B` stays a literal `+` (§3.2 step 3).
    let segment = if extended_escape { segment.replace('+', " ") } else { segment.to_owned() };
    percent_decode_str(&segment).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Service] = &[Service::Inventory, Service::Assets, Service::Appearance];

    fn params(path: &str, ext: bool) -> Option<Vec<String>> {
        route("/admin", path, ext, ALL).map(|r| r.params)
    }

    #[test]
    fn rest_3_normalisation() {
        assert_eq!(params("/ADMIN/Inventory/Test+User/", true), Some(vec!["Test User".to_string()]));
        assert_eq!(params("/admin/inventory/Test%20User?x=1", true), Some(vec!["Test User".to_string()]));
        assert_eq!(params("/admin/inventory/Test+User", false), Some(vec!["Test+User".to_string()]));
        assert_eq!(params("/admin/inventory/a%2Bb", true), Some(vec!["a+b".to_string()]));
        assert_eq!(params("/admin/inventory/a/b%2Fc", true), Some(vec!["a".to_string(), "b/c".to_string()]));
        assert_eq!(params("/admin/inventory/a//b", true), Some(vec!["a".to_string(), String::new(), "b".to_string()]));
        assert_eq!(params("/admin/inventory", true), Some(vec![]));
        assert_eq!(params("/admin/inventoryx/Test", true), None);
        assert_eq!(params("/admin/files/x", true), None);
        assert_eq!(params("/other", true), None);
        assert_eq!(route("/admin", "/admin/assets/x", true, ALL).map(|r| r.service), Some(Service::Assets));
        assert_eq!(encode_segment("Alan Webb/x"), "Alan%20Webb%2Fx");
    }
}
