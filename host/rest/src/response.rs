//! The response value and the rules every response obeys (§5): XML entities as
//! `application/xml` in UTF-8 without BOM or declaration, everything else as
//! the HTML status page, no body for 204 and HEAD, no keep-alive.

use crate::errors::{reason, status_page, RestError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RestResponse {
    fn new(status: u16, content_type: &str, body: String) -> RestResponse {
        RestResponse {
            status,
            reason: reason(status).to_owned(),
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into_bytes(),
        }
    }

    /// An XML entity (§5.1).
    pub fn xml(status: u16, body: String) -> RestResponse {
        RestResponse::new(status, "application/xml", body)
    }

    /// A normal completion with its status lines (§5.2).
    pub fn page(method: &str, status: u16, lines: &[String]) -> RestResponse {
        RestResponse::new(status, "text/html", status_page(method, status, lines, None))
    }

    /// A failure: ` (<code>) : <REASON>` and the message (§5.2).
    pub fn error(method: &str, e: &RestError) -> RestResponse {
        let mut r = RestResponse::new(e.status, "text/html", status_page(method, e.status, &[], Some(&e.message)));
        r.headers.extend(e.headers.iter().cloned());
        r
    }

    pub fn with_header(mut self, name: &str, value: String) -> RestResponse {
        self.headers.push((name.into(), value));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The §5.1/§5.2 rules applied once, last: 204 and HEAD carry no body
    /// (FIX), and the connection closes after the response (keep-alive off).
    pub(crate) fn finish(mut self, method: &str) -> RestResponse {
        if self.status == 204 {
            self.body.clear();
            self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        } else if method == "HEAD" {
            // The headers GET would send, Content-Length included (§5.4).
            self.headers.push(("Content-Length".into(), self.body.len().to_string()));
            self.body.clear();
        }
        self.headers.push(("Connection".into(), "close".into()));
        self
    }
}
