//! The dashboard's files, compiled into the binary and served at `/` and
//! `/dashboard/` (docs/live.md). The page talks to the host only through the
//! public protocol (requests to the Dispatcher path, the event stream); this
//! module only hands out its files and the paths the page needs.

use bytes::Bytes;

/// One file of the page.
#[derive(Clone, Debug)]
pub struct File {
    pub content_type: &'static str,
    pub body: Bytes,
}

/// The page's files and its `config.json`, built once when the listener starts.
#[derive(Clone, Debug)]
pub struct Dashboard {
    config: Bytes,
}

const INDEX: &str = include_str!("../dashboard/index.html");
const APP: &str = include_str!("../dashboard/app.js");
const MD5: &str = include_str!("../dashboard/md5.js");
const STYLE: &str = include_str!("../dashboard/style.css");

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JSON: &str = "application/json";

impl Dashboard {
    pub fn new(dispatcher_path: &str, events_path: &str, metrics_path: &str) -> Self {
        // What the page reads from `/dashboard/config.json`: where the protocol is.
        let config = serde_json::json!({
            "dispatcherPath": dispatcher_path,
            "eventsPath": events_path,
            "metricsPath": metrics_path,
        });
        Dashboard {
            config: Bytes::from(config.to_string()),
        }
    }

    /// The file served at `path`, if the path is the dashboard's.
    pub fn file(&self, path: &str) -> Option<File> {
        let (content_type, body) = match path {
            "/" | "/dashboard" | "/dashboard/" | "/dashboard/index.html" => (HTML, Bytes::from_static(INDEX.as_bytes())),
            "/dashboard/app.js" => (JAVASCRIPT, Bytes::from_static(APP.as_bytes())),
            "/dashboard/md5.js" => (JAVASCRIPT, Bytes::from_static(MD5.as_bytes())),
            "/dashboard/style.css" => (CSS, Bytes::from_static(STYLE.as_bytes())),
            "/dashboard/config.json" => (JSON, self.config.clone()),
            _ => return None,
        };
        Some(File { content_type, body })
    }
}

/// The page's Content-Security-Policy: its own files and its own origin only
/// (the event stream's `ws:` URL is the same origin), no inline script.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_links_is_served() {
        let dashboard = Dashboard::new("/Dispatcher/", "/Dispatcher/events", "/metrics");
        for linked in ["/dashboard/style.css", "/dashboard/app.js"] {
            assert!(INDEX.contains(linked), "index.html no longer links {linked}");
            assert!(dashboard.file(linked).is_some(), "{linked} is not served");
        }
        assert!(APP.contains("from \"./md5.js\""));
        assert!(dashboard.file("/dashboard/md5.js").is_some());
        for page in ["/", "/dashboard", "/dashboard/"] {
            let file = dashboard.file(page).expect("the page");
            assert_eq!(file.content_type, HTML);
        }
        assert!(dashboard.file("/dashboard/../Cargo.toml").is_none());
        assert!(dashboard.file("/dashboard/secret").is_none());
    }

    #[test]
    fn config_names_the_protocol_paths() {
        let dashboard = Dashboard::new("/D/", "/D/events", "/m");
        let file = dashboard.file("/dashboard/config.json").expect("config");
        let config: serde_json::Value = serde_json::from_slice(&file.body).expect("json");
        assert_eq!(config["dispatcherPath"], "/D/");
        assert_eq!(config["eventsPath"], "/D/events");
        assert_eq!(config["metricsPath"], "/m");
    }
}
