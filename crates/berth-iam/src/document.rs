//! Policy documents: parsing, validation in IAM's order with IAM's messages, and compilation
//! of every pattern so evaluation only matches.
//!
//! Three kinds of document ([`PolicyKind`]):
//!
//! * identity policies (attached to users, groups, roles): no `Principal`, `Resource` required;
//! * resource policies (attached to a resource, e.g. an ECR repository): `Principal` required,
//!   `Resource` optional — without it a statement covers the resource the policy is attached
//!   to, the way ECR repository policies are written;
//! * role trust policies: `Principal` required, `Resource` prohibited (IAM answers
//!   "Has prohibited field Resource").
//!
//! IAM checks, in this order (the order moto reconstructed from AWS's answers): syntax (JSON,
//! elements, value types, `Version`, `Effect`, operators), then whether a principal is allowed
//! or required, then "legacy parsing" (`Effect` case, date values, resource shape), then
//! unique `Sid`s, then that every statement has actions, then resources, then resource ARN
//! format, then action prefixes, then principal values. The first failure is reported.

use serde_json::{Map, Value};

use crate::condition::{Condition, OperatorName};
use crate::date::parse_epoch_millis;
use crate::error::MalformedPolicy;
use crate::pattern::{ArnGlob, ArnParts, Case, Glob};
use crate::request::{Principal, PrincipalKind, RequestContext};
use crate::variables::Template;

/// What a document is attached to, which decides the elements it must and must not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Attached to a user, group or role (managed or inline).
    Identity,
    /// Attached to a resource, naming who may use it.
    Resource,
    /// A role's trust policy (`AssumeRolePolicyDocument`).
    Trust,
}

/// The policy language version (`Version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyVersion {
    /// `2012-10-17`, the current version; policy variables work only in it.
    Version2012,
    /// `2008-10-17`, the original version; `${…}` is plain text.
    Version2008,
}

impl PolicyVersion {
    /// The version as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyVersion::Version2012 => "2012-10-17",
            PolicyVersion::Version2008 => "2008-10-17",
        }
    }
}

/// Whether a statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `"Effect": "Allow"`
    Allow,
    /// `"Effect": "Deny"`
    Deny,
}

impl Effect {
    /// `Allow` or `Deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// A parsed, validated and compiled policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    kind: PolicyKind,
    version: Option<PolicyVersion>,
    id: Option<String>,
    statements: Vec<Statement>,
}

/// A list element (`Action`, `Resource`, a principal type) remembers whether it was written
/// as a single string or as an array, so the document re-serializes as written.
#[derive(Debug, Clone, PartialEq)]
struct Written {
    values: Vec<String>,
    as_list: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Actions {
    negated: bool,
    written: Written,
    patterns: Vec<Glob>,
}

#[derive(Debug, Clone, PartialEq)]
enum ResourcePattern {
    Static(ArnGlob),
    Dynamic(Template),
}

#[derive(Debug, Clone, PartialEq)]
struct Resources {
    negated: bool,
    written: Written,
    patterns: Vec<ResourcePattern>,
}

/// One principal named by a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PrincipalEntry {
    Everyone,
    Account(String),
    Arn(String),
    Service(String),
    Federated(String),
    CanonicalUser,
}

#[derive(Debug, Clone, PartialEq)]
struct Principals {
    negated: bool,
    /// `"*"` written as a bare string, or the object's (type, values) pairs.
    written: Option<Vec<(String, Written)>>,
    entries: Vec<PrincipalEntry>,
}

/// How well a statement's principal element matches a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrincipalMatch {
    /// Not named.
    None,
    /// Named only through its account (`arn:aws:iam::ACCOUNT:root` or the bare account ID):
    /// the account delegates, so a non-root caller also needs its own identity permission.
    Account,
    /// Named itself, or `*`.
    Direct,
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    actions: Actions,
    resources: Option<Resources>,
    principals: Option<Principals>,
    conditions: Vec<Condition>,
}

const TOP_LEVEL_ELEMENTS: [&str; 3] = ["Version", "Id", "Statement"];
const STATEMENT_ELEMENTS: [&str; 9] = [
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
];

impl Policy {
    /// Parses and validates an identity policy (managed or inline).
    pub fn parse_identity(text: &str) -> Result<Policy, MalformedPolicy> {
        Policy::parse(text, PolicyKind::Identity)
    }

    /// Parses and validates a resource policy.
    pub fn parse_resource(text: &str) -> Result<Policy, MalformedPolicy> {
        Policy::parse(text, PolicyKind::Resource)
    }

    /// Parses and validates a role trust policy.
    pub fn parse_trust(text: &str) -> Result<Policy, MalformedPolicy> {
        Policy::parse(text, PolicyKind::Trust)
    }

    /// Parses and validates a document of the given kind. Never panics, whatever the input.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, MalformedPolicy> {
        let value: Value = serde_json::from_str(text).map_err(|_| MalformedPolicy::Syntax)?;
        let document = Document::check_syntax(&value)?;
        document.check_principal_presence(kind)?;
        document.check_legacy_parsing()?;
        document.check_unique_sids()?;
        document.check_actions_present()?;
        document.check_resources_present(kind)?;
        document.check_resource_format()?;
        document.check_action_vendors()?;
        document.check_principal_values()?;
        document.compile(kind)
    }

    /// Fails with "Policy document must be version 2012-10-17 or greater." unless the
    /// document says `"Version": "2012-10-17"`; IAM requires it of managed policies
    /// (`CreatePolicy`, `CreatePolicyVersion`) but not of inline ones.
    pub fn require_current_version(&self) -> Result<(), MalformedPolicy> {
        match self.version {
            Some(PolicyVersion::Version2012) => Ok(()),
            _ => Err(MalformedPolicy::VersionTooOld),
        }
    }

    /// What the document was parsed as.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The `Version`, if the document has one.
    pub fn version(&self) -> Option<PolicyVersion> {
        self.version
    }

    /// The `Id`, if the document has one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The document as JSON, rebuilt from what was parsed: the same elements and values
    /// (condition numbers and booleans become strings), without the original whitespace.
    pub fn to_json(&self) -> String {
        let mut top = Map::new();
        if let Some(version) = self.version {
            top.insert("Version".into(), Value::String(version.as_str().into()));
        }
        if let Some(id) = &self.id {
            top.insert("Id".into(), Value::String(id.clone()));
        }
        top.insert(
            "Statement".into(),
            Value::Array(self.statements.iter().map(Statement::to_json).collect()),
        );
        Value::Object(top).to_string()
    }
}

impl Statement {
    /// The `Sid`, if any.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// Allow or Deny.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Whether `action` is covered by `Action` (or not excluded by `NotAction`). Action names
    /// match without regard to case.
    pub(crate) fn matches_action(&self, action: &str) -> bool {
        let listed = self
            .actions
            .patterns
            .iter()
            .any(|pattern| pattern.matches(action, Case::AsciiInsensitive));
        listed != self.actions.negated
    }

    /// Whether the resource is covered by `Resource` (or not excluded by `NotResource`); a
    /// statement without either covers every resource.
    pub(crate) fn matches_resource(
        &self,
        resource: &ArnParts<'_>,
        context: &RequestContext,
    ) -> bool {
        let Some(resources) = &self.resources else {
            return true;
        };
        let listed = resources.patterns.iter().any(|pattern| match pattern {
            ResourcePattern::Static(glob) => glob.matches(resource),
            ResourcePattern::Dynamic(template) => template
                .resolve_pieces(context)
                .is_some_and(|pieces| ArnGlob::from_pieces(pieces).matches(resource)),
        });
        listed != resources.negated
    }

    /// Whether every condition holds.
    pub(crate) fn conditions_hold(&self, context: &RequestContext) -> bool {
        self.conditions
            .iter()
            .all(|condition| condition.is_satisfied(context))
    }

    /// How the statement's `Principal`/`NotPrincipal` matches `principal` (identity policies
    /// have neither and match directly).
    pub(crate) fn match_principal(&self, principal: &Principal) -> PrincipalMatch {
        let Some(principals) = &self.principals else {
            return PrincipalMatch::Direct;
        };
        let best = principals
            .entries
            .iter()
            .map(|entry| entry.matches(principal))
            .max()
            .unwrap_or(PrincipalMatch::None);
        if !principals.negated {
            best
        } else if best == PrincipalMatch::None {
            PrincipalMatch::Direct
        } else {
            PrincipalMatch::None
        }
    }

    fn to_json(&self) -> Value {
        let mut object = Map::new();
        if let Some(sid) = &self.sid {
            object.insert("Sid".into(), Value::String(sid.clone()));
        }
        object.insert("Effect".into(), Value::String(self.effect.as_str().into()));
        let action_key = if self.actions.negated {
            "NotAction"
        } else {
            "Action"
        };
        object.insert(action_key.into(), self.actions.written.to_json());
        if let Some(resources) = &self.resources {
            let key = if resources.negated {
                "NotResource"
            } else {
                "Resource"
            };
            object.insert(key.into(), resources.written.to_json());
        }
        if let Some(principals) = &self.principals {
            let key = if principals.negated {
                "NotPrincipal"
            } else {
                "Principal"
            };
            let value = match &principals.written {
                None => Value::String("*".into()),
                Some(types) => Value::Object(
                    types
                        .iter()
                        .map(|(kind, written)| (kind.clone(), written.to_json()))
                        .collect(),
                ),
            };
            object.insert(key.into(), value);
        }
        if !self.conditions.is_empty() {
            let mut operators = Map::new();
            for condition in &self.conditions {
                let block = operators
                    .entry(condition.operator_text().to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(block) = block {
                    block.insert(
                        condition.key_text().to_owned(),
                        Value::Array(
                            condition
                                .raw_values()
                                .iter()
                                .map(|value| Value::String(value.clone()))
                                .collect(),
                        ),
                    );
                }
            }
            object.insert("Condition".into(), Value::Object(operators));
        }
        Value::Object(object)
    }
}

impl Written {
    fn to_json(&self) -> Value {
        match (self.as_list, self.values.as_slice()) {
            (false, [single]) => Value::String(single.clone()),
            _ => Value::Array(self.values.iter().cloned().map(Value::String).collect()),
        }
    }
}

impl PrincipalEntry {
    fn matches(&self, principal: &Principal) -> PrincipalMatch {
        let named = match self {
            PrincipalEntry::Everyone => true,
            PrincipalEntry::Account(account) => {
                if principal.account() != Some(account.as_str()) {
                    return PrincipalMatch::None;
                }
                if principal.kind() == PrincipalKind::Root {
                    return PrincipalMatch::Direct;
                }
                return PrincipalMatch::Account;
            }
            PrincipalEntry::Arn(arn) => {
                principal.arn() == arn || principal.role_arn() == Some(arn.as_str())
            }
            PrincipalEntry::Service(name) => {
                principal.kind() == PrincipalKind::Service
                    && principal.arn().eq_ignore_ascii_case(name)
            }
            PrincipalEntry::Federated(provider) => {
                principal.kind() == PrincipalKind::WebIdentity && principal.arn() == provider
            }
            PrincipalEntry::CanonicalUser => false,
        };
        if named {
            PrincipalMatch::Direct
        } else {
            PrincipalMatch::None
        }
    }
}

/// A document that passed the syntax check, kept as JSON for the later checks.
struct Document<'a> {
    version: Option<PolicyVersion>,
    id: Option<&'a str>,
    statements: Vec<&'a Map<String, Value>>,
}

/// A string or an array of strings; anything else is a syntax error.
fn string_list(value: &Value) -> Result<Written, MalformedPolicy> {
    match value {
        Value::String(single) => Ok(Written {
            values: vec![single.clone()],
            as_list: false,
        }),
        Value::Array(items) => Ok(Written {
            values: items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or(MalformedPolicy::Syntax)
                })
                .collect::<Result<_, _>>()?,
            as_list: true,
        }),
        _ => Err(MalformedPolicy::Syntax),
    }
}

/// A condition value: a string, number or boolean, or an array of them.
fn condition_values(value: &Value) -> Result<Vec<String>, MalformedPolicy> {
    fn scalar(value: &Value) -> Result<String, MalformedPolicy> {
        match value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            Value::Bool(flag) => Ok(flag.to_string()),
            _ => Err(MalformedPolicy::Syntax),
        }
    }
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// Reads one `AWS` principal value.
fn aws_principal(value: &str) -> Option<PrincipalEntry> {
    if value == "*" {
        return Some(PrincipalEntry::Everyone);
    }
    if is_account_id(value) {
        return Some(PrincipalEntry::Account(value.to_owned()));
    }
    if value.contains(['*', '?']) {
        return None;
    }
    let parts = ArnParts::split(value).parts?;
    let [_, partition, service, region, account, resource] = parts;
    if partition.is_empty() || !region.is_empty() || !is_account_id(account) {
        return None;
    }
    let resource_type = resource.split('/').next().unwrap_or("");
    let has_name = resource
        .split_once('/')
        .is_some_and(|(_, name)| !name.is_empty());
    match (service, resource_type) {
        ("iam", "root") if resource == "root" => Some(PrincipalEntry::Account(account.to_owned())),
        ("iam", "user" | "role") if has_name => Some(PrincipalEntry::Arn(value.to_owned())),
        ("sts", "assumed-role" | "federated-user") if has_name => {
            Some(PrincipalEntry::Arn(value.to_owned()))
        }
        _ => None,
    }
}

/// Reads one principal value of the given type; `None` if IAM would call it invalid.
fn principal_entry(kind: &str, value: &str) -> Option<PrincipalEntry> {
    match kind {
        "AWS" => aws_principal(value),
        "Service" => {
            let valid = value == "*"
                || (value.contains('.')
                    && !value.contains(char::is_whitespace)
                    && !value.contains(':'));
            valid.then(|| {
                if value == "*" {
                    PrincipalEntry::Everyone
                } else {
                    PrincipalEntry::Service(value.to_owned())
                }
            })
        }
        "Federated" => {
            (!value.trim().is_empty()).then(|| PrincipalEntry::Federated(value.to_owned()))
        }
        "CanonicalUser" => (!value.trim().is_empty()).then_some(PrincipalEntry::CanonicalUser),
        _ => None,
    }
}

impl<'a> Document<'a> {
    fn check_syntax(value: &'a Value) -> Result<Document<'a>, MalformedPolicy> {
        let Value::Object(top) = value else {
            return Err(MalformedPolicy::Syntax);
        };
        if top
            .keys()
            .any(|key| !TOP_LEVEL_ELEMENTS.contains(&key.as_str()))
        {
            return Err(MalformedPolicy::Syntax);
        }
        let version = match top.get("Version") {
            None => None,
            Some(Value::String(text)) if text == "2012-10-17" => Some(PolicyVersion::Version2012),
            Some(Value::String(text)) if text == "2008-10-17" => Some(PolicyVersion::Version2008),
            Some(_) => return Err(MalformedPolicy::Syntax),
        };
        let id = match top.get("Id") {
            None => None,
            Some(Value::String(text)) => Some(text.as_str()),
            Some(_) => return Err(MalformedPolicy::Syntax),
        };
        let statements: Vec<&Map<String, Value>> = match top.get("Statement") {
            Some(Value::Object(single)) => vec![single],
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|item| item.as_object().ok_or(MalformedPolicy::Syntax))
                .collect::<Result<_, _>>()?,
            _ => return Err(MalformedPolicy::Syntax),
        };
        for statement in &statements {
            check_statement_syntax(statement)?;
        }
        Ok(Document {
            version,
            id,
            statements,
        })
    }

    fn check_principal_presence(&self, kind: PolicyKind) -> Result<(), MalformedPolicy> {
        for statement in &self.statements {
            let has_principal =
                statement.contains_key("Principal") || statement.contains_key("NotPrincipal");
            match kind {
                PolicyKind::Identity if has_principal => {
                    return Err(MalformedPolicy::PrincipalNotAllowed)
                }
                PolicyKind::Resource | PolicyKind::Trust if !has_principal => {
                    return Err(MalformedPolicy::MissingPrincipal)
                }
                _ => {}
            }
            if kind == PolicyKind::Trust {
                for field in ["Resource", "NotResource"] {
                    if statement.contains_key(field) {
                        return Err(MalformedPolicy::ProhibitedField(field));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_legacy_parsing(&self) -> Result<(), MalformedPolicy> {
        for statement in &self.statements {
            let effect = statement.get("Effect").and_then(Value::as_str);
            if !matches!(effect, Some("Allow" | "Deny")) {
                return Err(MalformedPolicy::LegacyParsing);
            }
            if let Some(Value::Object(operators)) = statement.get("Condition") {
                for (operator, block) in operators {
                    let is_date = OperatorName::parse(operator).is_some_and(|name| name.is_date());
                    let Value::Object(block) = block else {
                        continue;
                    };
                    if !is_date {
                        continue;
                    }
                    for values in block.values() {
                        for value in condition_values(values)? {
                            if parse_epoch_millis(&value).is_none() {
                                return Err(MalformedPolicy::LegacyParsing);
                            }
                        }
                    }
                }
            }
        }
        // Resource shape, checked only while every resource so far looks like an ARN (a
        // resource that does not is reported later, with its own message).
        for resource in self.all_strings(&["Resource", "NotResource"]) {
            if resource == "*" {
                continue;
            }
            if !resource.contains(':') {
                break;
            }
            let colons = resource.matches(':').count();
            let service = resource.split(':').nth(2).unwrap_or("");
            if (colons < 5 && resource.contains("::")) || service.is_empty() {
                return Err(MalformedPolicy::LegacyParsing);
            }
        }
        Ok(())
    }

    fn check_unique_sids(&self) -> Result<(), MalformedPolicy> {
        let mut seen: Vec<&str> = Vec::new();
        for statement in &self.statements {
            if let Some(sid) = statement.get("Sid").and_then(Value::as_str) {
                if sid.is_empty() {
                    continue;
                }
                if seen.contains(&sid) {
                    return Err(MalformedPolicy::DuplicateSid);
                }
                seen.push(sid);
            }
        }
        Ok(())
    }

    fn check_actions_present(&self) -> Result<(), MalformedPolicy> {
        for statement in &self.statements {
            if !has_non_empty(statement, "Action") && !has_non_empty(statement, "NotAction") {
                return Err(MalformedPolicy::MissingActions);
            }
        }
        Ok(())
    }

    fn check_resources_present(&self, kind: PolicyKind) -> Result<(), MalformedPolicy> {
        for statement in &self.statements {
            let present =
                has_non_empty(statement, "Resource") || has_non_empty(statement, "NotResource");
            let written =
                statement.contains_key("Resource") || statement.contains_key("NotResource");
            let required = kind == PolicyKind::Identity;
            if !present && (required || written) {
                return Err(MalformedPolicy::MissingResources);
            }
        }
        Ok(())
    }

    fn check_resource_format(&self) -> Result<(), MalformedPolicy> {
        for resource in self.all_strings(&["Resource", "NotResource"]) {
            if resource != "*" && !resource.contains(':') {
                return Err(MalformedPolicy::ResourceNotArn(resource.to_owned()));
            }
        }
        Ok(())
    }

    fn check_action_vendors(&self) -> Result<(), MalformedPolicy> {
        for action in self.all_strings(&["Action", "NotAction"]) {
            if action == "*" {
                continue;
            }
            let mut parts = action.split(':');
            let vendor = parts.next().unwrap_or("");
            match (parts.next(), parts.next()) {
                (None, _) => return Err(MalformedPolicy::ActionWithoutVendor),
                (Some(_), Some(_)) => return Err(MalformedPolicy::ActionWithTooManyColons),
                (Some(_), None) => {}
            }
            let valid_vendor = vendor == "*"
                || vendor
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.');
            if !valid_vendor {
                return Err(MalformedPolicy::InvalidVendor(vendor.to_owned()));
            }
        }
        Ok(())
    }

    fn check_principal_values(&self) -> Result<(), MalformedPolicy> {
        for statement in &self.statements {
            for key in ["Principal", "NotPrincipal"] {
                let Some(Value::Object(types)) = statement.get(key) else {
                    continue;
                };
                for (kind, values) in types {
                    for value in string_list(values)?.values {
                        if principal_entry(kind, &value).is_none() {
                            return Err(MalformedPolicy::InvalidPrincipal {
                                kind: kind.clone(),
                                value,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Every string under the given statement elements, in document order.
    fn all_strings<'s>(&'s self, keys: &'s [&'s str]) -> impl Iterator<Item = &'a str> + 's {
        self.statements.iter().flat_map(move |statement| {
            keys.iter().flat_map(move |key| {
                let values: Vec<&'a str> = match statement.get(*key) {
                    Some(Value::String(single)) => vec![single.as_str()],
                    Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                values
            })
        })
    }

    fn compile(self, kind: PolicyKind) -> Result<Policy, MalformedPolicy> {
        let variables = self.version == Some(PolicyVersion::Version2012);
        let statements = self
            .statements
            .iter()
            .map(|statement| compile_statement(statement, variables))
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            kind,
            version: self.version,
            id: self.id.map(str::to_owned),
            statements,
        })
    }
}

/// Whether `key` is present with at least one value.
fn has_non_empty(statement: &Map<String, Value>, key: &str) -> bool {
    match statement.get(key) {
        Some(Value::String(_)) => true,
        Some(Value::Array(items)) => !items.is_empty(),
        _ => false,
    }
}

fn check_statement_syntax(statement: &Map<String, Value>) -> Result<(), MalformedPolicy> {
    if statement
        .keys()
        .any(|key| !STATEMENT_ELEMENTS.contains(&key.as_str()))
    {
        return Err(MalformedPolicy::Syntax);
    }
    for (one, other) in [
        ("Action", "NotAction"),
        ("Resource", "NotResource"),
        ("Principal", "NotPrincipal"),
    ] {
        if statement.contains_key(one) && statement.contains_key(other) {
            return Err(MalformedPolicy::Syntax);
        }
    }
    match statement.get("Effect") {
        Some(Value::String(effect))
            if effect.eq_ignore_ascii_case("Allow") || effect.eq_ignore_ascii_case("Deny") => {}
        _ => return Err(MalformedPolicy::Syntax),
    }
    if let Some(sid) = statement.get("Sid") {
        if !sid.is_string() {
            return Err(MalformedPolicy::Syntax);
        }
    }
    for key in ["Action", "NotAction", "Resource", "NotResource"] {
        if let Some(value) = statement.get(key) {
            string_list(value)?;
        }
    }
    for key in ["Principal", "NotPrincipal"] {
        match statement.get(key) {
            None => {}
            Some(Value::String(star)) if star == "*" => {}
            Some(Value::Object(types)) if !types.is_empty() => {
                for values in types.values() {
                    if string_list(values)?.values.is_empty() {
                        return Err(MalformedPolicy::Syntax);
                    }
                }
            }
            Some(_) => return Err(MalformedPolicy::Syntax),
        }
    }
    if let Some(condition) = statement.get("Condition") {
        let Value::Object(operators) = condition else {
            return Err(MalformedPolicy::Syntax);
        };
        for (operator, block) in operators {
            let Value::Object(block) = block else {
                return Err(MalformedPolicy::Syntax);
            };
            for values in block.values() {
                condition_values(values)?;
            }
            if OperatorName::parse(operator).is_none() && !block.is_empty() {
                return Err(MalformedPolicy::Syntax);
            }
        }
    }
    Ok(())
}

fn compile_statement(
    statement: &Map<String, Value>,
    variables: bool,
) -> Result<Statement, MalformedPolicy> {
    let effect = match statement.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(MalformedPolicy::LegacyParsing),
    };
    let sid = statement
        .get("Sid")
        .and_then(Value::as_str)
        .map(str::to_owned);

    let (action_value, actions_negated) = match statement.get("Action") {
        Some(value) => (value, false),
        None => (
            statement
                .get("NotAction")
                .ok_or(MalformedPolicy::MissingActions)?,
            true,
        ),
    };
    let written = string_list(action_value)?;
    let actions = Actions {
        negated: actions_negated,
        patterns: written
            .values
            .iter()
            .map(|action| Glob::new(action))
            .collect(),
        written,
    };

    let resource_value = match (statement.get("Resource"), statement.get("NotResource")) {
        (Some(value), _) => Some((value, false)),
        (None, Some(value)) => Some((value, true)),
        (None, None) => None,
    };
    let resources = match resource_value {
        None => None,
        Some((value, negated)) => {
            let written = string_list(value)?;
            let patterns = written
                .values
                .iter()
                .map(|resource| match Template::parse(resource, variables) {
                    Some(template) if template.needs_request() => {
                        ResourcePattern::Dynamic(template)
                    }
                    Some(template) => ResourcePattern::Static(ArnGlob::from_pieces(
                        template
                            .resolve_pieces(&RequestContext::new())
                            .unwrap_or_default(),
                    )),
                    None => ResourcePattern::Static(ArnGlob::new(resource)),
                })
                .collect();
            Some(Resources {
                negated,
                written,
                patterns,
            })
        }
    };

    let principal_value = match (statement.get("Principal"), statement.get("NotPrincipal")) {
        (Some(value), _) => Some((value, false)),
        (None, Some(value)) => Some((value, true)),
        (None, None) => None,
    };
    let principals = match principal_value {
        None => None,
        Some((Value::Object(types), negated)) => {
            let mut written = Vec::new();
            let mut entries = Vec::new();
            for (kind, values) in types {
                let values = string_list(values)?;
                for value in &values.values {
                    entries.push(principal_entry(kind, value).ok_or_else(|| {
                        MalformedPolicy::InvalidPrincipal {
                            kind: kind.clone(),
                            value: value.clone(),
                        }
                    })?);
                }
                written.push((kind.clone(), values));
            }
            Some(Principals {
                negated,
                written: Some(written),
                entries,
            })
        }
        Some((_, negated)) => Some(Principals {
            negated,
            written: None,
            entries: vec![PrincipalEntry::Everyone],
        }),
    };

    let mut conditions = Vec::new();
    if let Some(Value::Object(operators)) = statement.get("Condition") {
        for (operator_text, block) in operators {
            let Value::Object(block) = block else {
                continue;
            };
            let Some(name) = OperatorName::parse(operator_text) else {
                continue; // an unknown operator with an empty block: nothing to test
            };
            for (key, values) in block {
                let values = condition_values(values)?;
                conditions.push(
                    Condition::compile(operator_text, name, key, values, variables)
                        .map_err(|_| MalformedPolicy::LegacyParsing)?,
                );
            }
        }
    }

    Ok(Statement {
        sid,
        effect,
        actions,
        resources,
        principals,
        conditions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity_error(text: &str) -> MalformedPolicy {
        Policy::parse_identity(text).expect_err("should be refused")
    }

    fn statement(body: &str) -> String {
        format!(r#"{{"Version": "2012-10-17", "Statement": {body}}}"#)
    }

    #[test]
    fn a_minimal_identity_policy_parses() {
        let policy = Policy::parse_identity(&statement(
            r#"{"Sid": "One", "Effect": "Allow", "Action": "ecs:ListClusters", "Resource": "*"}"#,
        ))
        .expect("valid");
        assert_eq!(policy.kind(), PolicyKind::Identity);
        assert_eq!(policy.version(), Some(PolicyVersion::Version2012));
        assert_eq!(policy.statements().len(), 1);
        assert_eq!(policy.statements()[0].sid(), Some("One"));
        assert_eq!(policy.statements()[0].effect(), Effect::Allow);
    }

    #[test]
    fn version_may_be_absent_or_2008_but_nothing_else() {
        let body = r#""Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}"#;
        let absent = Policy::parse_identity(&format!("{{{body}}}")).expect("no version");
        assert_eq!(absent.version(), None);
        assert_eq!(
            absent.require_current_version(),
            Err(MalformedPolicy::VersionTooOld)
        );
        let old = Policy::parse_identity(&format!(r#"{{"Version": "2008-10-17", {body}}}"#))
            .expect("2008");
        assert_eq!(
            old.require_current_version(),
            Err(MalformedPolicy::VersionTooOld)
        );
        assert_eq!(
            identity_error(&format!(r#"{{"Version": "2012-10-18", {body}}}"#)),
            MalformedPolicy::Syntax
        );
        assert_eq!(
            identity_error(&format!(r#"{{"Version": 2012, {body}}}"#)),
            MalformedPolicy::Syntax
        );
    }

    #[test]
    fn syntax_errors() {
        for text in [
            "",
            "not json",
            "[]",
            r#"{"Version": "2012-10-17"}"#,
            r#"{"Version": "2012-10-17", "Statement": []}"#,
            r#"{"Version": "2012-10-17", "Statement": "x"}"#,
            r#"{"Version": "2012-10-17", "Statement": [1]}"#,
            r#"{"Version": "2012-10-17", "Extra": 1, "Statement": {"Effect": "Allow", "Action": "a:b", "Resource": "*"}}"#,
            r#"{"Id": 5, "Statement": {"Effect": "Allow", "Action": "a:b", "Resource": "*"}}"#,
        ] {
            assert_eq!(identity_error(text), MalformedPolicy::Syntax, "{text}");
        }
        for body in [
            r#"{"Effect": "Allow", "Action": "a:b", "Resource": "*", "Unknown": 1}"#,
            r#"{"Effect": "Permit", "Action": "a:b", "Resource": "*"}"#,
            r#"{"Action": "a:b", "Resource": "*"}"#,
            r#"{"Effect": "Allow", "Action": "a:b", "NotAction": "a:c", "Resource": "*"}"#,
            r#"{"Effect": "Allow", "Action": "a:b", "Resource": "*", "NotResource": "*"}"#,
            r#"{"Effect": "Allow", "Action": 5, "Resource": "*"}"#,
            r#"{"Effect": "Allow", "Action": ["a:b", 5], "Resource": "*"}"#,
            r#"{"Effect": "Allow", "Action": "a:b", "Resource": {"x": 1}}"#,
            r#"{"Sid": 1, "Effect": "Allow", "Action": "a:b", "Resource": "*"}"#,
            r#"{"Effect": "Allow", "Action": "a:b", "Resource": "*", "Condition": []}"#,
            r#"{"Effect": "Allow", "Action": "a:b", "Resource": "*", "Condition": {"StringEquals": "x"}}"#,
            r#"{"Effect": "Allow", "Action": "a:b", "Resource": "*", "Condition": {"StringEquals": {"k": {"a": 1}}}}"#,
            r#"{"Effect": "Allow", "Action": "a:b", "Resource": "*", "Condition": {"StringEqualz": {"k": "v"}}}"#,
        ] {
            assert_eq!(
                identity_error(&statement(body)),
                MalformedPolicy::Syntax,
                "{body}"
            );
        }
    }

    #[test]
    fn an_unknown_operator_with_an_empty_block_is_ignored() {
        Policy::parse_identity(&statement(
            r#"{"Effect": "Allow", "Action": "a:b", "Resource": "*", "Condition": {"Whatever": {}}}"#,
        ))
        .expect("accepted as IAM does");
    }

    #[test]
    fn condition_values_may_be_numbers_and_booleans() {
        let policy = Policy::parse_identity(&statement(
            r#"{"Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": false},
                              "NumericLessThan": {"s3:max-keys": [10, 20.5]}}}"#,
        ))
        .expect("valid");
        let json = policy.to_json();
        assert!(
            json.contains(r#""aws:SecureTransport":["false"]"#),
            "{json}"
        );
        assert!(json.contains(r#""s3:max-keys":["10","20.5"]"#), "{json}");
    }

    #[test]
    fn legacy_parsing_errors() {
        for body in [
            r#"{"Effect": "allow", "Action": "a:b", "Resource": "*"}"#,
            r#"{"Effect": "Allow", "Action": "a:b", "Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "tomorrow"}}}"#,
            r#"{"Effect": "Allow", "Action": "a:b", "Resource": "arn:aws::x"}"#,
            r#"{"Effect": "Allow", "Action": "a:b", "Resource": "arn:aws"}"#,
        ] {
            assert_eq!(
                identity_error(&statement(body)),
                MalformedPolicy::LegacyParsing,
                "{body}"
            );
        }
    }

    #[test]
    fn sids_must_be_unique_but_may_be_empty_twice() {
        let duplicate = statement(
            r#"[{"Sid": "A", "Effect": "Allow", "Action": "a:b", "Resource": "*"},
                {"Sid": "A", "Effect": "Deny", "Action": "a:b", "Resource": "*"}]"#,
        );
        assert_eq!(identity_error(&duplicate), MalformedPolicy::DuplicateSid);
        Policy::parse_identity(&statement(
            r#"[{"Sid": "", "Effect": "Allow", "Action": "a:b", "Resource": "*"},
                {"Sid": "", "Effect": "Deny", "Action": "a:b", "Resource": "*"}]"#,
        ))
        .expect("empty sids are not compared");
    }

    #[test]
    fn actions_and_resources_are_required() {
        assert_eq!(
            identity_error(&statement(r#"{"Effect": "Allow", "Resource": "*"}"#)),
            MalformedPolicy::MissingActions
        );
        assert_eq!(
            identity_error(&statement(
                r#"{"Effect": "Allow", "Action": [], "Resource": "*"}"#
            )),
            MalformedPolicy::MissingActions
        );
        assert_eq!(
            identity_error(&statement(r#"{"Effect": "Allow", "Action": "a:b"}"#)),
            MalformedPolicy::MissingResources
        );
        assert_eq!(
            identity_error(&statement(
                r#"{"Effect": "Allow", "Action": "a:b", "Resource": []}"#
            )),
            MalformedPolicy::MissingResources
        );
    }

    #[test]
    fn resources_must_look_like_arns() {
        assert_eq!(
            identity_error(&statement(
                r#"{"Effect": "Allow", "Action": "a:b", "Resource": "bucket"}"#
            )),
            MalformedPolicy::ResourceNotArn("bucket".into())
        );
        assert_eq!(
            MalformedPolicy::ResourceNotArn("bucket".into()).to_string(),
            r#"Resource bucket must be in ARN format or "*"."#
        );
    }

    #[test]
    fn actions_need_a_vendor() {
        let error = |action: &str| {
            identity_error(&statement(&format!(
                r#"{{"Effect": "Allow", "Action": "{action}", "Resource": "*"}}"#
            )))
        };
        assert_eq!(error("ListClusters"), MalformedPolicy::ActionWithoutVendor);
        assert_eq!(
            error("ecs:List:Clusters"),
            MalformedPolicy::ActionWithTooManyColons
        );
        assert_eq!(
            error("ec$:List"),
            MalformedPolicy::InvalidVendor("ec$".into())
        );
        assert_eq!(
            error("e*:List"),
            MalformedPolicy::InvalidVendor("e*".into())
        );
        Policy::parse_identity(&statement(
            r#"{"Effect": "Allow", "Action": ["*", "*:Describe*", "elasticloadbalancing:*"], "Resource": "*"}"#,
        ))
        .expect("valid vendors");
    }

    #[test]
    fn identity_policies_may_not_name_principals() {
        let text =
            statement(r#"{"Effect": "Allow", "Principal": "*", "Action": "a:b", "Resource": "*"}"#);
        assert_eq!(identity_error(&text), MalformedPolicy::PrincipalNotAllowed);
        assert_eq!(
            MalformedPolicy::PrincipalNotAllowed.to_string(),
            "Policy document should not specify a principal."
        );
    }

    #[test]
    fn trust_policies_need_a_principal_and_no_resource() {
        let missing = statement(r#"{"Effect": "Allow", "Action": "sts:AssumeRole"}"#);
        assert_eq!(
            Policy::parse_trust(&missing),
            Err(MalformedPolicy::MissingPrincipal)
        );
        let with_resource = statement(
            r#"{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole", "Resource": "*"}"#,
        );
        assert_eq!(
            Policy::parse_trust(&with_resource),
            Err(MalformedPolicy::ProhibitedField("Resource"))
        );
        assert_eq!(
            MalformedPolicy::ProhibitedField("Resource").to_string(),
            "Has prohibited field Resource"
        );
        let trust = Policy::parse_trust(&statement(
            r#"{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole"}"#,
        ))
        .expect("valid trust policy");
        assert_eq!(trust.kind(), PolicyKind::Trust);
    }

    #[test]
    fn resource_policies_may_omit_resource() {
        Policy::parse_resource(&statement(
            r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}"#,
        ))
        .expect("repository policies omit Resource");
        assert_eq!(
            Policy::parse_resource(&statement(
                r#"{"Effect": "Allow", "Principal": "*", "Action": "a:b", "Resource": []}"#
            )),
            Err(MalformedPolicy::MissingResources)
        );
    }

    #[test]
    fn principal_values_are_validated() {
        let principal = |value: &str| {
            Policy::parse_trust(&statement(&format!(
                r#"{{"Effect": "Allow", "Principal": {value}, "Action": "sts:AssumeRole"}}"#
            )))
        };
        for valid in [
            r#""*""#,
            r#"{"AWS": "*"}"#,
            r#"{"AWS": "123456789012"}"#,
            r#"{"AWS": "arn:aws:iam::123456789012:root"}"#,
            r#"{"AWS": ["arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:role/ops/deploy"]}"#,
            r#"{"AWS": "arn:aws:sts::123456789012:assumed-role/deploy/ci"}"#,
            r#"{"Service": ["ecs-tasks.amazonaws.com", "ec2.amazonaws.com"]}"#,
            r#"{"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}"#,
            r#"{"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#,
        ] {
            principal(valid).unwrap_or_else(|error| panic!("{valid}: {error}"));
        }
        assert_eq!(
            principal(r#"{"AWS": "alice"}"#),
            Err(MalformedPolicy::InvalidPrincipal {
                kind: "AWS".into(),
                value: "alice".into()
            })
        );
        assert_eq!(
            principal(r#"{"AWS": "arn:aws:iam::123456789012:role/*"}"#)
                .map(|_| ())
                .map_err(|error| error.to_string()),
            Err(r#"Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:role/*""#.into())
        );
        assert!(matches!(
            principal(r#"{"Service": "not a service"}"#),
            Err(MalformedPolicy::InvalidPrincipal { .. })
        ));
        assert!(matches!(
            principal(r#"{"Robot": "r2d2"}"#),
            Err(MalformedPolicy::InvalidPrincipal { .. })
        ));
        assert_eq!(principal(r#""alice""#), Err(MalformedPolicy::Syntax));
        assert_eq!(principal(r#"{}"#), Err(MalformedPolicy::Syntax));
        assert_eq!(principal(r#"{"AWS": []}"#), Err(MalformedPolicy::Syntax));
    }

    #[test]
    fn checks_run_in_iam_order() {
        // Missing actions is reported before a resource that is not an ARN.
        assert_eq!(
            identity_error(&statement(r#"{"Effect": "Allow", "Resource": "bucket"}"#)),
            MalformedPolicy::MissingActions
        );
        // Duplicate Sid is reported before missing actions.
        assert_eq!(
            identity_error(&statement(
                r#"[{"Sid": "A", "Effect": "Allow", "Resource": "*"},
                    {"Sid": "A", "Effect": "Allow", "Action": "a:b", "Resource": "*"}]"#
            )),
            MalformedPolicy::DuplicateSid
        );
        // Legacy parsing is reported before a duplicate Sid.
        assert_eq!(
            identity_error(&statement(
                r#"[{"Sid": "A", "Effect": "deny", "Action": "a:b", "Resource": "*"},
                    {"Sid": "A", "Effect": "Allow", "Action": "a:b", "Resource": "*"}]"#
            )),
            MalformedPolicy::LegacyParsing
        );
    }

    #[test]
    fn to_json_round_trips() {
        let text = statement(
            r#"[{"Sid": "A", "Effect": "Allow", "Action": ["ecs:Describe*", "ecs:List*"],
                 "Resource": "arn:aws:ecs:*:*:cluster/${aws:username}",
                 "Condition": {"StringEquals": {"aws:RequestTag/env": ["prod", "dev"]}}},
                {"Effect": "Deny", "NotAction": "iam:*", "NotResource": ["*"]}]"#,
        );
        let policy = Policy::parse_identity(&text).expect("valid");
        let again = Policy::parse_identity(&policy.to_json()).expect("re-parses");
        assert_eq!(policy, again);
        let trust = Policy::parse_trust(&statement(
            r#"{"Effect": "Allow", "NotPrincipal": {"AWS": ["123456789012"]}, "Action": "sts:AssumeRole"}"#,
        ))
        .expect("valid");
        assert_eq!(
            Policy::parse_trust(&trust.to_json()).expect("re-parses"),
            trust
        );
    }
}
