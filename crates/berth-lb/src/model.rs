//! ELBv2's resources as Berth stores them (as JSON, their
//! [`berth_store::records::Stored`] layout): load balancers, target groups, listeners,
//! rules, target registrations and the health the data plane last reported, plus the
//! model's enums spelled as AWS spells them.

use serde::{Deserialize, Serialize};

use crate::actions::{Action, Condition};
use crate::error::ElbError;
use crate::health_check::HealthCheck;
use crate::health_state::{Reason, TargetHealthState};

/// Defines a string enum of the ELBv2 model with its wire spellings, `as_str` and a
/// parser whose error is AWS's enum constraint message.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( #[doc = concat!("`", $wire, "`")] #[serde(rename = $wire)] $variant, )+
        }

        impl $name {
            /// Every value the model defines.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value as AWS spells it.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire,)+ }
            }

            /// Reads member `member`'s value; anything outside the model's set is a
            /// `ValidationError` listing the set.
            pub fn parse(value: &str, member: &str) -> Result<Self, ElbError> {
                Self::ALL.iter().copied().find(|v| v.as_str() == value).ok_or_else(|| {
                    let set: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    ElbError::constraint(
                        value,
                        member,
                        &format!("Member must satisfy enum value set: [{}]", set.join(", ")),
                    )
                })
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum! {
    /// `LoadBalancerTypeEnum`.
    LoadBalancerType {
        Application = "application",
        Network = "network",
        Gateway = "gateway",
    }
}

impl LoadBalancerType {
    /// The ARN segment: `app`, `net` or `gwy`.
    pub fn arn_segment(self) -> &'static str {
        match self {
            LoadBalancerType::Application => "app",
            LoadBalancerType::Network => "net",
            LoadBalancerType::Gateway => "gwy",
        }
    }

    /// The type an ARN segment names.
    pub fn from_arn_segment(segment: &str) -> Option<LoadBalancerType> {
        LoadBalancerType::ALL
            .iter()
            .copied()
            .find(|t| t.arn_segment() == segment)
    }
}

wire_enum! {
    /// `ProtocolEnum`. Berth serves HTTP and TCP; the rest are refused with
    /// `UnsupportedProtocol`.
    Protocol {
        Http = "HTTP",
        Https = "HTTPS",
        Tcp = "TCP",
        Tls = "TLS",
        Udp = "UDP",
        TcpUdp = "TCP_UDP",
        Geneve = "GENEVE",
        Quic = "QUIC",
        TcpQuic = "TCP_QUIC",
    }
}

impl Protocol {
    /// HTTP or TCP, or `UnsupportedProtocol` saying what Berth serves.
    pub fn supported(self) -> Result<Protocol, ElbError> {
        match self {
            Protocol::Http | Protocol::Tcp => Ok(self),
            other => Err(ElbError::UnsupportedProtocol(format!(
                "Protocol '{other}' is not supported by Berth: listeners and target groups \
                 are HTTP (application load balancers) or TCP (network load balancers)"
            ))),
        }
    }
}

wire_enum! {
    /// `TargetTypeEnum`.
    TargetType {
        Instance = "instance",
        Ip = "ip",
        Lambda = "lambda",
        Alb = "alb",
    }
}

wire_enum! {
    /// `LoadBalancerSchemeEnum`.
    Scheme {
        InternetFacing = "internet-facing",
        Internal = "internal",
    }
}

wire_enum! {
    /// `IpAddressType` of load balancers.
    IpAddressType {
        Ipv4 = "ipv4",
        Dualstack = "dualstack",
        DualstackWithoutPublicIpv4 = "dualstack-without-public-ipv4",
    }
}

/// A tag on a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: Option<String>,
}

/// A load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerRecord {
    pub arn: String,
    pub name: String,
    /// The 16 hex digits ending the ARN.
    pub id: String,
    pub lb_type: LoadBalancerType,
    pub scheme: Scheme,
    pub ip_address_type: IpAddressType,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
    pub tags: Vec<Tag>,
}

impl LoadBalancerRecord {
    /// The protocol its listeners speak and its target groups must use.
    pub fn protocol(&self) -> Protocol {
        match self.lb_type {
            LoadBalancerType::Network => Protocol::Tcp,
            _ => Protocol::Http,
        }
    }
}

/// A target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupRecord {
    pub arn: String,
    pub name: String,
    pub id: String,
    pub protocol: Protocol,
    pub protocol_version: Option<String>,
    pub port: u16,
    pub vpc_id: Option<String>,
    pub target_type: TargetType,
    pub health_check: HealthCheck,
    /// `deregistration_delay.timeout_seconds`.
    pub deregistration_delay_secs: u32,
    pub tags: Vec<Tag>,
}

/// A listener: a port of a load balancer and what it does with what arrives there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerRecord {
    pub arn: String,
    pub id: String,
    pub load_balancer_arn: String,
    pub port: u16,
    pub protocol: Protocol,
    pub default_actions: Vec<Action>,
    /// The id in the ARN of the listener's default rule (DescribeRules lists it).
    pub default_rule_id: String,
}

/// A rule of a listener, other than its default rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRecord {
    pub arn: String,
    pub id: String,
    pub listener_arn: String,
    pub priority: u32,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

/// A target registered in a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// An IP address (`ip` target groups) or an instance id (`instance`).
    pub id: String,
    pub port: u16,
    pub availability_zone: Option<String>,
    pub registered_ms: i64,
    /// A random id of this registration: health reports name it, so a report about an
    /// earlier registration of the same target is never taken for this one.
    pub registration: u64,
    /// Set when the target was deregistered: it drains until then.
    pub draining: Option<Draining>,
}

/// A deregistered target finishing its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draining {
    pub since_ms: i64,
    /// When it leaves the target group.
    pub until_ms: i64,
}

impl TargetRecord {
    /// The key part naming this target within its group.
    pub fn key(&self) -> String {
        target_key(&self.id, self.port)
    }
}

/// `ID:PORT`, the key part naming a target within its group.
pub fn target_key(id: &str, port: u16) -> String {
    format!("{id}:{port}")
}

/// The health the data plane last reported for one registration of a target, written
/// when it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRecord {
    pub state: TargetHealthState,
    pub reason: Option<Reason>,
    pub description: Option<String>,
    pub since_ms: i64,
    /// The registration it is about ([`TargetRecord::registration`]).
    pub registration: u64,
}

berth_store::stored_as_json!(
    LoadBalancerRecord,
    TargetGroupRecord,
    ListenerRecord,
    RuleRecord,
    TargetRecord,
    HealthRecord,
);

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// ISO 8601 with milliseconds, as ELBv2 writes `CreatedTime`.
pub fn iso8601(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

/// 16 random hex digits: the ids ending ELBv2 ARNs.
pub fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_the_model_set() {
        assert_eq!(Protocol::parse("TCP", "protocol").unwrap(), Protocol::Tcp);
        let e = Protocol::parse("tcp", "protocol").unwrap_err();
        assert_eq!(e.code(), "ValidationError");
        assert!(e.message().contains("[HTTP, HTTPS, TCP"), "{}", e.message());
        assert_eq!(
            Protocol::Https.supported().unwrap_err().code(),
            "UnsupportedProtocol"
        );
        assert_eq!(
            LoadBalancerType::from_arn_segment("net"),
            Some(LoadBalancerType::Network)
        );
    }

    #[test]
    fn timestamps_are_iso8601_with_millis() {
        assert_eq!(iso8601(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(new_id().len(), 16);
    }
}
