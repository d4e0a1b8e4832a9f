//! The response side: `<{Action}Response>` documents with the result wrapped in
//! `<{Action}Result>` and lists as `<member>` elements, and `<ErrorResponse>` documents,
//! each in its service's XML namespace.
//!
//! A writer of our own rather than a crate: the documents are small and fixed in
//! shape (elements and escaped text, no attributes but the namespace, nothing to
//! read back), so forty lines with an escaping test are simpler than a dependency.

use std::fmt::Display;

/// Builds one XML document.
#[derive(Default)]
pub struct Xml {
    out: String,
}

impl Xml {
    /// `<name>…</name>` around whatever `body` writes.
    pub fn elem(&mut self, name: &str, body: impl FnOnce(&mut Xml)) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        body(self);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>text</name>`, the text escaped.
    pub fn text(&mut self, name: &str, value: impl Display) {
        self.elem(name, |x| escape_into(&mut x.out, &value.to_string()));
    }

    /// [`Xml::text`] when there is a value.
    pub fn opt(&mut self, name: &str, value: Option<impl Display>) {
        if let Some(v) = value {
            self.text(name, v);
        }
    }

    /// `<name><member>…</member>…</name>`.
    pub fn list<T>(&mut self, name: &str, items: &[T], mut each: impl FnMut(&mut Xml, &T)) {
        self.elem(name, |x| {
            for item in items {
                x.elem("member", |x| each(x, item));
            }
        });
    }

    /// A list of plain strings.
    pub fn strings(&mut self, name: &str, items: &[String]) {
        self.list(name, items, |x, s| escape_into(&mut x.out, s));
    }

    /// The document so far.
    pub fn finish(self) -> String {
        self.out
    }
}

/// `text` with `& < > " '` escaped, for XML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// Appends `text` with `& < > " '` escaped.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// A successful response of the service whose XML namespace is `namespace`: the result
/// that `result` writes, wrapped for `action`.
pub fn response(
    namespace: &str,
    action: &str,
    request_id: &str,
    result: impl FnOnce(&mut Xml),
) -> String {
    let mut x = Xml::default();
    x.out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    x.out
        .push_str(&format!(r#"<{action}Response xmlns="{namespace}">"#));
    x.elem(&format!("{action}Result"), result);
    x.elem("ResponseMetadata", |x| x.text("RequestId", request_id));
    x.out.push_str(&format!("</{action}Response>"));
    x.finish()
}

/// The error document for an error with `code` and `message` answered with HTTP
/// `status` (5xx errors are the `Receiver`'s, the rest the `Sender`'s).
pub fn error_response(
    namespace: &str,
    status: u16,
    code: &str,
    message: &str,
    request_id: &str,
) -> String {
    let mut x = Xml::default();
    x.out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    x.out
        .push_str(&format!(r#"<ErrorResponse xmlns="{namespace}">"#));
    x.elem("Error", |x| {
        x.text("Type", if status >= 500 { "Receiver" } else { "Sender" });
        x.text("Code", code);
        x.text("Message", message);
    });
    x.text("RequestId", request_id);
    x.out.push_str("</ErrorResponse>");
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMESPACE: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

    #[test]
    fn text_is_escaped() {
        let mut x = Xml::default();
        x.text("Message", r#"<a href="x">Tom & Jerry's</a>"#);
        assert_eq!(
            x.finish(),
            "<Message>&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;</Message>"
        );
    }

    #[test]
    fn responses_wrap_results_and_lists_use_members() {
        let doc = response(NAMESPACE, "DescribeListeners", "req-1", |x| {
            x.list("Listeners", &[80, 443], |x, port| x.text("Port", port));
            x.opt("NextMarker", None::<&str>);
        });
        assert_eq!(
            doc,
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><DescribeListenersResponse xmlns="{NAMESPACE}"><DescribeListenersResult><Listeners><member><Port>80</Port></member><member><Port>443</Port></member></Listeners></DescribeListenersResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></DescribeListenersResponse>"#
            )
        );
        let empty = response(NAMESPACE, "DeleteRule", "r", |_| {});
        assert!(
            empty.contains("<DeleteRuleResult></DeleteRuleResult>"),
            "{empty}"
        );
    }

    #[test]
    fn errors_are_error_responses() {
        let doc = error_response(
            NAMESPACE,
            400,
            "RuleNotFound",
            "One or more rules not found",
            "r2",
        );
        assert!(doc.contains("<Error><Type>Sender</Type><Code>RuleNotFound</Code><Message>One or more rules not found</Message></Error><RequestId>r2</RequestId></ErrorResponse>"), "{doc}");
        let doc = error_response(NAMESPACE, 500, "InternalFailure", "x", "r3");
        assert!(doc.contains("<Type>Receiver</Type>"), "{doc}");
    }
}
