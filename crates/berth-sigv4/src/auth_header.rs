//! Parsing of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`,
//! with AWS's messages for what is malformed.

use crate::error::AuthError;

/// The parts of an `Authorization` header; parameters are `None` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthHeader<'a> {
    pub algorithm: &'a str,
    pub credential: Option<&'a str>,
    pub signed_headers: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Splits the header into algorithm and parameters. Parameters are separated by commas and/or
/// whitespace, as AWS splits them; only `AWS4-…` schemes are parsed for parameters, so other
/// schemes (`AWS key:sig`, `Bearer …`) end up reported as missing every parameter.
pub(crate) fn parse(value: &str) -> Result<AuthHeader<'_>, AuthError> {
    let value = value.trim();
    let (algorithm, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    let mut header = AuthHeader {
        algorithm,
        credential: None,
        signed_headers: None,
        signature: None,
    };
    if !algorithm.starts_with("AWS4-") {
        return Ok(header);
    }
    for pair in rest.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
        let Some((name, param)) = pair.split_once('=') else {
            return Err(AuthError::IncompleteSignature(format!(
                "'{pair}' not a valid key=value pair (missing equal-sign) in Authorization \
                 header: '{value}'."
            )));
        };
        match name {
            "Credential" => header.credential = Some(param),
            "SignedHeaders" => header.signed_headers = Some(param),
            "Signature" => header.signature = Some(param),
            _ => {}
        }
    }
    Ok(header)
}

/// The five parts of `Credential=AKID/20150830/us-east-1/ecs/aws4_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Credential<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub terminator: &'a str,
    /// `date/region/service/terminator`, as it goes into the string to sign.
    pub scope: &'a str,
    /// The whole credential without trailing slashes.
    pub full: &'a str,
}

/// Splits a credential into its five slash-separated parts (trailing slashes ignored).
pub(crate) fn parse_credential(raw: &str) -> Result<Credential<'_>, AuthError> {
    let full = raw.trim_end_matches('/');
    let malformed = || {
        AuthError::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{raw}'"
        ))
    };
    let mut parts = full.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed());
    };
    Ok(Credential {
        access_key_id,
        date,
        region,
        service,
        terminator,
        scope: &full[access_key_id.len() + 1..],
        full,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTOCORE: &str = "AWS4-HMAC-SHA256 \
        Credential=AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request, \
        SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
        Signature=990c9036f09419c3cd7bc828217b889ce440e30e83d4a3608a681a67b2be2517";

    #[test]
    fn parses_what_botocore_sends() {
        let h = parse(BOTOCORE).unwrap();
        assert_eq!(h.algorithm, "AWS4-HMAC-SHA256");
        assert_eq!(
            h.credential,
            Some("AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request")
        );
        assert_eq!(
            h.signed_headers,
            Some("content-type;host;x-amz-date;x-amz-target")
        );
        assert_eq!(
            h.signature,
            Some("990c9036f09419c3cd7bc828217b889ce440e30e83d4a3608a681a67b2be2517")
        );
    }

    #[test]
    fn accepts_commas_without_spaces_and_ignores_unknown_parameters() {
        let h = parse("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=host,Signature=ff,X=1")
            .unwrap();
        assert_eq!(h.credential, Some("a/b/c/d/e"));
        assert_eq!(h.signed_headers, Some("host"));
        assert_eq!(h.signature, Some("ff"));
    }

    #[test]
    fn a_parameter_without_equal_sign_is_refused_with_awss_message() {
        let value = "AWS4-HMAC-SHA256 Credential= AKID/20181128/eu-central-1/cloud9/aws4_request, \
                     SignedHeaders=host, Signature=ab";
        let err = parse(value).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "'AKID/20181128/eu-central-1/cloud9/aws4_request' not a valid key=value pair \
                 (missing equal-sign) in Authorization header: '{value}'."
            )
        );
    }

    #[test]
    fn other_schemes_carry_no_parameters() {
        let h = parse("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=").unwrap();
        assert_eq!(h.algorithm, "AWS");
        assert_eq!(h.credential, None);
        let h = parse("Bearer abc").unwrap();
        assert_eq!((h.credential, h.signature), (None, None));
    }

    #[test]
    fn credentials_split_into_five_parts() {
        let c = parse_credential("AKID/20150830/us-east-1/ecs/aws4_request/").unwrap();
        assert_eq!(c.access_key_id, "AKID");
        assert_eq!(c.date, "20150830");
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.service, "ecs");
        assert_eq!(c.terminator, "aws4_request");
        assert_eq!(c.scope, "20150830/us-east-1/ecs/aws4_request");
        assert_eq!(c.full, "AKID/20150830/us-east-1/ecs/aws4_request");
    }

    #[test]
    fn credentials_with_other_counts_are_refused() {
        for bad in ["AKID", "AKID/20150830/us-east-1/ecs", "a/b/c/d/e/f"] {
            assert_eq!(
                parse_credential(bad).unwrap_err(),
                AuthError::IncompleteSignature(format!(
                    "Credential must have exactly 5 slash-delimited elements, e.g. \
                     keyid/date/region/service/term, got '{bad}'"
                ))
            );
        }
    }
}
