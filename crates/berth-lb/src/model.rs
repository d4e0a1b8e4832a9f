//! The values of ELBv2's model as AWS spells them: its string enums (load balancer
//! types, protocols, target types, schemes, IP address types) and the macro that
//! defines them, tags, the ids ending ARNs and the timestamps records carry. The
//! resources built from them are in [`crate::resources`].

use serde::{Deserialize, Serialize};

use crate::error::ElbError;
use berth_query::Params;

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

impl Tag {
    /// Reads `Tags` (Key required, Value optional): at most 50, keys unique.
    pub fn parse_list(p: &Params) -> Result<Vec<Tag>, ElbError> {
        let mut tags: Vec<Tag> = Vec::new();
        for t in p.structs("Tags")?.unwrap_or_default() {
            let key = t.required("Key")?;
            let value = t.string("Value");
            if key.is_empty() || key.len() > 128 || value.as_ref().is_some_and(|v| v.len() > 256) {
                return Err(ElbError::Validation(format!(
                    "Tag '{key}': keys are 1 to 128 characters, values at most 256"
                )));
            }
            if tags.iter().any(|seen| seen.key == key) {
                return Err(ElbError::Validation(format!(
                    "Tag key '{key}' is given more than once"
                )));
            }
            tags.push(Tag { key, value });
        }
        if tags.len() > 50 {
            return Err(ElbError::Validation(
                "A resource can have at most 50 tags".into(),
            ));
        }
        Ok(tags)
    }
}

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
