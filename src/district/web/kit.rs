//! Escaping and cookies for the district pages, kept in one small place so
//! the district can move onto the shared web kit in one step.

use axum::http::{header, HeaderMap};
use std::fmt::Write as _;

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Percent-encodes a query value (community names are Chinese and may hold
/// `&` or `#`).
pub fn url_enc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(char::from(b));
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// The session cookie: HttpOnly, SameSite=Strict, for the whole site.
pub fn set_cookie(name: &str, value: &str, max_age_s: i64) -> String {
    format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_cookies() {
        assert_eq!(esc("<a href='x'>&\""), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;");
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; gpd_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&h, "gpd_session"), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(url_enc("阳光 a&b#"), "%E9%98%B3%E5%85%89%20a%26b%23");
        assert_eq!(set_cookie("s", "v", 0), "s=v; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    }
}
