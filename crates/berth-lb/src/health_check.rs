//! A target group's health check settings: AWS's defaults per protocol, the members of
//! CreateTargetGroup and ModifyTargetGroup that set them, their validation, and the
//! success-code matcher (`200`, `200,302`, `200-299`).

use serde::{Deserialize, Serialize};

use crate::error::ElbError;
use crate::model::Protocol;
use berth_query::Params;

/// How targets of a group are checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// HTTP or TCP.
    pub protocol: Protocol,
    /// The port checked; `None` is `traffic-port`, the target's own port.
    pub port: Option<u16>,
    /// HTTP checks only.
    pub path: Option<String>,
    pub interval_secs: u32,
    pub timeout_secs: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// HTTP checks only.
    pub matcher: Option<Matcher>,
}

impl HealthCheck {
    /// `HealthCheckPort` as ELBv2 writes it.
    pub fn port_text(&self) -> String {
        self.port
            .map(|p| p.to_string())
            .unwrap_or_else(|| "traffic-port".into())
    }

    /// The settings for a new target group of `group_protocol` given `input`: AWS's
    /// defaults for the protocols, overridden by what was given, then validated.
    pub fn for_new_group(
        group_protocol: Protocol,
        input: &HealthCheckInput,
    ) -> Result<Self, ElbError> {
        let protocol = match input.protocol {
            Some(p) => p,
            None if group_protocol == Protocol::Tcp => Protocol::Tcp,
            None => Protocol::Http,
        };
        let mut check = HealthCheck::defaults(group_protocol, protocol);
        input.apply_to(&mut check, group_protocol)?;
        check.validate(group_protocol)?;
        Ok(check)
    }

    /// These settings changed by `input` (ModifyTargetGroup), validated.
    pub fn modified(
        &self,
        group_protocol: Protocol,
        input: &HealthCheckInput,
    ) -> Result<Self, ElbError> {
        let mut check = self.clone();
        if let Some(protocol) = input.protocol.filter(|p| *p != self.protocol) {
            let defaults = HealthCheck::defaults(group_protocol, protocol);
            check.protocol = protocol;
            check.path = defaults.path;
            check.matcher = defaults.matcher;
        }
        input.apply_to(&mut check, group_protocol)?;
        check.validate(group_protocol)?;
        Ok(check)
    }

    /// AWS's defaults: for HTTP target groups every 30 s, 5 s timeout, 5 to become
    /// healthy, 2 to become unhealthy, `GET /` expecting 200; for TCP target groups
    /// 10 s timeout on TCP checks, 6 s and 200-399 on HTTP checks.
    pub fn defaults(group_protocol: Protocol, protocol: Protocol) -> HealthCheck {
        let http = protocol != Protocol::Tcp;
        let timeout_secs = match (group_protocol, http) {
            (Protocol::Tcp, false) => 10,
            (Protocol::Tcp, true) => 6,
            _ => 5,
        };
        let matcher = match group_protocol {
            Protocol::Tcp => "200-399",
            _ => "200",
        };
        HealthCheck {
            protocol,
            port: None,
            path: http.then(|| "/".to_string()),
            interval_secs: 30,
            timeout_secs,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: http.then(|| Matcher(matcher.into())),
        }
    }

    fn validate(&self, group_protocol: Protocol) -> Result<(), ElbError> {
        let allowed: &[Protocol] = match group_protocol {
            Protocol::Tcp => &[Protocol::Tcp, Protocol::Http, Protocol::Https],
            _ => &[Protocol::Http, Protocol::Https],
        };
        if !allowed.contains(&self.protocol) {
            return Err(ElbError::InvalidConfigurationRequest(format!(
                "Health check protocol '{}' is not supported for target groups with the '{}' \
                 protocol",
                self.protocol, group_protocol
            )));
        }
        if self.protocol == Protocol::Https {
            return Err(ElbError::InvalidConfigurationRequest(
                "Berth does not make HTTPS health checks; use HTTP or TCP".into(),
            ));
        }
        if self.timeout_secs >= self.interval_secs {
            return Err(ElbError::Validation(format!(
                "Health check timeout '{}' must be smaller than the interval '{}'",
                self.timeout_secs, self.interval_secs
            )));
        }
        if self.protocol == Protocol::Tcp {
            if self.path.is_some() {
                return Err(ElbError::Validation(
                    "A health check path cannot be set when the health check protocol is TCP"
                        .into(),
                ));
            }
            if self.matcher.is_some() {
                return Err(ElbError::Validation(
                    "A health check matcher cannot be set when the health check protocol is TCP"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// Health check members of CreateTargetGroup and ModifyTargetGroup, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCheckInput {
    pub protocol: Option<Protocol>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub enabled: Option<bool>,
    pub interval_secs: Option<u32>,
    pub timeout_secs: Option<u32>,
    pub healthy_threshold: Option<u32>,
    pub unhealthy_threshold: Option<u32>,
    pub matcher: Option<String>,
}

impl HealthCheckInput {
    /// Reads the `HealthCheck*`, `*ThresholdCount` and `Matcher` members, with the
    /// model's ranges.
    pub fn parse(p: &Params) -> Result<HealthCheckInput, ElbError> {
        let count = |name: &str| -> Result<Option<u32>, ElbError> {
            Ok(p.int_in(name, 2, 10)?.map(|v| v as u32))
        };
        let matcher = match p.structure("Matcher") {
            None => None,
            Some(m) => {
                if m.string("GrpcCode").is_some() {
                    return Err(ElbError::InvalidConfigurationRequest(
                        "Berth does not make gRPC health checks; give Matcher.HttpCode".into(),
                    ));
                }
                Some(m.required("HttpCode")?)
            }
        };
        Ok(HealthCheckInput {
            protocol: p
                .string("HealthCheckProtocol")
                .map(|v| Protocol::parse(&v, "healthCheckProtocol"))
                .transpose()?,
            port: p.string("HealthCheckPort"),
            path: p.string("HealthCheckPath"),
            enabled: p.bool("HealthCheckEnabled")?,
            interval_secs: p
                .int_in("HealthCheckIntervalSeconds", 5, 300)?
                .map(|v| v as u32),
            timeout_secs: p
                .int_in("HealthCheckTimeoutSeconds", 2, 120)?
                .map(|v| v as u32),
            healthy_threshold: count("HealthyThresholdCount")?,
            unhealthy_threshold: count("UnhealthyThresholdCount")?,
            matcher,
        })
    }

    fn apply_to(&self, check: &mut HealthCheck, group_protocol: Protocol) -> Result<(), ElbError> {
        if let Some(port) = &self.port {
            check.port = parse_port(port)?;
        }
        if let Some(path) = &self.path {
            if !path.starts_with('/') || path.len() > 1024 {
                return Err(ElbError::Validation(format!(
                    "Health check path '{path}' must begin with a '/' character and be at \
                     most 1024 characters long"
                )));
            }
            check.path = Some(path.clone());
        }
        if let Some(text) = &self.matcher {
            let max = if group_protocol == Protocol::Tcp {
                599
            } else {
                499
            };
            check.matcher = Some(Matcher::parse(text, max)?);
        }
        if let Some(v) = self.interval_secs {
            check.interval_secs = v;
        }
        if let Some(v) = self.timeout_secs {
            check.timeout_secs = v;
        }
        if let Some(v) = self.healthy_threshold {
            check.healthy_threshold = v;
        }
        if let Some(v) = self.unhealthy_threshold {
            check.unhealthy_threshold = v;
        }
        Ok(())
    }
}

/// `traffic-port` or a port number.
fn parse_port(text: &str) -> Result<Option<u16>, ElbError> {
    if text == "traffic-port" {
        return Ok(None);
    }
    match text.parse::<u16>() {
        Ok(p) if p >= 1 => Ok(Some(p)),
        _ => Err(ElbError::Validation(format!(
            "Health check port '{text}' must be 'traffic-port' or a port from 1 to 65535"
        ))),
    }
}

/// The HTTP codes a health check accepts, kept as given (`200,202`, `200-299`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher(pub String);

impl Matcher {
    /// Validates codes and ranges within 200..=`max`.
    pub fn parse(text: &str, max: u16) -> Result<Matcher, ElbError> {
        let invalid = || {
            ElbError::Validation(format!(
                "Health check matcher HTTP code '{text}' must be codes from 200 to {max}, \
                 as '200', '200,202' or '200-299'"
            ))
        };
        for part in text.split(',') {
            let (low, high) = parse_range(part).ok_or_else(invalid)?;
            if low < 200 || high > max || low > high {
                return Err(invalid());
            }
        }
        Ok(Matcher(text.to_string()))
    }

    /// Whether a response status passes.
    pub fn accepts(&self, status: u16) -> bool {
        self.0
            .split(',')
            .any(|part| parse_range(part).is_some_and(|(low, high)| (low..=high).contains(&status)))
    }
}

fn parse_range(part: &str) -> Option<(u16, u16)> {
    let part = part.trim();
    match part.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let code = part.parse().ok()?;
            Some((code, code))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(pairs: &[(&str, &str)]) -> Result<HealthCheckInput, ElbError> {
        HealthCheckInput::parse(&Params::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_follow_the_protocols() {
        let http = HealthCheck::for_new_group(Protocol::Http, &input(&[]).unwrap()).unwrap();
        assert_eq!(
            (
                http.protocol,
                http.path.as_deref(),
                http.interval_secs,
                http.timeout_secs
            ),
            (Protocol::Http, Some("/"), 30, 5)
        );
        assert_eq!((http.healthy_threshold, http.unhealthy_threshold), (5, 2));
        assert_eq!(http.matcher, Some(Matcher("200".into())));
        assert_eq!(http.port_text(), "traffic-port");
        let tcp = HealthCheck::for_new_group(Protocol::Tcp, &input(&[]).unwrap()).unwrap();
        assert_eq!(
            (tcp.protocol, tcp.timeout_secs, tcp.path, tcp.matcher),
            (Protocol::Tcp, 10, None, None)
        );
        let tcp_http = HealthCheck::for_new_group(
            Protocol::Tcp,
            &input(&[("HealthCheckProtocol", "HTTP")]).unwrap(),
        )
        .unwrap();
        assert_eq!(tcp_http.timeout_secs, 6);
        assert_eq!(tcp_http.matcher, Some(Matcher("200-399".into())));
    }

    #[test]
    fn given_values_are_validated() {
        assert!(input(&[("HealthCheckIntervalSeconds", "4")]).is_err());
        assert!(input(&[("HealthCheckTimeoutSeconds", "121")]).is_err());
        assert!(input(&[("HealthyThresholdCount", "11")]).is_err());
        assert!(input(&[("UnhealthyThresholdCount", "1")]).is_err());
        let slow = input(&[
            ("HealthCheckIntervalSeconds", "10"),
            ("HealthCheckTimeoutSeconds", "10"),
        ])
        .unwrap();
        let e = HealthCheck::for_new_group(Protocol::Http, &slow).unwrap_err();
        assert!(
            e.message().contains("smaller than the interval"),
            "{}",
            e.message()
        );
        let bad_path = input(&[("HealthCheckPath", "health")]).unwrap();
        assert!(HealthCheck::for_new_group(Protocol::Http, &bad_path).is_err());
        let path_on_tcp = input(&[("HealthCheckPath", "/health")]).unwrap();
        assert!(HealthCheck::for_new_group(Protocol::Tcp, &path_on_tcp).is_err());
        let tcp_on_http = input(&[("HealthCheckProtocol", "TCP")]).unwrap();
        assert_eq!(
            HealthCheck::for_new_group(Protocol::Http, &tcp_on_http)
                .unwrap_err()
                .code(),
            "InvalidConfigurationRequest"
        );
        let port = input(&[("HealthCheckPort", "70000")]).unwrap();
        assert!(HealthCheck::for_new_group(Protocol::Http, &port).is_err());
        let port = input(&[("HealthCheckPort", "8081")]).unwrap();
        assert_eq!(
            HealthCheck::for_new_group(Protocol::Http, &port)
                .unwrap()
                .port,
            Some(8081)
        );
    }

    #[test]
    fn modifying_the_protocol_brings_its_defaults() {
        let tcp = HealthCheck::for_new_group(Protocol::Tcp, &input(&[]).unwrap()).unwrap();
        let http = tcp
            .modified(
                Protocol::Tcp,
                &input(&[
                    ("HealthCheckProtocol", "HTTP"),
                    ("HealthCheckPath", "/ping"),
                ])
                .unwrap(),
            )
            .unwrap();
        assert_eq!(
            (http.path.as_deref(), http.matcher.clone()),
            (Some("/ping"), Some(Matcher("200-399".into())))
        );
        let back = http
            .modified(
                Protocol::Tcp,
                &input(&[("HealthCheckProtocol", "TCP")]).unwrap(),
            )
            .unwrap();
        assert_eq!((back.path, back.matcher), (None, None));
    }

    #[test]
    fn matchers_take_codes_lists_and_ranges() {
        let m = Matcher::parse("200,202-204, 302", 499).unwrap();
        assert!(m.accepts(200) && m.accepts(203) && m.accepts(302));
        assert!(!m.accepts(201) && !m.accepts(404));
        for bad in ["", "abc", "199", "500", "300-200", "200-"] {
            assert!(Matcher::parse(bad, 499).is_err(), "{bad}");
        }
        assert!(Matcher::parse("200-599", 599).is_ok());
    }
}
