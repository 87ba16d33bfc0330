//! Status codes, reason phrases (§5.3), the HTML status page (§5.2) and the one
//! place where internal errors become responses.

use dispatcher_store::StoreError;

/// A refusal: status plus the short message the status page carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {message}")]
pub struct RestError {
    pub status: u16,
    pub message: String,
    /// Extra headers (`Allow` on 405).
    pub headers: Vec<(String, String)>,
}

impl RestError {
    pub fn new(status: u16, message: impl Into<String>) -> RestError {
        RestError {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> RestError {
        RestError::new(400, message)
    }

    pub fn not_found(message: impl Into<String>) -> RestError {
        RestError::new(404, message)
    }

    /// 405 with the `Allow` header (§6.8, §8.1 FIX).
    pub fn method_not_allowed(method: &str, allow: &str) -> RestError {
        RestError {
            status: 405,
            message: format!("{} not supported", user(&method.to_ascii_lowercase())),
            headers: vec![("Allow".into(), allow.into())],
        }
    }

    /// A storage failure: 500 with the operator-facing cause logged, not sent.
    pub fn storage(context: &str, err: &StoreError) -> RestError {
        tracing::error!(error = %dispatcher_guard::escape(&err.to_string()), "REST {context}");
        RestError::new(500, context.to_owned())
    }
}

/// Every body the reader refuses is a 400 naming the problem (§5.5).
impl From<crate::xml::XmlError> for RestError {
    fn from(e: crate::xml::XmlError) -> RestError {
        RestError::bad_request(user(&e.to_string()))
    }
}

/// Request-supplied text inside a message: the status page is HTML, so it is
/// escaped where it is embedded, and the fixed text around it stays literal
/// (`ambiguous element (1) in path specified: <...>`).
pub fn user(text: &str) -> String {
    crate::xml::escape(text)
}

/// §5.3: the original's phrases; others are the standard phrase in capitals.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "CREATED",
        204 => "NO CONTENT",
        301 => "PERMANENT REDIRECT",
        307 => "TEMPORARY REDIRECT",
        400 => "BAD REQUEST",
        401 => "NOT AUTHORIZED",
        404 => "NOT FOUND",
        405 => "METHOD NOT ALLOWED",
        409 => "CONFLICT",
        413 => "PAYLOAD TOO LARGE",
        429 => "TOO MANY REQUESTS",
        500 => "SERVER ERROR",
        501 => "NOT IMPLEMENTED",
        _ => "UNKNOWN",
    }
}

/// §5.2. `failure` adds ` (<code>) : <REASON>` and the message. Messages are
/// copied literally (braces included: §5.2 FIX); request-supplied parts were
/// escaped with [`user`] when the message was built.
pub fn status_page(method: &str, status: u16, lines: &[String], failure: Option<&str>) -> String {
    let mut body = format!("<html><body><title>{} status</title><break>", user(method));
    for line in lines {
        body.push(' ');
        body.push_str(line);
    }
    if let Some(message) = failure {
        body.push_str(&format!(" ({status}) : {}", reason(status)));
        if !message.is_empty() {
            body.push(' ');
            body.push_str(message);
        }
    } else if lines.is_empty() {
        body.push_str(&format!(" : ({status}) {}", reason(status)));
    }
    body.push_str("</body></html>");
    body
}
