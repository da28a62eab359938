//! The pages: static HTML/JS/CSS compiled into the binary (no network at
//! the gate, nothing to install). They talk to the same JSON API.

use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;

use super::AppState;

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        || async {
            (
                [(header::CONTENT_TYPE, $mime), (header::CACHE_CONTROL, "no-cache")],
                include_str!(concat!("../../static/", $path)),
            )
                .into_response()
        }
    };
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/guard") }))
        .route("/guard", get(asset!("guard.html", "text/html; charset=utf-8")))
        .route("/committee", get(asset!("committee.html", "text/html; charset=utf-8")))
        .route("/login", get(asset!("login.html", "text/html; charset=utf-8")))
        .route("/static/app.css", get(asset!("app.css", "text/css; charset=utf-8")))
        .route("/static/i18n.js", get(asset!("i18n.js", "text/javascript; charset=utf-8")))
        .route("/static/common.js", get(asset!("common.js", "text/javascript; charset=utf-8")))
        .route("/static/sound.js", get(asset!("sound.js", "text/javascript; charset=utf-8")))
        .route("/static/login.js", get(asset!("login.js", "text/javascript; charset=utf-8")))
        .route("/static/guard.js", get(asset!("guard.js", "text/javascript; charset=utf-8")))
        .route("/static/committee.js", get(asset!("committee.js", "text/javascript; charset=utf-8")))
        .layer(axum::middleware::map_response(page_headers))
}

/// The pages load nothing from elsewhere and run no inline script, so a
/// strict policy costs nothing and stops injected markup from running.
pub(crate) async fn page_headers(mut res: axum::response::Response) -> axum::response::Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    res
}
