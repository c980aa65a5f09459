//! The dashboard: the browser UI, built from `ui/web/` (Preact, Vite) into
//! `ui/assets/` by `ui/web/build.sh` and committed, embedded into the
//! binary here with `rust-embed`, so `cargo build` needs no Node.js.
//!
//! - `/` and the UI's own routes ([`CLIENT_ROUTES`]) answer the shell,
//!   `index.html`, with `Cache-Control: no-cache` (revalidated by ETag):
//!   a new binary's UI shows on the next load.
//! - `/assets/<name>-<hash>.<ext>` answer with a year's `immutable`
//!   cache: the name changes when the content does.
//! - A `.gz` beside a file (the build writes them) is sent to browsers
//!   that accept gzip.
//!
//! None of this needs a token: the shell holds no data. Every request the
//! UI makes for data goes through [`crate::routes::require_token`] (the
//! `dcos-acs-auth-cookie` the login sets); without it the UI shows its
//! login page. What this module does not do: server-side rendering, or
//! serving anything outside `ui/assets/`.

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::borrow::Cow;

use crate::error::GatewayError;

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// Paths the UI's router draws itself (see `ui/web/src/app.jsx`); the
/// gateway answers them with the shell so a reload or a shared link
/// works. Each is the route and, with `/{*rest}`, everything under it.
pub const CLIENT_ROUTES: &[&str] = &[
    "/overview",
    "/services",
    "/jobs",
    "/catalog",
    "/nodes",
    "/tasks",
    "/settings",
];

/// A year: hashed names never change content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The shell is checked on every load (cheap: a 304 by ETag).
const NO_CACHE: &str = "no-cache";
/// What the shell may load: only this origin (inline styles for the
/// charts' and bars' widths, `data:` for the empty favicon), and images
/// over https: the icons package repositories name (a catalog card falls
/// back to a letter when one does not load). No script, style or
/// connection goes anywhere else.
const CSP: &str = concat!(
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; ",
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
);

/// The public routes of the dashboard, to merge beside the API.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new()
        .route("/", get(shell))
        .route("/assets/{*file}", get(asset));
    for base in CLIENT_ROUTES {
        r = r
            .route(base, get(shell))
            .route(&format!("{base}/{{*rest}}"), get(shell));
    }
    r
}

async fn shell(headers: HeaderMap) -> Response {
    serve("index.html", &headers, NO_CACHE)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("assets/{file}"), &headers, IMMUTABLE)
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name == "gzip" || name == "*") && !refused
        })
}

fn bytes(data: Cow<'static, [u8]>) -> Bytes {
    match data {
        Cow::Borrowed(b) => Bytes::from_static(b),
        Cow::Owned(v) => Bytes::from(v),
    }
}

/// One embedded file, or 404 (paths with `..` are simply not in the set).
fn serve(path: &str, headers: &HeaderMap, cache: &'static str) -> Response {
    if path.ends_with(".gz") {
        return GatewayError::NotFound(format!("no asset {path}")).into_response();
    }
    let Some(file) = Assets::get(path) else {
        return GatewayError::NotFound(format!("no asset {path}")).into_response();
    };
    let hash = file.metadata.sha256_hash();
    let etag = format!(
        "\"{}\"",
        hash[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (header::VARY, HeaderValue::from_static("Accept-Encoding")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let gz = accepts_gzip(headers)
            .then(|| Assets::get(&format!("{path}.gz")))
            .flatten();
        let mut resp = match gz {
            Some(gz) => {
                let mut r = Body::from(bytes(gz.data)).into_response();
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            None => Body::from(bytes(file.data)).into_response(),
        };
        if let Ok(v) = HeaderValue::from_str(file.metadata.mimetype()) {
            resp.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        resp
    };
    let h = resp.headers_mut();
    for (k, v) in common {
        h.insert(k, v);
    }
    h.insert(header::ETAG, etag_value);
    if path == "index.html" {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_and_its_assets_are_embedded() {
        let index = Assets::get("index.html").expect("ui/assets/index.html (run ui/web/build.sh)");
        let html = String::from_utf8_lossy(&index.data).into_owned();
        let scripts: Vec<&str> = html
            .split("src=\"/")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        assert!(!scripts.is_empty(), "{html}");
        for s in scripts {
            assert!(
                Assets::get(s).is_some(),
                "index.html loads {s}, not embedded"
            );
            assert!(
                Assets::get(&format!("{s}.gz")).is_some(),
                "{s} has no .gz beside it"
            );
        }
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, v.parse().unwrap());
            m
        };
        assert!(accepts_gzip(&h("gzip, deflate, br")));
        assert!(accepts_gzip(&h("br;q=1.0, gzip;q=0.8")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("br")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
