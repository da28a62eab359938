//! Cross-origin state changes (CSRF).
//!
//! `SameSite=Strict` keeps the session cookie from other *sites*, but a
//! page on another port of the same host is the same site: its form posts
//! carry the cookie. So a state-changing request that a browser could have
//! sent on a cookie's strength must prove it came from one of our own pages:
//! its `Origin` is this request's origin, or (no Origin) `Sec-Fetch-Site`
//! says `same-origin`. And it must carry the content type a page sends
//! (JSON; CSV or multipart for imports), which a cross-site HTML form
//! cannot. Bearer-token calls are not sent by browsers on their own, so
//! they are left alone.

use super::refusal::Refusal;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What the check needs to know about a daemon's routes.
#[derive(Debug, Clone, Copy)]
pub struct CsrfPolicy {
    /// The session cookie: requests carrying it are checked.
    pub session_cookie: &'static str,
    /// Paths checked even without a cookie (login: no session yet).
    pub always: &'static [&'static str],
    /// Paths that take a file (CSV or multipart) instead of JSON.
    pub uploads: &'static [&'static str],
    /// Paths that take an HTML form (`application/x-www-form-urlencoded`),
    /// for pages that post forms rather than JSON.
    pub forms: &'static [&'static str],
}

fn changes_state(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// Scheme-less origin text with default ports dropped, for comparing.
fn normal(scheme: &str, hostport: &str) -> String {
    let hp = hostport.to_ascii_lowercase();
    let hp = match scheme {
        "http" => hp.strip_suffix(":80").map(str::to_string).unwrap_or(hp),
        "https" => hp.strip_suffix(":443").map(str::to_string).unwrap_or(hp),
        _ => hp,
    };
    hp
}

/// Is the request from a page of this origin? `Origin` must be
/// `http(s)://` + the Host header (either scheme: a TLS proxy in front
/// changes it, and the same host and port cannot be two servers); with no
/// Origin, `Sec-Fetch-Site: same-origin`. Neither → no.
pub fn same_origin(headers: &HeaderMap) -> Result<(), Refusal> {
    let refuse = |why: &str| {
        Refusal::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            format!("this request did not come from this site's own pages ({why}); reload the page and try again"),
        )
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::trim).filter(|h| !h.is_empty());
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| refuse("unreadable Origin"))?.trim();
        let host = host.ok_or_else(|| refuse("no Host header"))?;
        let (scheme, rest) = origin.split_once("://").ok_or_else(|| refuse("Origin is not an address"))?;
        let scheme = scheme.to_ascii_lowercase();
        if !(scheme == "http" || scheme == "https") || rest.contains('/') {
            return Err(refuse("Origin is not an address"));
        }
        if normal(&scheme, rest) == normal(&scheme, host) {
            return Ok(());
        }
        return Err(refuse("Origin is another site or port"));
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(v) if v.trim().eq_ignore_ascii_case("same-origin") => Ok(()),
        Some(_) => Err(refuse("Sec-Fetch-Site is not same-origin")),
        None => Err(refuse("no Origin or Sec-Fetch-Site header")),
    }
}

/// The media type of the body, lower case, without parameters.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Checks one request against the policy; `Ok` when it may go on.
pub fn check(policy: &CsrfPolicy, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), Refusal> {
    if !changes_state(method) || headers.contains_key(header::AUTHORIZATION) {
        return Ok(());
    }
    let has_cookie = super::cookie_value(headers, policy.session_cookie).is_some();
    if !has_cookie && !policy.always.contains(&path) {
        // no credential a browser would add by itself: the handler refuses it
        return Ok(());
    }
    same_origin(headers)?;
    let mt = media_type(headers);
    let (ok, wanted) = if policy.uploads.contains(&path) {
        (mt == "text/csv" || mt == "multipart/form-data", "text/csv or multipart/form-data")
    } else if policy.forms.contains(&path) {
        (mt == "application/x-www-form-urlencoded", "application/x-www-form-urlencoded")
    } else {
        (mt == "application/json", "application/json")
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "wrong_content_type",
            format!("this call takes Content-Type: {wanted}, not '{mt}'"),
        ))
    }
}

/// Middleware: `axum::middleware::from_fn_with_state(POLICY, csrf_guard)`.
pub async fn csrf_guard(State(policy): State<CsrfPolicy>, req: Request, next: Next) -> Response {
    match check(&policy, req.method(), req.uri().path(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(r) => {
            tracing::info!(path = %req.uri().path(), code = r.code, "refused: {}", r.message);
            r.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const P: CsrfPolicy = CsrfPolicy { session_cookie: "s", always: &["/login"], uploads: &["/import"], forms: &[] };

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn origin_rules() {
        let post = Method::POST;
        let base = [("host", "10.0.0.5:8080"), ("cookie", "s=1"), ("content-type", "application/json")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            check(&P, &post, "/x", &h(&v))
        };
        assert!(with(&[("origin", "http://10.0.0.5:8080")]).is_ok());
        assert!(with(&[("origin", "https://10.0.0.5:8080")]).is_ok());
        assert_eq!(with(&[("origin", "http://10.0.0.5:8081")]).unwrap_err().code, "cross_origin");
        assert_eq!(with(&[("origin", "null")]).unwrap_err().code, "cross_origin");
        assert_eq!(with(&[]).unwrap_err().code, "cross_origin");
        assert!(with(&[("sec-fetch-site", "same-origin")]).is_ok());
        assert_eq!(with(&[("sec-fetch-site", "same-site")]).unwrap_err().code, "cross_origin");
        // default ports
        assert!(check(
            &P,
            &post,
            "/x",
            &h(&[
                ("host", "gate"),
                ("cookie", "s=1"),
                ("origin", "http://gate:80"),
                ("content-type", "application/json")
            ])
        )
        .is_ok());
        // content types
        let ct = |path: &str, t: &'static str| {
            check(
                &P,
                &post,
                path,
                &h(&[("host", "g:1"), ("cookie", "s=1"), ("origin", "http://g:1"), ("content-type", t)]),
            )
        };
        assert_eq!(ct("/x", "text/plain").unwrap_err().code, "wrong_content_type");
        assert!(ct("/x", "application/json; charset=utf-8").is_ok());
        assert!(ct("/import", "text/csv").is_ok());
        assert!(ct("/import", "multipart/form-data; boundary=x").is_ok());
        assert_eq!(ct("/import", "text/plain").unwrap_err().code, "wrong_content_type");
        // bearer calls, reads, and cookie-less calls pass through
        assert!(check(&P, &post, "/x", &h(&[("authorization", "Bearer t"), ("cookie", "s=1")])).is_ok());
        assert!(check(&P, &Method::GET, "/x", &h(&[("cookie", "s=1")])).is_ok());
        assert!(check(&P, &post, "/x", &h(&[])).is_ok());
        // login is checked without a cookie
        assert_eq!(
            check(&P, &post, "/login", &h(&[("host", "g:1"), ("origin", "http://evil:1")])).unwrap_err().code,
            "cross_origin"
        );
    }
}
