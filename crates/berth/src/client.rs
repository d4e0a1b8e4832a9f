//! A signed client of one Berth, from an AWS CLI profile (what `berth up` writes): the
//! endpoint, region, key pair and CA bundle of `[profile NAME]`, and AWS JSON 1.1 calls
//! signed with SigV4. Used by `berth logs`, `berth exec` and `berth token`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use berth_sigv4::{Credentials, SigningParams};
use serde_json::Value;

/// A signed client of one Berth, from an AWS CLI profile.
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    credentials: Credentials,
}

/// Reads `key` of section `[section]` from an INI file's text.
fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == format!("[{section}]");
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

impl Client {
    /// The client of AWS CLI profile `profile` (`~/.aws/config` and `credentials`, or
    /// `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`).
    pub fn from_profile(profile: &str) -> anyhow::Result<Client> {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .context("HOME is not set")?;
        let file = |var: &str, name: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".aws").join(name))
        };
        let (config_path, credentials_path) = (
            file("AWS_CONFIG_FILE", "config"),
            file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        );
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).with_context(|| {
                format!(
                    "cannot read {}: run `berth up` first, which writes the profile",
                    p.display()
                )
            })
        };
        let (config, credentials) = (read(&config_path)?, read(&credentials_path)?);
        let section = format!("profile {profile}");
        let missing = |what: &str, path: &PathBuf| {
            anyhow::anyhow!("profile {profile} has no {what} in {}", path.display())
        };
        // A Berth serving HTTPS with its own CA names it in the profile's ca_bundle.
        let mut http = reqwest::Client::builder();
        if let Some(bundle) = ini_value(&config, &section, "ca_bundle") {
            let pem = std::fs::read(&bundle)
                .with_context(|| format!("cannot read the profile's ca_bundle {bundle}"))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{bundle} holds no PEM certificates"))?
            {
                http = http.add_root_certificate(cert);
            }
        }
        Ok(Client {
            http: http.build().context("cannot make an HTTPS client")?,
            endpoint: ini_value(&config, &section, "endpoint_url")
                .ok_or_else(|| missing("endpoint_url", &config_path))?,
            region: ini_value(&config, &section, "region").unwrap_or_else(|| "us-east-1".into()),
            credentials: Credentials {
                access_key_id: ini_value(&credentials, profile, "aws_access_key_id")
                    .ok_or_else(|| missing("aws_access_key_id", &credentials_path))?,
                secret_access_key: ini_value(&credentials, profile, "aws_secret_access_key")
                    .ok_or_else(|| missing("aws_secret_access_key", &credentials_path))?,
                session_token: None,
            },
        })
    }

    /// The HTTP client, trusting the profile's CA bundle (for exec streams).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The Berth this client calls.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// One JSON 1.1 call, signed for `service`.
    pub async fn call(&self, service: &str, target: &str, body: Value) -> anyhow::Result<Value> {
        let uri = format!("{}/", self.endpoint.trim_end_matches('/'));
        let mut req = http::Request::post(&uri)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .body(serde_json::to_vec(&body)?)?;
        let params = SigningParams {
            credentials: &self.credentials,
            region: &self.region,
            service,
            time: time::OffsetDateTime::now_utc(),
            content_sha256_header: false,
        };
        berth_sigv4::sign_request(&mut req, &params).context("cannot sign the request")?;
        let (parts, body) = req.into_parts();
        let resp = self
            .http
            .post(&uri)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach Berth at {}", self.endpoint))?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "{}: {}",
                value["__type"].as_str().unwrap_or("error"),
                value["message"].as_str().unwrap_or("")
            );
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_values_come_from_their_section() {
        let text = "[default]\nregion = eu-west-1\n[profile berth]\nregion=us-east-1\n\
                    endpoint_url = http://127.0.0.1:7430\n";
        assert_eq!(
            ini_value(text, "profile berth", "region").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            ini_value(text, "profile berth", "endpoint_url").as_deref(),
            Some("http://127.0.0.1:7430")
        );
        assert_eq!(
            ini_value(text, "default", "region").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(ini_value(text, "profile other", "region"), None);
    }
}
