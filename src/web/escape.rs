//! Text that goes into HTML, and paths that a login may send the browser to.

/// Escapes text for HTML element content and quoted attribute values.
pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Percent-encodes a query value: everything but RFC 3986's unreserved
/// characters (community names are Chinese and may hold `&` or `#`).
pub fn url_encode(s: &str) -> String {
    use std::fmt::Write as _;
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

/// The `next` of a login when it is a path on this site, else `None`.
///
/// Browsers drop tabs and newlines from URLs and read `\` as `/`, so
/// `/\t/evil.example` and `/\evil.example` are other sites: only a single
/// leading `/` followed by printable text without backslashes is a path here.
pub fn safe_next(next: &str) -> Option<&str> {
    const MAX: usize = 2048;
    if next.len() > MAX || !next.starts_with('/') || next.starts_with("//") {
        return None;
    }
    if next.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace() || is_invisible(c)) {
        return None;
    }
    Some(next)
}

/// Zero-width and direction-changing characters: invisible in an address bar.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(html_escape("<script>\"&'"), "&lt;script&gt;&quot;&amp;&#39;");
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(url_encode("阳光 a&b#"), "%E9%98%B3%E5%85%89%20a%26b%23");
        assert_eq!(url_encode("Az09-_.~"), "Az09-_.~");
    }

    #[test]
    fn next_is_a_local_path_only() {
        assert_eq!(safe_next("/committee#passes"), Some("/committee#passes"));
        assert_eq!(safe_next("/guard?x=1"), Some("/guard?x=1"));
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "evil.example",
            "",
            " /guard",
            "/ /evil.example",
            "/\u{200B}/evil.example",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(5000))), None);
    }
}
