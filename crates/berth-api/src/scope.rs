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
    }
}
