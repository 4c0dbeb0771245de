//! The browser client Plaza serves: the three.js space at `/` (built from `clients/web`
//! into `clients/web/dist/` and compiled into the binary, so serving it needs no Node.js)
//! and the protocol console at `/debug`.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::edge::Edge;

/// One file of the browser client: its name under `clients/web/dist/`, its content type,
/// and the copy built into the binary.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    embedded: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    embedded: include_bytes!("../../clients/web/dist/index.html"),
};

const APP: Asset = Asset {
    name: "app.js",
    content_type: "text/javascript; charset=utf-8",
    embedded: include_bytes!("../../clients/web/dist/app.js"),
};

/// The embedded files' ETags, computed once: browsers revalidate with `If-None-Match`
/// and get 304 until the binary changes.
static ETAGS: LazyLock<[HeaderValue; 2]> =
    LazyLock::new(|| [etag(INDEX.embedded), etag(APP.embedded)]);

fn etag(bytes: &[u8]) -> HeaderValue {
    let digest = crate::digest::hex(&crate::digest::sha256(bytes)[..12]);
    HeaderValue::from_str(&format!("\"{digest}\""))
        .expect("a hex digest in quotes is a valid header value")
}

/// `GET /`: the 3D space.
pub(crate) async fn index(State(edge): State<Arc<Edge>>, headers: HeaderMap) -> Response {
    serve(&INDEX, &ETAGS[0], edge.config.web_root.as_ref(), &headers).await
}

/// `GET /app.js`: the page's script (three.js and the SDK, bundled).
pub(crate) async fn app(State(edge): State<Arc<Edge>>, headers: HeaderMap) -> Response {
    serve(&APP, &ETAGS[1], edge.config.web_root.as_ref(), &headers).await
}

/// `GET /debug`: a protocol console that connects over WebTransport or WebSocket, joins a
/// space and shows its live deltas (`?auto` connects and spawns at once, for tests).
pub(crate) async fn debug() -> Html<&'static str> {
    Html(include_str!("debug.html"))
}

async fn serve(
    asset: &Asset,
    etag: &HeaderValue,
    web_root: Option<&PathBuf>,
    headers: &HeaderMap,
) -> Response {
    let no_cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let content_type = (
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if let Some(root) = web_root {
        // A developer's folder: read fresh each time, never cached.
        return match tokio::fs::read(root.join(asset.name)).await {
            Ok(bytes) => ([content_type, (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], bytes).into_response(),
            Err(error) => super::api::ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "not_found: {} in web_root {}: {error}; build it (cd clients/web && npm run build) or unset web_root",
                    asset.name,
                    root.display()
                ),
            )
            .into_response(),
        };
    }
    if headers.get(header::IF_NONE_MATCH) == Some(etag) {
        return (
            StatusCode::NOT_MODIFIED,
            [no_cache, (header::ETAG, etag.clone())],
        )
            .into_response();
    }
    (
        [content_type, no_cache, (header::ETAG, etag.clone())],
        asset.embedded,
    )
        .into_response()
}
