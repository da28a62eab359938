//! Security headers for pages.

use axum::http::header::{self, HeaderValue};
use axum::response::Response;

/// The pages load nothing from elsewhere and run no inline script, so a
/// strict policy costs nothing and stops injected markup from running.
pub const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// For generated documents that carry their own inline `<style>` and
/// `data:` images (the printable card sheet): no script at all.
pub const DOCUMENT_CSP: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Adds the page security headers with the given content security policy.
pub fn with_csp(mut res: Response, csp: &'static str) -> Response {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // not "no-referrer": under it a browser sends `Origin: null` with the
    // pages' own form posts, and the cross-origin check (web::origin) must
    // see their real origin. "same-origin" still tells other sites nothing.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// Middleware (`axum::middleware::map_response(page_headers)`) for pages.
pub async fn page_headers(res: Response) -> Response {
    with_csp(res, PAGE_CSP)
}
