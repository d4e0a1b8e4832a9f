//! The account and region a request acts in, taken from its credential scope. Every
//! resource of every service Berth serves lives in one; each crate lays out its own keys
//! under it.

use crate::arn::Arn;

/// An account and region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Scope {
            account: account.into(),
            region: region.into(),
        }
    }

    /// The account and region an ARN names, when it parses and names both.
    pub fn of_arn(arn: &str) -> Option<Scope> {
        let parsed = Arn::parse(arn).ok()?;
        (!parsed.account.is_empty() && !parsed.region.is_empty())
            .then(|| Scope::new(parsed.account.clone(), parsed.region.clone()))
    }

    /// The ARN of `resource` of `service` in this scope.
    pub fn arn(&self, service: &str, resource: impl Into<String>) -> String {
        Arn::new(service, &self.region, &self.account, resource).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_the_scope() {
        let s = Scope::new("123456789012", "eu-west-2");
        assert_eq!(
            s.arn("ecs", "cluster/prod"),
            "arn:aws:ecs:eu-west-2:123456789012:cluster/prod"
        );
        let task = "arn:aws:ecs:ca-central-1:123456789012:task/prod/0123";
        assert_eq!(
            Scope::of_arn(task),
            Some(Scope::new("123456789012", "ca-central-1"))
        );
        assert_eq!(Scope::of_arn("arn:aws:iam::123456789012:role/r"), None);
        assert_eq!(Scope::of_arn("not an arn"), None);
    }
}
