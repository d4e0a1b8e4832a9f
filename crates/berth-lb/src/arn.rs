//! ELBv2's ARNs, built and read back the way AWS shapes them:
//!
//! ```text
//! arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/LBID
//! arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/TGID
//! arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/LBID/LID
//! arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/app/NAME/LBID/LID/RID
//! ```
//!
//! (`net/` for network load balancers.) Every id is 16 hex digits.

use crate::error::ElbError;
use crate::keys::Scope;
use crate::model::LoadBalancerType;

const PREFIX: &str = "arn:aws:elasticloadbalancing:";

/// A load balancer an ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerArn {
    pub scope: Scope,
    pub lb_type: LoadBalancerType,
    pub name: String,
    pub id: String,
}

/// A target group an ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupArn {
    pub scope: Scope,
    pub name: String,
    pub id: String,
}

/// A listener an ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerArn {
    pub load_balancer: LoadBalancerArn,
    pub id: String,
}

/// A rule an ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleArn {
    pub listener: ListenerArn,
    pub id: String,
}

fn base(scope: &Scope) -> String {
    format!("{PREFIX}{}:{}:", scope.region, scope.account)
}

impl LoadBalancerArn {
    /// The ARN text.
    pub fn to_arn(&self) -> String {
        format!("{}loadbalancer/{}", base(&self.scope), self.path())
    }

    /// `app/NAME/LBID`.
    fn path(&self) -> String {
        format!("{}/{}/{}", self.lb_type.arn_segment(), self.name, self.id)
    }

    /// Reads a load balancer ARN.
    pub fn parse(arn: &str) -> Result<LoadBalancerArn, ElbError> {
        let invalid = || ElbError::Validation(format!("'{arn}' is not a valid load balancer ARN"));
        let (scope, resource) = split(arn).ok_or_else(invalid)?;
        let rest = resource.strip_prefix("loadbalancer/").ok_or_else(invalid)?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [kind, name, id] => lb_parts(scope, kind, name, id).ok_or_else(invalid),
            _ => Err(invalid()),
        }
    }
}

impl TargetGroupArn {
    /// The ARN text.
    pub fn to_arn(&self) -> String {
        format!("{}targetgroup/{}/{}", base(&self.scope), self.name, self.id)
    }

    /// Reads a target group ARN.
    pub fn parse(arn: &str) -> Result<TargetGroupArn, ElbError> {
        let invalid = || ElbError::Validation(format!("'{arn}' is not a valid target group ARN"));
        let (scope, resource) = split(arn).ok_or_else(invalid)?;
        let rest = resource.strip_prefix("targetgroup/").ok_or_else(invalid)?;
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            [name, id] if !name.is_empty() && is_id(id) => Ok(TargetGroupArn {
                scope,
                name: name.to_string(),
                id: id.to_string(),
            }),
            _ => Err(invalid()),
        }
    }
}

impl ListenerArn {
    /// The ARN text.
    pub fn to_arn(&self) -> String {
        format!(
            "{}listener/{}/{}",
            base(&self.load_balancer.scope),
            self.load_balancer.path(),
            self.id
        )
    }

    /// Reads a listener ARN.
    pub fn parse(arn: &str) -> Result<ListenerArn, ElbError> {
        let invalid = || ElbError::Validation(format!("'{arn}' is not a valid listener ARN"));
        let (scope, resource) = split(arn).ok_or_else(invalid)?;
        let rest = resource.strip_prefix("listener/").ok_or_else(invalid)?;
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            [kind, name, lb, id] if is_id(id) => Ok(ListenerArn {
                load_balancer: lb_parts(scope, kind, name, lb).ok_or_else(invalid)?,
                id: id.to_string(),
            }),
            _ => Err(invalid()),
        }
    }
}

impl RuleArn {
    /// The ARN text.
    pub fn to_arn(&self) -> String {
        format!(
            "{}listener-rule/{}/{}/{}",
            base(&self.listener.load_balancer.scope),
            self.listener.load_balancer.path(),
            self.listener.id,
            self.id
        )
    }

    /// Reads a rule ARN.
    pub fn parse(arn: &str) -> Result<RuleArn, ElbError> {
        let invalid = || ElbError::Validation(format!("'{arn}' is not a valid rule ARN"));
        let (scope, resource) = split(arn).ok_or_else(invalid)?;
        let rest = resource
            .strip_prefix("listener-rule/")
            .ok_or_else(invalid)?;
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            [kind, name, lb, listener, id] if is_id(listener) && is_id(id) => Ok(RuleArn {
                listener: ListenerArn {
                    load_balancer: lb_parts(scope, kind, name, lb).ok_or_else(invalid)?,
                    id: listener.to_string(),
                },
                id: id.to_string(),
            }),
            _ => Err(invalid()),
        }
    }
}

/// `(scope, resource)` of an ELBv2 ARN.
fn split(arn: &str) -> Option<(Scope, &str)> {
    let rest = arn.strip_prefix(PREFIX)?;
    let mut parts = rest.splitn(3, ':');
    let region = parts.next().filter(|r| !r.is_empty())?;
    let account = parts.next().filter(|a| !a.is_empty())?;
    let resource = parts.next()?;
    Some((
        Scope {
            account: account.to_string(),
            region: region.to_string(),
        },
        resource,
    ))
}

fn lb_parts(scope: Scope, kind: &str, name: &str, id: &str) -> Option<LoadBalancerArn> {
    (!name.is_empty() && is_id(id)).then_some(())?;
    Some(LoadBalancerArn {
        scope,
        lb_type: LoadBalancerType::from_arn_segment(kind)?,
        name: name.to_string(),
        id: id.to_string(),
    })
}

fn is_id(id: &str) -> bool {
    id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            account: "000000000000".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn arns_round_trip() {
        let lb = LoadBalancerArn {
            scope: scope(),
            lb_type: LoadBalancerType::Application,
            name: "web".into(),
            id: "0123456789abcdef".into(),
        };
        let text = lb.to_arn();
        assert_eq!(
            text,
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0123456789abcdef"
        );
        assert_eq!(LoadBalancerArn::parse(&text).unwrap(), lb);
        let listener = ListenerArn {
            load_balancer: lb,
            id: "fedcba9876543210".into(),
        };
        let text = listener.to_arn();
        assert!(
            text.ends_with(":listener/app/web/0123456789abcdef/fedcba9876543210"),
            "{text}"
        );
        assert_eq!(ListenerArn::parse(&text).unwrap(), listener);
        let rule = RuleArn {
            listener,
            id: "00000000000000aa".into(),
        };
        assert_eq!(RuleArn::parse(&rule.to_arn()).unwrap(), rule);
        let tg = TargetGroupArn {
            scope: scope(),
            name: "api".into(),
            id: "1111111111111111".into(),
        };
        assert!(tg
            .to_arn()
            .ends_with(":000000000000:targetgroup/api/1111111111111111"));
        assert_eq!(TargetGroupArn::parse(&tg.to_arn()).unwrap(), tg);
    }

    #[test]
    fn malformed_arns_are_validation_errors() {
        for bad in [
            "",
            "web",
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/api",
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/api/xyz",
            "arn:aws:ecs:us-east-1:000000000000:targetgroup/api/1111111111111111",
        ] {
            let e = TargetGroupArn::parse(bad).unwrap_err();
            assert_eq!(e.code(), "ValidationError", "{bad}");
            assert!(e.message().contains("not a valid target group ARN"));
        }
        assert!(LoadBalancerArn::parse(
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/xyz/web/0123456789abcdef"
        )
        .is_err());
    }
}
