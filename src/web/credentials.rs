//! Reading credentials from a request: the bearer token and cookies.

use axum::http::{header, HeaderMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// An Authorization header that is not `Bearer TOKEN`.
    Malformed,
}

/// The token of `Authorization: Bearer TOKEN` (scheme case-insensitive, as
/// RFC 9110 says); `Ok(None)` when there is no Authorization header.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, BearerError> {
    let Some(h) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let text = h.to_str().map_err(|_| BearerError::Malformed)?;
    let (scheme, token) = text.trim().split_once(' ').ok_or(BearerError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(BearerError::Malformed);
    }
    Ok(Some(token.trim()))
}

/// The value of cookie `name`, from any Cookie header.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for a page session: script cannot read it, no
/// other site sends it, and it lasts `max_age_s` seconds (0 ends it).
pub fn session_cookie(name: &str, value: &str, max_age_s: u64) -> String {
    format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_and_cookies() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), Ok(None));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bEaReR gpt_x"));
        assert_eq!(bearer_token(&h), Ok(Some("gpt_x")));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), Err(BearerError::Malformed));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert_eq!(bearer_token(&h), Err(BearerError::Malformed));
        h.append(header::COOKIE, HeaderValue::from_static("a=1; gp_session=xyz"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie_value(&h, "gp_session"), Some("xyz"));
        assert_eq!(cookie_value(&h, "b"), Some("2"));
        assert_eq!(cookie_value(&h, "gp"), None);
        assert!(session_cookie("s", "v", 0).contains("Max-Age=0"));
    }
}
