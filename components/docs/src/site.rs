//! What the docs site answers: `/docs` and `/docs/` are its `index.html`, `/docs/<name>` the file
//! `<name>` of the site's directory, with its media type; anything else a problem document.
//!
//! Shared by the `docs` component (the directory is its `files` mount, read through WASI) and
//! host-runner's native engine (the same directory on disk; `host-runner/src/server/docs.rs`
//! includes this file), so that both engines answer alike. Only `std` and `spincrud_core` here.

use std::path::Path;

use spincrud_core::http::{header, HeaderValue, StatusCode};
use spincrud_core::{problem_response, InternalError, Response};

/// The site's URL path (spin.toml routes `/docs` and `/docs/...` to the component).
pub const PREFIX: &str = "/docs";

/// Whether `path` is the site's: `/docs` or under `/docs/` (as Spin's `/docs/...` matches).
pub fn is_docs_path(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The answer to `method` on `path` (no query), from the files under `root`.
pub fn answer(root: &Path, method: &str, path: &str) -> Response {
    if method != "GET" && method != "HEAD" {
        let mut resp = problem_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "Allowed methods: GET, HEAD.",
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let Some(name) = file_name(path) else {
        return not_found(path);
    };
    let file = root.join(name);
    // A regular file only: not a directory, and not a symbolic link (which could lead out).
    if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
        return not_found(path);
    }
    let body = match std::fs::read(&file) {
        Ok(body) if method == "GET" => body,
        Ok(_) => Vec::new(),
        Err(e) => {
            let mut resp = problem_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not complete the request.",
            );
            resp.extensions_mut()
                .insert(InternalError(format!("docs: cannot read {name}: {e}")));
            return resp;
        }
    };
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The file a site path names, relative to the root. Names are segments of ASCII letters,
/// digits, `.`, `_` and `-`, none starting with a dot: no `..`, no hidden file, nothing to
/// percent-decode, so no path leaves the root.
fn file_name(path: &str) -> Option<&str> {
    if !is_docs_path(path) {
        return None;
    }
    let name = match &path[PREFIX.len()..] {
        "" | "/" => return Some("index.html"),
        rest => &rest[1..],
    };
    let valid = |segment: &str| {
        !segment.is_empty()
            && !segment.starts_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    name.split('/').all(valid).then_some(name)
}

fn content_type(name: &str) -> &'static str {
    let file = name.rsplit('/').next().unwrap_or(name);
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        // LICENSE, NOTICE, *.LICENSE.txt
        Some("txt") | None => "text/plain; charset=utf-8",
        Some(_) => "application/octet-stream",
    }
}

fn not_found(path: &str) -> Response {
    problem_response(StatusCode::NOT_FOUND, &format!("There is no file {path}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_files_inside_the_root_only() {
        assert_eq!(file_name("/docs"), Some("index.html"));
        assert_eq!(file_name("/docs/"), Some("index.html"));
        assert_eq!(file_name("/docs/swagger-ui.css"), Some("swagger-ui.css"));
        assert_eq!(file_name("/docs/a/b.js"), Some("a/b.js"));
        for bad in [
            "/docsx",
            "/docs/..",
            "/docs/../etc/passwd",
            "/docs/a/../b",
            "/docs/.hidden",
            "/docs/a//b",
            "/docs/a/",
            "/docs/%2e%2e",
            "/docs/a\\b",
            "/other",
        ] {
            assert_eq!(file_name(bad), None, "{bad}");
        }
        assert!(is_docs_path("/docs") && is_docs_path("/docs/") && is_docs_path("/docs/x"));
        assert!(!is_docs_path("/docsx") && !is_docs_path("/doc") && !is_docs_path("/"));
    }

    #[test]
    fn media_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("swagger-ui-bundle.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("LICENSE"), "text/plain; charset=utf-8");
        assert_eq!(content_type("a.b/c"), "text/plain; charset=utf-8");
        assert_eq!(content_type("x.wasm"), "application/octet-stream");
    }

    #[test]
    fn answers() {
        let root = std::env::temp_dir().join(format!("spincrud-docs-site-{}", std::process::id()));
        std::fs::create_dir_all(root.join("dir")).unwrap();
        std::fs::write(root.join("index.html"), "<html></html>").unwrap();

        let page = answer(&root, "GET", "/docs");
        assert_eq!(page.status(), 200);
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(page.body(), b"<html></html>");
        let head = answer(&root, "HEAD", "/docs/index.html");
        assert_eq!((head.status().as_u16(), head.body().len()), (200, 0));

        let missing = answer(&root, "GET", "/docs/nope.js");
        assert_eq!(missing.status(), 404);
        assert_eq!(
            missing.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(
            String::from_utf8_lossy(missing.body()),
            r#"{"type":"https://spincrud.dev/problems/not-found","title":"Not Found","status":404,"detail":"There is no file /docs/nope.js."}"#
        );
        assert_eq!(answer(&root, "GET", "/docs/dir").status(), 404);
        let post = answer(&root, "POST", "/docs");
        assert_eq!(post.status(), 405);
        assert_eq!(post.headers()[header::ALLOW], "GET, HEAD");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
