//! Just enough `multipart/form-data` to take one uploaded file out of a
//! form post (the register import), without another dependency.

use axum::http::{header, HeaderMap};

/// The boundary of a `multipart/form-data` body, if that is what it is.
pub fn boundary(headers: &HeaderMap) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mut parts = ct.split(';');
    if !parts.next()?.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The content of the first part that is a file (has a `filename`), or of
/// the first part when none says so.
pub fn first_file(body: &[u8], boundary: &str) -> Option<Vec<u8>> {
    let delim = format!("--{boundary}");
    let mut rest = body.get(find(body, delim.as_bytes())? + delim.len()..)?;
    let mut first = None;
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(rest.get(..head_end)?).to_ascii_lowercase();
        let content_start = rest.get(head_end + 4..)?;
        let next = find(content_start, format!("\r\n{delim}").as_bytes())?;
        let content = content_start.get(..next)?;
        if head.contains("filename=") {
            return Some(content.to_vec());
        }
        if first.is_none() {
            first = Some(content.to_vec());
        }
        rest = content_start.get(next + 2 + delim.len()..)?;
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn takes_the_file_out() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("multipart/form-data; boundary=\"XyZ\""));
        let b = boundary(&h).unwrap();
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.csv\"\r\nContent-Type: text/csv\r\n\r\na,b\r\n1,2\r\n--XyZ--\r\n";
        assert_eq!(first_file(body, &b).unwrap(), b"a,b\r\n1,2");
        assert_eq!(first_file(b"garbage", &b), None);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        assert_eq!(boundary(&h), None);
    }
}
