//! The AWS JSON 1.1 protocol's encoding: an operation's input parsed from its body (with
//! AWS's error for each way a body can be wrong), its output serialized, and the one
//! mapping from [`ApiError`] to an HTTP response. Handlers and the agent channel use it;
//! it knows nothing of them.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api::error::{ApiError, ErrorBody};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The content type of every AWS JSON 1.1 response.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A handled request's outcome before it becomes HTTP.
pub type ApiResult = Result<Vec<u8>, ApiError>;

/// The error for an `X-Amz-Target` no service here answers.
pub fn unknown_operation(target: &str) -> ApiError {
    ApiError::UnknownOperation(format!("The operation '{target}' is not supported."))
}

/// The one mapping from [`ApiError`] to an HTTP response.
pub fn error_response(e: &ApiError) -> Response {
    if e.status() >= 500 {
        tracing::error!(code = e.code(), message = e.message(), "request failed");
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&ErrorBody::from(e)).expect("error body serializes");
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    r.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_str(e.code()).expect("ascii code"),
    );
    r
}

/// Parses a request body into an operation's input. An empty body is `{}`, as AWS
/// treats it. Malformed JSON and wrong types are `SerializationException`; a missing
/// required member is `InvalidParameterException` naming it, and so is a value outside
/// an enum's (see [`parse_with`]).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    parse_with(body, ApiError::InvalidParameter)
}

/// [`parse`], with `invalid` making the operation's own error for a value outside an
/// enum's: AWS's validation message naming the member, the value and the valid values
/// (ECS answers CreateService's with ClientException, most others' with
/// InvalidParameterException).
pub fn parse_with<T: DeserializeOwned>(
    body: &[u8],
    invalid: fn(String) -> ApiError,
) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        let text = text.split(" at line ").next().unwrap_or(&text).to_string();
        if e.is_data() && text.starts_with("missing field") {
            let field = text.trim_start_matches("missing field ").trim_matches('`');
            ApiError::InvalidParameter(format!("Missing required parameter in input: \"{field}\""))
        } else if e.is_data() && text.starts_with("unknown variant") {
            invalid(enum_message::<T>(body, &text))
        } else if e.is_syntax() || e.is_eof() {
            ApiError::Serialization(format!("Unable to parse the request body as JSON: {text}"))
        } else {
            ApiError::Serialization(format!("Invalid request body: {text}"))
        }
    })
}

/// AWS's words for a value outside an enum, from serde's ("unknown variant `Fargate`,
/// expected one of `EC2`, `FARGATE`"); the member's path is found by parsing again with
/// paths tracked, which only a refused body pays for.
fn enum_message<T: DeserializeOwned>(body: &[u8], serde_text: &str) -> String {
    let quoted: Vec<&str> = serde_text.split('`').skip(1).step_by(2).collect();
    let (value, valid) = quoted.split_first().unwrap_or((&"", &[]));
    let path =
        serde_path_to_error::deserialize::<_, T>(&mut serde_json::Deserializer::from_slice(body))
            .err()
            .map(|e| e.path().to_string())
            .unwrap_or_else(|| "?".into());
    format!(
        "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: \
         Member must satisfy enum value set: [{}]",
        valid.join(", ")
    )
}

/// Serializes an operation's output.
pub fn respond<T: Serialize>(out: &T) -> ApiResult {
    serde_json::to_vec(out).map_err(|e| ApiError::Server(format!("cannot encode response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        family: String,
        count: Option<i32>,
    }

    #[test]
    fn classifies_parse_errors_as_aws_does() {
        let e = parse::<Input>(b"{not json").unwrap_err();
        assert_eq!(e.code(), "SerializationException");
        let e = parse::<Input>(br#"{"family":"f","count":"x"}"#).unwrap_err();
        assert_eq!(e.code(), "SerializationException");
        assert!(e.message().contains("invalid type"), "{}", e.message());
        let e = parse::<Input>(br#"{"count":1}"#).unwrap_err();
        assert_eq!(e.code(), "InvalidParameterException");
        assert!(e.message().contains("\"family\""), "{}", e.message());
        let e = parse::<Input>(br#"{"family":"f","bogus":1}"#).unwrap_err();
        assert_eq!(e.code(), "SerializationException");
        assert!(e.message().contains("bogus"), "{}", e.message());
        assert!(parse::<Input>(br#"{"family":"f"}"#).is_ok());
    }

    #[test]
    fn a_value_outside_an_enum_is_the_operations_error_naming_member_and_values() {
        use berth_api::ecs::RunTaskRequest;
        let body = br#"{"taskDefinition":"web","launchType":"Fargate"}"#;
        let e = parse::<RunTaskRequest>(body).unwrap_err();
        assert_eq!(e.code(), "InvalidParameterException");
        assert_eq!(
            e.message(),
            "1 validation error detected: Value 'Fargate' at 'launchType' failed to satisfy \
             constraint: Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL, \
             MANAGED_INSTANCES]"
        );
        let nested = br#"{"taskDefinition":"web","overrides":{"containerOverrides":[{"name":"a","environmentFiles":[{"value":"x","type":"S3"}]}]}}"#;
        let e = parse_with::<RunTaskRequest>(nested, ApiError::Client).unwrap_err();
        assert_eq!(e.code(), "ClientException");
        assert!(
            e.message()
                .contains("at 'overrides.containerOverrides[0].environmentFiles[0].type'"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn empty_body_is_an_empty_object() {
        #[derive(serde::Deserialize)]
        struct Empty {}
        assert!(parse::<Empty>(b"").is_ok());
        assert!(parse::<Input>(b"").is_err());
    }
}
