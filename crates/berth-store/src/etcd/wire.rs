//! The shapes of etcd's v3 API as its gateway speaks JSON (`/v3/kv/range`,
//! `/v3/kv/txn`, `/v3/watch`, `/v3/lease/*`): proto3's JSON mapping, so 64-bit integers
//! are strings, bytes are base64, and members at their default value are left out.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes as proto3 JSON writes them: base64.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct B64(pub Vec<u8>);

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text)
            .map(B64)
            .map_err(serde::de::Error::custom)
    }
}

/// A 64-bit integer as proto3 JSON writes it: a decimal string (numbers accepted too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct I64(pub i64);

impl Serialize for I64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for I64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(i64),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(I64(n)),
            Either::Text(t) => t.parse().map(I64).map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Header {
    #[serde(default)]
    pub revision: I64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Kv {
    pub key: B64,
    #[serde(default)]
    pub value: B64,
    #[serde(default)]
    pub create_revision: I64,
    #[serde(default)]
    pub mod_revision: I64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RangeRequest {
    pub key: B64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_end: Option<B64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<I64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<I64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub keys_only: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub count_only: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RangeResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub kvs: Vec<Kv>,
    #[serde(default)]
    pub more: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PutRequest {
    pub key: B64,
    pub value: B64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<I64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeleteRangeRequest {
    pub key: B64,
}

/// One operation of a transaction's branch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOp {
    RequestRange(RangeRequest),
    RequestPut(PutRequest),
    RequestDeleteRange(DeleteRangeRequest),
}

/// `key`'s mod revision equals `mod_revision` (0: the key does not exist).
#[derive(Debug, Clone, Serialize)]
pub struct Compare {
    pub key: B64,
    pub target: &'static str,
    pub result: &'static str,
    pub mod_revision: I64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TxnRequest {
    pub compare: Vec<Compare>,
    pub success: Vec<RequestOp>,
    pub failure: Vec<RequestOp>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponseOp {
    #[serde(default)]
    pub response_range: Option<RangeResponse>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TxnResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub succeeded: bool,
    #[serde(default)]
    pub responses: Vec<ResponseOp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WatchCreate {
    pub key: B64,
    pub range_end: B64,
    pub start_revision: I64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WatchRequest {
    pub create_request: WatchCreate,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    /// `PUT` is proto3's default and so left out; `DELETE` is written.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub kv: Kv,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct WatchResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub canceled: bool,
    #[serde(default)]
    pub compact_revision: I64,
    #[serde(default)]
    pub cancel_reason: String,
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One message of a watch stream: a result, or the gateway's error.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WatchMessage {
    #[serde(default)]
    pub result: Option<WatchResponse>,
    #[serde(default)]
    pub error: Option<GatewayError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompactionRequest {
    pub revision: I64,
    pub physical: bool,
}

/// The gateway's error body (`{"error": ..., "code": ..., "message": ...}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GatewayError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub code: i32,
}

impl GatewayError {
    pub fn text(&self) -> &str {
        if self.message.is_empty() {
            &self.error
        } else {
            &self.message
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LeaseGrantRequest {
    #[serde(rename = "TTL")]
    pub ttl: I64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LeaseGrantResponse {
    #[serde(rename = "ID", default)]
    pub id: I64,
    #[serde(rename = "TTL", default)]
    pub ttl: I64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LeaseIdRequest {
    #[serde(rename = "ID")]
    pub id: I64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LeaseKeepAliveMessage {
    #[serde(default)]
    pub result: Option<LeaseKeepAliveResponse>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LeaseKeepAliveResponse {
    #[serde(rename = "TTL", default)]
    pub ttl: I64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto3_json_shapes() {
        let r: RangeResponse = serde_json::from_str(
            r#"{"header":{"revision":"7"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"7","version":"3","value":"YmFy"}],"count":"1"}"#,
        )
        .unwrap();
        assert_eq!(r.header.revision, I64(7));
        assert_eq!(
            (r.kvs[0].key.0.as_slice(), r.kvs[0].value.0.as_slice()),
            (&b"foo"[..], &b"bar"[..])
        );
        assert!(!r.more);
        let deleted: WatchMessage = serde_json::from_str(
            r#"{"result":{"header":{"revision":"3"},"events":[{"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"3"}}]}}"#,
        )
        .unwrap();
        let e = &deleted.result.unwrap().events[0];
        assert_eq!(
            (e.kind.as_deref(), e.kv.mod_revision),
            (Some("DELETE"), I64(3))
        );
        let put = serde_json::to_value(RequestOp::RequestPut(PutRequest {
            key: B64(b"k".to_vec()),
            value: B64(b"v".to_vec()),
            lease: None,
        }))
        .unwrap();
        assert_eq!(
            put,
            serde_json::json!({"request_put": {"key": "aw==", "value": "dg=="}})
        );
    }
}
