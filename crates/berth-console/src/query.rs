//! Query-protocol calls (IAM, ELBv2) as the signed-in principal, through
//! [`protocol::call_query`] (authorized as IAM decides), and reading their answers:
//! Berth's own XML, whose elements the pages need are found by name.

use berth_api::error::ApiError;
use berth_server::context::Caller;
use berth_server::protocol::{self, FrontDoor};

/// One call of `caller` to `service` (`iam`, `elasticloadbalancing`) with `params`
/// (`Action`, `Version` and the members); the XML answer, or the error it carried.
pub async fn call(
    front: &FrontDoor,
    caller: &Caller,
    service: &str,
    params: &[(&str, &str)],
) -> Result<String, ApiError> {
    let body = berth_query::Params::encode(params.iter().copied());
    let answer = protocol::call_query(front, caller.clone(), service, body.as_bytes()).await;
    if answer.status == 200 {
        return Ok(answer.body);
    }
    let code = field(&answer.body, "Code").unwrap_or_default();
    let message = field(&answer.body, "Message").unwrap_or_default();
    Err(match code.as_str() {
        "AccessDenied" | "AccessDeniedException" => ApiError::AccessDenied(message),
        _ => ApiError::InvalidParameter(format!("{code}: {message}")),
    })
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text of the first `<tag>` in `xml`.
pub fn field(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(unescape(&xml[start..end]))
}

/// The `<member>` elements at the first level found in `xml` (a member's own nested
/// members stay inside it).
pub fn members(xml: &str) -> Vec<&str> {
    const OPEN: &str = "<member>";
    const CLOSE: &str = "</member>";
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = xml[at..].find(OPEN).map(|i| i + at) {
        let inner = start + OPEN.len();
        let (mut depth, mut cursor) = (1usize, inner);
        loop {
            let next_open = xml[cursor..].find(OPEN).map(|i| i + cursor);
            let Some(next_close) = xml[cursor..].find(CLOSE).map(|i| i + cursor) else {
                return out;
            };
            match next_open {
                Some(open) if open < next_close => {
                    depth += 1;
                    cursor = open + OPEN.len();
                }
                _ => {
                    depth -= 1;
                    cursor = next_close + CLOSE.len();
                    if depth == 0 {
                        out.push(&xml[inner..next_close]);
                        break;
                    }
                }
            }
        }
        at = cursor;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_whole_with_their_nested_lists() {
        let xml = "<ListRolesResult><Roles><member><RoleName>a&amp;b</RoleName><Tags><member><Key>k</Key></member></Tags></member><member><RoleName>c</RoleName></member></Roles></ListRolesResult>";
        let found = members(xml);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(field(found[0], "RoleName").as_deref(), Some("a&b"));
        assert!(found[0].contains("<Key>k</Key>"));
        assert_eq!(field(found[1], "RoleName").as_deref(), Some("c"));
        assert!(members("<x/>").is_empty());
    }
}
