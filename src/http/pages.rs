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
        // browsers ask for it on every https page; no icon, and no 404 noise
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT }))
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
        // the camera's QR decoder where the browser has none (static/vendor/README.md);
        // versioned in its path, so a phone keeps it once fetched
        .route(
            "/static/vendor/jsqr-1.4.0.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                    ],
                    include_str!("../../static/vendor/jsqr.js"),
                )
                    .into_response()
            }),
        )
        .layer(axum::middleware::map_response(page_headers))
}

/// The page security headers, from the web kit (the district uses them too).
pub(crate) use crate::web::page_headers;
