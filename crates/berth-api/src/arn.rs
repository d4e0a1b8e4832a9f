//! Amazon Resource Names as AWS shapes them:
//! `arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE`, with ECS's resource forms
//! (`cluster/NAME`, `task/CLUSTER/ID`, `task-definition/FAMILY:REV`,
//! `container-instance/CLUSTER/ID`, `service/CLUSTER/NAME`).

use std::fmt;

/// A parsed ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    /// Everything after the fifth colon, e.g. `task/prod/0123abcd`.
    pub resource: String,
}

/// Why a string is not an ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid ARN (expected arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE)")]
pub struct ArnParseError(pub String);

impl Arn {
    /// An ARN in the `aws` partition.
    pub fn new(service: &str, region: &str, account: &str, resource: impl Into<String>) -> Self {
        Arn {
            partition: "aws".into(),
            service: service.into(),
            region: region.into(),
            account: account.into(),
            resource: resource.into(),
        }
    }

    /// Parses `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
    pub fn parse(s: &str) -> Result<Self, ArnParseError> {
        let mut parts = s.splitn(6, ':');
        let fields: Vec<&str> = parts.by_ref().collect();
        if fields.len() != 6 || fields[0] != "arn" || fields[1].is_empty() || fields[5].is_empty() {
            return Err(ArnParseError(s.to_string()));
        }
        Ok(Arn {
            partition: fields[1].into(),
            service: fields[2].into(),
            region: fields[3].into(),
            account: fields[4].into(),
            resource: fields[5].into(),
        })
    }

    /// The resource type: the part of the resource before the first `/`.
    pub fn resource_type(&self) -> &str {
        self.resource.split('/').next().unwrap_or("")
    }

    /// The resource's path after the type, e.g. `prod/0123` for `task/prod/0123`.
    pub fn resource_path(&self) -> &str {
        self.resource
            .split_once('/')
            .map(|(_, rest)| rest)
            .unwrap_or("")
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_ecs_arns() {
        let a = Arn::new("ecs", "us-east-1", "000000000000", "task/prod/abc123");
        let s = a.to_string();
        assert_eq!(s, "arn:aws:ecs:us-east-1:000000000000:task/prod/abc123");
        let p = Arn::parse(&s).unwrap();
        assert_eq!(p, a);
        assert_eq!(p.resource_type(), "task");
        assert_eq!(p.resource_path(), "prod/abc123");
        let td = Arn::parse("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3").unwrap();
        assert_eq!(td.resource_type(), "task-definition");
        assert_eq!(td.resource_path(), "web:3");
    }

    #[test]
    fn rejects_non_arns() {
        for bad in [
            "",
            "arn:aws:ecs",
            "cluster/x",
            "arn::ecs:r:a:x",
            "arn:aws:ecs:r:a:",
        ] {
            assert!(Arn::parse(bad).is_err(), "{bad} parsed");
        }
    }
}
