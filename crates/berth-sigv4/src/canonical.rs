//! The canonical request of SigV4 — method, URI path, query string, headers, signed-header
//! list and payload hash — in the exact bytes both the signer and the verifier hash.
//!
//! The rules follow botocore's `SigV4Auth` (what the AWS CLI sends) and the AWS test suite:
//! the path has dot segments and empty segments removed and is then percent-encoded again
//! (non-S3 services encode twice); query parameters are re-encoded and sorted by key, then
//! value; header values are trimmed with inner runs of whitespace collapsed to one space, and
//! repeated headers are joined with commas in the order received.

use std::borrow::Cow;

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::ALGORITHM;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// RFC 3986 unreserved characters, which SigV4 never encodes.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn push_encoded(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(&[
        b'%',
        HEX_UPPER[usize::from(b >> 4)],
        HEX_UPPER[usize::from(b & 0x0f)],
    ]);
}

/// Whitespace as Python's `str.split()` sees it (ASCII part), which botocore uses to trim.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What the canonical request is built from, apart from the header values.
pub(crate) struct CanonicalInput<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Remove dot segments and repeated slashes (every service but S3).
    pub normalize_path: bool,
    pub query: Option<&'a str>,
    /// The `SignedHeaders` list, `;`-separated, used verbatim.
    pub signed_headers: &'a str,
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    pub payload_hash: &'a str,
}

/// Appends the canonical request to `out`; `header_value` appends the canonical value of the
/// named signed header (see [`write_header_values`]).
pub(crate) fn write_canonical_request(
    out: &mut Vec<u8>,
    input: &CanonicalInput<'_>,
    mut header_value: impl FnMut(&str, &mut Vec<u8>),
) {
    out.extend_from_slice(input.method.as_bytes());
    out.push(b'\n');
    write_canonical_uri(out, input.path, input.normalize_path);
    out.push(b'\n');
    write_canonical_query(out, input.query);
    out.push(b'\n');
    for name in input.signed_headers.split(';') {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        header_value(name, out);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(input.signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(input.payload_hash.as_bytes());
}

/// The string to sign: algorithm, timestamp, credential scope and the hex SHA-256 of the
/// canonical request, one per line.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    let hash = Sha256::digest(canonical_request);
    let mut hex_hash = [0u8; 64];
    hex::encode_to_slice(hash, &mut hex_hash).expect("64 hex digits for 32 bytes");
    let mut sts = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    sts.push_str(ALGORITHM);
    sts.push('\n');
    sts.push_str(amz_date);
    sts.push('\n');
    sts.push_str(scope);
    sts.push('\n');
    sts.push_str(std::str::from_utf8(&hex_hash).unwrap_or_default());
    sts
}

/// Appends the canonical values of header `name` from `headers`, trimmed and comma-joined;
/// returns whether the header was present.
pub(crate) fn write_header_values(out: &mut Vec<u8>, headers: &HeaderMap, name: &str) -> bool {
    let mut present = false;
    for value in headers.get_all(name) {
        if present {
            out.push(b',');
        }
        present = true;
        write_trimmed(out, value.as_bytes());
    }
    present
}

/// Appends `value` without leading and trailing whitespace and with each inner run of
/// whitespace (including obsolete line folding) replaced by one space.
pub(crate) fn write_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let mut started = false;
    let mut pending_space = false;
    for &b in value {
        if is_space(b) {
            pending_space = started;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
            started = true;
        }
    }
}

/// Appends the canonical URI of `path`: normalized when asked, then every byte other than an
/// unreserved character or `/` percent-encoded. A path that arrives percent-encoded is thereby
/// encoded a second time, which is what AWS requires of every service but S3.
pub(crate) fn write_canonical_uri(out: &mut Vec<u8>, path: &str, normalize: bool) {
    let path = if normalize {
        remove_dot_segments(path)
    } else if path.is_empty() {
        Cow::Borrowed("/")
    } else {
        Cow::Borrowed(path)
    };
    for &b in path.as_bytes() {
        if is_unreserved(b) || b == b'/' {
            out.push(b);
        } else {
            push_encoded(out, b);
        }
    }
}

/// RFC 3986 section 5.2.4 dot-segment removal, also dropping empty segments, as botocore's
/// `remove_dot_segments` does (`//a/./b/../c/` becomes `/a/c/`).
pub(crate) fn remove_dot_segments(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    if is_normalized(path) {
        return Cow::Borrowed(path);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    if path.starts_with('/') {
        out.push('/');
    }
    out.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

/// Whether `path` is absolute with no empty, `.` or `..` segment (a trailing `/` is fine).
fn is_normalized(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    !rest.is_empty() && rest.split('/').all(|s| !matches!(s, "" | "." | ".."))
}

/// Appends the canonical query string: each name and value re-encoded, pairs sorted by name
/// and then value, joined with `&`; a parameter without `=` gets an empty value.
pub(crate) fn write_canonical_query(out: &mut Vec<u8>, query: Option<&str>) {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return;
    };
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (canonical_component(name), canonical_component(value))
        })
        .collect();
    pairs.sort_unstable();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
    }
}

/// The canonical encoding of one query component: percent escapes decoded, then everything but
/// unreserved characters encoded with upper-case hex. `+` is a literal plus (`%2B`), as AWS
/// SDKs never send `+` for a space. Borrowed when the input is already canonical.
pub(crate) fn canonical_component(raw: &str) -> Cow<'_, str> {
    if is_canonical_component(raw.as_bytes()) {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let decoded = if b == b'%' && i + 2 < bytes.len() {
            hex_value(bytes[i + 1]).zip(hex_value(bytes[i + 2]))
        } else {
            None
        };
        match decoded {
            Some((hi, lo)) => {
                let c = hi << 4 | lo;
                if is_unreserved(c) {
                    out.push(c);
                } else {
                    push_encoded(&mut out, c);
                }
                i += 3;
            }
            None => {
                if is_unreserved(b) {
                    out.push(b);
                } else {
                    push_encoded(&mut out, b);
                }
                i += 1;
            }
        }
    }
    // Only unreserved ASCII and `%XX` escapes were written.
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn is_canonical_component(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (Some(&hi), Some(&lo)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                return false;
            };
            let upper_hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
            if !upper_hex(hi) || !upper_hex(lo) {
                return false;
            }
            let decoded = hex_value(hi).unwrap_or(0) << 4 | hex_value(lo).unwrap_or(0);
            if is_unreserved(decoded) {
                return false;
            }
            i += 3;
        } else if is_unreserved(b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(path: &str, normalize: bool) -> String {
        let mut out = Vec::new();
        write_canonical_uri(&mut out, path, normalize);
        String::from_utf8(out).unwrap()
    }

    fn query(q: &str) -> String {
        let mut out = Vec::new();
        write_canonical_query(&mut out, Some(q));
        String::from_utf8(out).unwrap()
    }

    fn trimmed(v: &[u8]) -> String {
        let mut out = Vec::new();
        write_trimmed(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn paths_normalize_like_botocore() {
        assert_eq!(uri("/", true), "/");
        assert_eq!(uri("", true), "/");
        assert_eq!(uri("/example/..", true), "/");
        assert_eq!(uri("/example1/example2/../..", true), "/");
        assert_eq!(uri("/./", true), "/");
        assert_eq!(uri("//", true), "/");
        assert_eq!(uri("/./example", true), "/example");
        assert_eq!(uri("//example//", true), "/example/");
        assert_eq!(uri("/a/b/../c/./d/", true), "/a/c/d/");
        assert_eq!(uri("/../..", true), "/");
    }

    #[test]
    fn paths_stay_when_not_normalizing() {
        assert_eq!(uri("/example/..", false), "/example/..");
        assert_eq!(uri("//example//", false), "//example//");
        assert_eq!(uri("/./", false), "/./");
    }

    #[test]
    fn paths_encode_everything_but_unreserved_and_slash() {
        assert_eq!(uri("/example space/", true), "/example%20space/");
        assert_eq!(uri("/\u{1234}", true), "/%E1%88%B4");
        let unreserved = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        assert_eq!(uri(unreserved, true), unreserved);
        // A path already percent-encoded on the wire is encoded again (non-S3 services).
        assert_eq!(uri("/foo%20bar", true), "/foo%2520bar");
        assert_eq!(uri("/a:b@c+d", true), "/a%3Ab%40c%2Bd");
    }

    #[test]
    fn query_sorts_by_key_then_value_and_reencodes() {
        assert_eq!(
            query("Param2=value2&Param1=value1"),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(
            query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
        assert_eq!(query("a=2&a=1&b"), "a=1&a=2&b=");
        assert_eq!(query("k=a b"), "k=a%20b");
        assert_eq!(query("k=%7e%2f%41"), "k=~%2FA");
        assert_eq!(query("k=a+b"), "k=a%2Bb");
        assert_eq!(query("k=100%"), "k=100%25");
        assert_eq!(query("k=%zz"), "k=%25zz");
        assert_eq!(query("k=\u{1234}"), "k=%E1%88%B4");
        assert_eq!(query("a=1&&b=2&"), "a=1&b=2");
    }

    #[test]
    fn canonical_components_borrow_when_already_canonical() {
        assert!(matches!(canonical_component("abc-_.~"), Cow::Borrowed(_)));
        assert!(matches!(canonical_component("%E1%88%B4"), Cow::Borrowed(_)));
        assert!(matches!(canonical_component("%e1"), Cow::Owned(_)));
        assert!(matches!(canonical_component("%41"), Cow::Owned(_)));
    }

    #[test]
    fn header_values_trim_and_collapse() {
        assert_eq!(trimmed(b" value1"), "value1");
        assert_eq!(trimmed(b"\"a   b   c\""), "\"a b c\"");
        assert_eq!(
            trimmed(b"value1\n  value2\n     value3"),
            "value1 value2 value3"
        );
        assert_eq!(trimmed(b" \t a \t b \t "), "a b");
        assert_eq!(trimmed(b"   "), "");
        assert_eq!(trimmed(b"attempt=1; max=3"), "attempt=1; max=3");
    }

    #[test]
    fn repeated_headers_join_with_commas_in_order() {
        let mut headers = HeaderMap::new();
        headers.append("my-header1", "value4".parse().unwrap());
        headers.append("my-header1", " value1 ".parse().unwrap());
        headers.append("my-header1", "value3".parse().unwrap());
        let mut out = Vec::new();
        assert!(write_header_values(&mut out, &headers, "my-header1"));
        assert_eq!(out, b"value4,value1,value3");
        // Lookups ignore case, as header names do.
        out.clear();
        assert!(write_header_values(&mut out, &headers, "My-Header1"));
        assert!(!write_header_values(&mut out, &headers, "absent"));
        assert!(!write_header_values(
            &mut out,
            &headers,
            "not a header name"
        ));
    }
}
