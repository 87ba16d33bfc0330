//! `{prefix}/files/{ignored}/{relative/path}` (§9.2), served only when
//! `files-root` names a directory, and confined to it: the directory is opened
//! once as a capability (`cap-std`), so no path, link or `..` can reach outside,
//! and `..` or absolute paths are refused before they get that far.

use std::io::ErrorKind;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::entity::decode_base64;
use crate::errors::{user, RestError};
use crate::response::RestResponse;
use crate::xml::escape;
use crate::Ctx;

const ALLOW: &str = "GET, HEAD, PUT, POST, DELETE";

fn relative_path(params: &[String]) -> Result<Option<String>, RestError> {
    let Some(rest) = params.get(1..).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    for segment in rest {
        if segment.is_empty()
            || segment == "."
            || segment == ".."
            || segment.contains('/')
            || segment.contains('\\')
            || segment.chars().any(char::is_control)
        {
            return Err(RestError::bad_request(format!("invalid path segment \"{}\"", user(segment))));
        }
    }
    Ok(Some(rest.join("/")))
}

/// A file-system error caused by the request's path is the client's (4xx);
/// only the rest is a 500.
fn io_error(e: std::io::Error, path: &str) -> RestError {
    let path = user(path);
    match e.kind() {
        ErrorKind::NotFound => RestError::not_found(format!("invalid parameters : {path}")),
        // cap-std reports a link or path leading outside the root this way.
        ErrorKind::PermissionDenied => RestError::new(403, format!("access denied : {path}")),
        ErrorKind::InvalidInput => RestError::bad_request(format!("invalid path : {path}")),
        ErrorKind::NotADirectory | ErrorKind::IsADirectory | ErrorKind::DirectoryNotEmpty | ErrorKind::AlreadyExists => {
            RestError::new(409, format!("path conflicts with an existing entry : {path}"))
        }
        _ => {
            tracing::warn!(error = %dispatcher_guard::escape(&e.to_string()), "REST files service");
            RestError::new(500, "file access failed")
        }
    }
}

pub(crate) fn handle(ctx: &Ctx<'_>) -> Result<RestResponse, RestError> {
    let Some(root) = ctx.svc.config().files_root.as_ref() else {
        return Err(RestError::not_found("not served here"));
    };
    let method = ctx.method.as_str();
    if !matches!(method, "GET" | "HEAD" | "PUT" | "POST" | "DELETE") {
        return Err(RestError::method_not_allowed(&ctx.req.method, ALLOW));
    }
    let Some(path) = relative_path(&ctx.routed.params)? else {
        return match method {
            "GET" | "HEAD" => Ok(RestResponse::page(&ctx.req.method, 200, &[])),
            _ => Err(RestError::not_found("invalid parameters")),
        };
    };
    let dir = Dir::open_ambient_dir(root, ambient_authority()).map_err(|e| {
        tracing::warn!(error = %e, "REST files service: cannot open files-root");
        RestError::new(500, "file access failed")
    })?;
    match method {
        "GET" | "HEAD" => match dir.read(&path) {
            Ok(data) => Ok(RestResponse::xml(200, format!("<File name=\"{}\">{}</File>", escape(&path), B64.encode(data)))),
            Err(e) => Err(io_error(e, &path)),
        },
        "DELETE" => match dir.remove_file(&path) {
            Ok(()) => Ok(RestResponse::page(&ctx.req.method, 204, &[])),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(RestResponse::page(&ctx.req.method, 204, &[])),
            Err(e) => Err(io_error(e, &path)),
        },
        _ => {
            let elements = ctx.body_xml()?;
            let file = elements
                .iter()
                .find_map(|e| e.find("File"))
                .ok_or_else(|| RestError::bad_request("invalid request data"))?;
            let data = decode_base64(&file.text)?;
            let existed = dir.exists(&path);
            dir.write(&path, data).map_err(|e| io_error(e, &path))?;
            let status = if existed { 200 } else { 201 };
            Ok(RestResponse::page(&ctx.req.method, status, &[format!("<p> Stored file {} <p>", escape(&path))]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::relative_path;

    #[test]
    fn escapes_are_refused() {
        let p = |v: &[&str]| relative_path(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(p(&["x", "a", "b.txt"]).expect("ok"), Some("a/b.txt".into()));
        assert_eq!(p(&["x"]).expect("ok"), None);
        assert!(p(&["x", "..", "etc"]).is_err());
        assert!(p(&["x", "a/../../b"]).is_err());
        assert!(p(&["x", ""]).is_err());
        assert!(p(&["x", "a\0b"]).is_err());
    }
}
