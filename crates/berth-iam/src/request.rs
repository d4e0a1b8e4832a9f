//! What is being asked: who ([`Principal`]), which action on which resource, and the request
//! context ([`RequestContext`]): the condition keys and their values that the server knows
//! about this request (`aws:username`, `aws:PrincipalArn`, `aws:CurrentTime`,
//! `aws:RequestTag/…`, `aws:ResourceTag/…`, `aws:TagKeys`, `iam:PassedToService`,
//! `ecs:cluster`, `aws:SecureTransport`, `aws:SourceIp`, …).
//!
//! Condition key names are case-insensitive, so the context stores them in lowercase.

use std::collections::HashMap;

use crate::pattern::ArnParts;

/// The condition keys of one request and their values (one or more each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    values: HashMap<Box<str>, Vec<String>>,
}

impl RequestContext {
    /// An empty context.
    pub fn new() -> RequestContext {
        RequestContext::default()
    }

    /// Sets `key` to a single value, replacing what it had.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.values
            .insert(key.to_lowercase().into(), vec![value.into()]);
    }

    /// Sets `key` to several values (a multivalued key such as `aws:TagKeys`), replacing what
    /// it had. An empty list is kept: the key is then present with no values, which set
    /// operators treat like a missing key.
    pub fn insert_all<I, V>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.values.insert(
            key.to_lowercase().into(),
            values.into_iter().map(Into::into).collect(),
        );
    }

    /// [`insert`](Self::insert) for building a context in one expression.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> RequestContext {
        self.insert(key, value);
        self
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.values.remove(key.to_lowercase().as_str());
    }

    /// The values of `key` (any case), if the request has it.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        if key.bytes().any(|byte| byte.is_ascii_uppercase()) || !key.is_ascii() {
            self.values_lowercase(&key.to_lowercase())
        } else {
            self.values_lowercase(key)
        }
    }

    /// The values of a key already in lowercase (compiled conditions store them so).
    pub(crate) fn values_lowercase(&self, key: &str) -> Option<&[String]> {
        self.values.get(key).map(Vec::as_slice)
    }

    /// Every key (in lowercase) and its values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.values
            .iter()
            .map(|(key, values)| (&**key, values.as_slice()))
    }
}

/// What kind of caller a [`Principal`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// The account itself (`arn:aws:iam::ACCOUNT:root`).
    Root,
    /// An IAM user.
    User,
    /// A session of an assumed role (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`).
    AssumedRole,
    /// A federated user (`arn:aws:sts::ACCOUNT:federated-user/NAME`).
    FederatedUser,
    /// An AWS service acting on its own behalf, such as `ecs-tasks.amazonaws.com`.
    Service,
    /// An identity provider's user (`Federated` principals: an OIDC or SAML provider).
    WebIdentity,
    /// A caller that did not sign the request.
    Anonymous,
}

/// Who is making a request, as policy `Principal` elements see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    kind: PrincipalKind,
    arn: String,
    account: Option<String>,
    role_arn: Option<String>,
}

/// The account part of an ARN, if it has one.
fn account_of(arn: &str) -> Option<String> {
    ArnParts::split(arn).account().map(str::to_owned)
}

impl Principal {
    /// The root user of `account`.
    pub fn root(account: &str) -> Principal {
        Principal {
            kind: PrincipalKind::Root,
            arn: format!("arn:aws:iam::{account}:root"),
            account: Some(account.to_owned()),
            role_arn: None,
        }
    }

    /// An IAM user, by ARN (`arn:aws:iam::ACCOUNT:user/PATH/NAME`).
    pub fn user(arn: &str) -> Principal {
        Principal {
            kind: PrincipalKind::User,
            arn: arn.to_owned(),
            account: account_of(arn),
            role_arn: None,
        }
    }

    /// A role session: its session ARN (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`) and
    /// the role's own ARN (`arn:aws:iam::ACCOUNT:role/PATH/NAME`), which is what policies name.
    pub fn assumed_role(session_arn: &str, role_arn: &str) -> Principal {
        Principal {
            kind: PrincipalKind::AssumedRole,
            arn: session_arn.to_owned(),
            account: account_of(session_arn).or_else(|| account_of(role_arn)),
            role_arn: Some(role_arn.to_owned()),
        }
    }

    /// A federated user session (`arn:aws:sts::ACCOUNT:federated-user/NAME`).
    pub fn federated_user(arn: &str) -> Principal {
        Principal {
            kind: PrincipalKind::FederatedUser,
            arn: arn.to_owned(),
            account: account_of(arn),
            role_arn: None,
        }
    }

    /// An AWS service principal such as `ecs-tasks.amazonaws.com`.
    pub fn service(name: &str) -> Principal {
        Principal {
            kind: PrincipalKind::Service,
            arn: name.to_owned(),
            account: None,
            role_arn: None,
        }
    }

    /// A user of an identity provider, named as `Federated` principals name it (an
    /// `oidc-provider`/`saml-provider` ARN or a provider such as `accounts.google.com`).
    pub fn web_identity(provider: &str) -> Principal {
        Principal {
            kind: PrincipalKind::WebIdentity,
            arn: provider.to_owned(),
            account: account_of(provider),
            role_arn: None,
        }
    }

    /// A caller that did not sign its request.
    pub fn anonymous() -> Principal {
        Principal {
            kind: PrincipalKind::Anonymous,
            arn: "anonymous".to_owned(),
            account: None,
            role_arn: None,
        }
    }

    /// What kind of caller this is.
    pub fn kind(&self) -> PrincipalKind {
        self.kind
    }

    /// The caller's ARN (the session ARN for a role session; the service name for a service).
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The caller's account, if it belongs to one.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// For a role session, the role's ARN.
    pub fn role_arn(&self) -> Option<&str> {
        self.role_arn.as_deref()
    }
}

/// One request to authorize. Borrows everything; build one per request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    principal: &'a Principal,
    action: &'a str,
    resource: ArnParts<'a>,
    resource_account: Option<&'a str>,
    context: &'a RequestContext,
}

impl<'a> Request<'a> {
    /// `principal` asks to perform `action` (`service:Operation`) on `resource` (an ARN, or
    /// `*` for actions that have no resource). The resource's owner is taken from the ARN's
    /// account part; see [`with_resource_account`](Self::with_resource_account).
    pub fn new(
        principal: &'a Principal,
        action: &'a str,
        resource: &'a str,
        context: &'a RequestContext,
    ) -> Request<'a> {
        let resource = ArnParts::split(resource);
        Request {
            principal,
            action,
            resource,
            resource_account: resource.account(),
            context,
        }
    }

    /// Names the account that owns the resource, for ARNs without one (or to override it).
    /// A resource in another account than the caller's needs an Allow from both sides.
    pub fn with_resource_account(mut self, account: &'a str) -> Request<'a> {
        self.resource_account = Some(account);
        self
    }

    /// The caller.
    pub fn principal(&self) -> &'a Principal {
        self.principal
    }

    /// The action, as given.
    pub fn action(&self) -> &'a str {
        self.action
    }

    /// The resource, as given.
    pub fn resource(&self) -> &'a str {
        self.resource.full
    }

    pub(crate) fn resource_parts(&self) -> &ArnParts<'a> {
        &self.resource
    }

    /// The account that owns the resource, when known.
    pub fn resource_account(&self) -> Option<&'a str> {
        self.resource_account
    }

    /// The condition keys of the request.
    pub fn context(&self) -> &'a RequestContext {
        self.context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keys_are_case_insensitive() {
        let mut context = RequestContext::new();
        context.insert("aws:RequestTag/Env", "prod");
        assert_eq!(
            context.get("AWS:requesttag/env"),
            Some(&["prod".to_owned()][..])
        );
        assert_eq!(
            context.values_lowercase("aws:requesttag/env"),
            Some(&["prod".to_owned()][..])
        );
        context.remove("AWS:REQUESTTAG/ENV");
        assert_eq!(context.get("aws:RequestTag/Env"), None);
    }

    #[test]
    fn principals_know_their_account() {
        assert_eq!(
            Principal::user("arn:aws:iam::123456789012:user/alice").account(),
            Some("123456789012")
        );
        let session = Principal::assumed_role(
            "arn:aws:sts::123456789012:assumed-role/deploy/ci",
            "arn:aws:iam::123456789012:role/ops/deploy",
        );
        assert_eq!(session.account(), Some("123456789012"));
        assert_eq!(
            session.role_arn(),
            Some("arn:aws:iam::123456789012:role/ops/deploy")
        );
        assert_eq!(
            Principal::root("111122223333").arn(),
            "arn:aws:iam::111122223333:root"
        );
        assert_eq!(
            Principal::service("ecs-tasks.amazonaws.com").account(),
            None
        );
    }

    #[test]
    fn requests_take_the_owner_from_the_resource_arn() {
        let alice = Principal::user("arn:aws:iam::123456789012:user/alice");
        let context = RequestContext::new();
        let request = Request::new(
            &alice,
            "ecr:BatchGetImage",
            "arn:aws:ecr:us-east-1:444455556666:repository/web",
            &context,
        );
        assert_eq!(request.resource_account(), Some("444455556666"));
        let star = Request::new(&alice, "ecs:ListClusters", "*", &context);
        assert_eq!(star.resource_account(), None);
        assert_eq!(
            star.with_resource_account("1").resource_account(),
            Some("1")
        );
    }
}
