//! The `Condition` element: operators, their `…IfExists` forms and the `ForAllValues:` /
//! `ForAnyValue:` set qualifiers, compiled at parse time.
//!
//! The rules, as AWS documents them:
//!
//! * every (operator, key) pair of a statement must hold (AND); a key's values are
//!   alternatives (OR); a negated operator (`StringNotEquals`, `NotIpAddress`, …) holds when
//!   the request value matches none of them (NOR);
//! * a key the request lacks makes a positive operator false and a negated one true;
//!   `…IfExists` makes it true; `Null` tests exactly that presence;
//! * `ForAnyValue:` holds when at least one request value satisfies the operator, and is false
//!   for a missing key; `ForAllValues:` holds when every request value does, and is true for a
//!   missing key or an empty set. With a set qualifier `IfExists` changes nothing;
//! * a request value that cannot be read as the operator's type (a number, a date, an IP
//!   address, a boolean) satisfies neither the operator nor its negation.
//!
//! Condition key names are case-insensitive; keys are compiled to lowercase.

use std::net::IpAddr;

use crate::date::parse_epoch_millis;
use crate::pattern::{ArnGlob, ArnParts, Case, Glob};
use crate::request::RequestContext;
use crate::variables::Template;

/// The type of value an operator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric,
    Date,
    Bool,
    Binary,
    IpAddress,
    Arn,
    Null,
}

/// How a request value is compared with a policy value of an ordered type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

impl Comparison {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Comparison::Equals => request == policy,
            Comparison::LessThan => request < policy,
            Comparison::LessThanEquals => request <= policy,
            Comparison::GreaterThan => request > policy,
            Comparison::GreaterThanEquals => request >= policy,
        }
    }
}

/// A condition operator without its qualifier and `IfExists` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    family: Family,
    comparison: Comparison,
    negated: bool,
}

impl Operator {
    fn from_name(name: &str) -> Option<Operator> {
        use Comparison::*;
        use Family::*;
        let (family, comparison, negated) = match name {
            "StringEquals" => (String, Equals, false),
            "StringNotEquals" => (String, Equals, true),
            "StringEqualsIgnoreCase" => (StringIgnoreCase, Equals, false),
            "StringNotEqualsIgnoreCase" => (StringIgnoreCase, Equals, true),
            "StringLike" => (StringLike, Equals, false),
            "StringNotLike" => (StringLike, Equals, true),
            "NumericEquals" => (Numeric, Equals, false),
            "NumericNotEquals" => (Numeric, Equals, true),
            "NumericLessThan" => (Numeric, LessThan, false),
            "NumericLessThanEquals" => (Numeric, LessThanEquals, false),
            "NumericGreaterThan" => (Numeric, GreaterThan, false),
            "NumericGreaterThanEquals" => (Numeric, GreaterThanEquals, false),
            "DateEquals" => (Date, Equals, false),
            "DateNotEquals" => (Date, Equals, true),
            "DateLessThan" => (Date, LessThan, false),
            "DateLessThanEquals" => (Date, LessThanEquals, false),
            "DateGreaterThan" => (Date, GreaterThan, false),
            "DateGreaterThanEquals" => (Date, GreaterThanEquals, false),
            "Bool" => (Bool, Equals, false),
            "BinaryEquals" => (Binary, Equals, false),
            "IpAddress" => (IpAddress, Equals, false),
            "NotIpAddress" => (IpAddress, Equals, true),
            // AWS documents ArnEquals and ArnLike as the same test (wildcards allowed in both).
            "ArnEquals" | "ArnLike" => (Arn, Equals, false),
            "ArnNotEquals" | "ArnNotLike" => (Arn, Equals, true),
            "Null" => (Null, Equals, false),
            _ => return None,
        };
        Some(Operator {
            family,
            comparison,
            negated,
        })
    }
}

/// `ForAnyValue:`, `ForAllValues:` or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// The parts of an operator name such as `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OperatorName {
    operator: Operator,
    qualifier: Qualifier,
    if_exists: bool,
}

impl OperatorName {
    /// Reads an operator name; `None` for an operator IAM does not know.
    pub(crate) fn parse(text: &str) -> Option<OperatorName> {
        let (qualifier, rest) = if let Some(rest) = text.strip_prefix("ForAnyValue:") {
            (Qualifier::ForAnyValue, rest)
        } else if let Some(rest) = text.strip_prefix("ForAllValues:") {
            (Qualifier::ForAllValues, rest)
        } else {
            (Qualifier::Single, text)
        };
        let (if_exists, name) = match rest.strip_suffix("IfExists") {
            Some(name) => (true, name),
            None => (false, rest),
        };
        let operator = Operator::from_name(name)?;
        if if_exists && operator.family == Family::Null {
            return None;
        }
        Some(OperatorName {
            operator,
            qualifier,
            if_exists,
        })
    }

    /// Whether the operator compares dates (whose values IAM's legacy parser checks).
    pub(crate) fn is_date(&self) -> bool {
        self.operator.family == Family::Date
    }
}

/// A value compared for equality: fixed, or with policy variables.
#[derive(Debug, Clone, PartialEq)]
enum TextValue {
    Static(Box<str>),
    Dynamic(Template),
}

/// A `StringLike` value.
#[derive(Debug, Clone, PartialEq)]
enum GlobValue {
    Static(Glob),
    Dynamic(Template),
}

/// An `ArnLike` value.
#[derive(Debug, Clone, PartialEq)]
enum ArnValue {
    Static(ArnGlob),
    Dynamic(Template),
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: u128,
    mask: u128,
    is_v4: bool,
}

impl Cidr {
    fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u32>().ok()?)),
            None => (text, None),
        };
        let (bits, width, is_v4) = match address.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32, true),
            IpAddr::V6(v6) => (u128::from(v6), 128, false),
        };
        let prefix = prefix.unwrap_or(width);
        if prefix > width {
            return None;
        }
        let host_bits = width - prefix;
        let full = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        let mask = if host_bits >= 128 {
            0
        } else {
            (full >> host_bits) << host_bits
        };
        Some(Cidr {
            network: bits & mask,
            mask,
            is_v4,
        })
    }

    fn contains(&self, address: IpAddr) -> bool {
        let (bits, is_v4) = match address {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), true),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if self.is_v4 => (u128::from(u32::from(v4)), true),
                _ => (u128::from(v6), false),
            },
        };
        is_v4 == self.is_v4 && bits & self.mask == self.network
    }
}

/// The policy values of one condition, compiled for the operator's type.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    Text(Vec<TextValue>),
    Globs(Vec<GlobValue>),
    Arns(Vec<ArnValue>),
    Numbers(Vec<Option<f64>>),
    Dates(Vec<i64>),
    Bools(Vec<Option<bool>>),
    Cidrs(Vec<Option<Cidr>>),
    Null(Vec<Option<bool>>),
}

/// A date condition value that is not a date; IAM refuses the document ("legacy parsing").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidDate;

/// One (operator, key) pair of a statement's `Condition`, with its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    operator_text: Box<str>,
    key_text: Box<str>,
    key: Box<str>,
    name: OperatorName,
    raw_values: Vec<String>,
    values: Values,
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

impl Condition {
    /// Compiles one (operator, key) pair. `variables` says whether `${…}` is a variable
    /// (documents of version 2012-10-17).
    pub(crate) fn compile(
        operator_text: &str,
        name: OperatorName,
        key_text: &str,
        raw_values: Vec<String>,
        variables: bool,
    ) -> Result<Condition, InvalidDate> {
        let values = match name.operator.family {
            Family::String | Family::StringIgnoreCase | Family::Binary => Values::Text(
                raw_values
                    .iter()
                    .map(|value| {
                        match Template::parse(
                            value,
                            variables && name.operator.family != Family::Binary,
                        ) {
                            Some(template) if template.needs_request() => {
                                TextValue::Dynamic(template)
                            }
                            Some(template) => TextValue::Static(
                                template
                                    .resolve_text(&RequestContext::new())
                                    .unwrap_or_default()
                                    .into(),
                            ),
                            None => TextValue::Static(value.as_str().into()),
                        }
                    })
                    .collect(),
            ),
            Family::StringLike => Values::Globs(
                raw_values
                    .iter()
                    .map(|value| match Template::parse(value, variables) {
                        Some(template) if template.needs_request() => GlobValue::Dynamic(template),
                        Some(template) => GlobValue::Static(Glob::from_pieces(
                            template
                                .resolve_pieces(&RequestContext::new())
                                .unwrap_or_default(),
                        )),
                        None => GlobValue::Static(Glob::new(value)),
                    })
                    .collect(),
            ),
            Family::Arn => Values::Arns(
                raw_values
                    .iter()
                    .map(|value| match Template::parse(value, variables) {
                        Some(template) if template.needs_request() => ArnValue::Dynamic(template),
                        Some(template) => ArnValue::Static(ArnGlob::from_pieces(
                            template
                                .resolve_pieces(&RequestContext::new())
                                .unwrap_or_default(),
                        )),
                        None => ArnValue::Static(ArnGlob::new(value)),
                    })
                    .collect(),
            ),
            Family::Numeric => Values::Numbers(
                raw_values
                    .iter()
                    .map(|value| value.trim().parse::<f64>().ok().filter(|n| n.is_finite()))
                    .collect(),
            ),
            Family::Date => Values::Dates(
                raw_values
                    .iter()
                    .map(|value| parse_epoch_millis(value).ok_or(InvalidDate))
                    .collect::<Result<_, _>>()?,
            ),
            Family::Bool => Values::Bools(raw_values.iter().map(|v| parse_bool(v)).collect()),
            Family::IpAddress => {
                Values::Cidrs(raw_values.iter().map(|value| Cidr::parse(value)).collect())
            }
            Family::Null => Values::Null(raw_values.iter().map(|v| parse_bool(v)).collect()),
        };
        Ok(Condition {
            operator_text: operator_text.into(),
            key_text: key_text.into(),
            key: key_text.to_lowercase().into(),
            name,
            raw_values,
            values,
        })
    }

    /// The operator as written, e.g. `ForAnyValue:StringLike`.
    pub(crate) fn operator_text(&self) -> &str {
        &self.operator_text
    }

    /// The condition key as written.
    pub(crate) fn key_text(&self) -> &str {
        &self.key_text
    }

    /// The values as written (booleans and numbers in their JSON spelling).
    pub(crate) fn raw_values(&self) -> &[String] {
        &self.raw_values
    }

    /// Whether the request satisfies this condition.
    pub(crate) fn is_satisfied(&self, context: &RequestContext) -> bool {
        let request_values = context
            .values_lowercase(&self.key)
            .filter(|values| !values.is_empty());
        if let Values::Null(expected) = &self.values {
            let absent = request_values.is_none();
            return expected.contains(&Some(absent));
        }
        let negated = self.name.operator.negated;
        match (self.name.qualifier, request_values) {
            (Qualifier::Single, None) => self.name.if_exists || negated,
            (Qualifier::ForAnyValue, None) => false,
            (Qualifier::ForAllValues, None) => true,
            (Qualifier::Single, Some(values)) if negated => values
                .iter()
                .all(|value| self.value_satisfies(value, context)),
            (Qualifier::Single | Qualifier::ForAnyValue, Some(values)) => values
                .iter()
                .any(|value| self.value_satisfies(value, context)),
            (Qualifier::ForAllValues, Some(values)) => values
                .iter()
                .all(|value| self.value_satisfies(value, context)),
        }
    }

    /// Whether one request value satisfies the operator (for a negated operator: matches none
    /// of the policy values).
    fn value_satisfies(&self, request_value: &str, context: &RequestContext) -> bool {
        match self.matches_any_policy_value(request_value, context) {
            Some(matched) => matched != self.name.operator.negated,
            None => false,
        }
    }

    /// Whether `request_value` matches at least one policy value; `None` if it cannot be read
    /// as the operator's type.
    fn matches_any_policy_value(
        &self,
        request_value: &str,
        context: &RequestContext,
    ) -> Option<bool> {
        let comparison = self.name.operator.comparison;
        let matched = match &self.values {
            Values::Text(values) => {
                let ignore_case = self.name.operator.family == Family::StringIgnoreCase;
                values.iter().any(|value| match value {
                    TextValue::Static(text) => text_equal(request_value, text, ignore_case),
                    TextValue::Dynamic(template) => template
                        .resolve_text(context)
                        .is_some_and(|text| text_equal(request_value, &text, ignore_case)),
                })
            }
            Values::Globs(values) => values.iter().any(|value| match value {
                GlobValue::Static(glob) => glob.matches(request_value, Case::Sensitive),
                GlobValue::Dynamic(template) => {
                    template.resolve_pieces(context).is_some_and(|pieces| {
                        Glob::from_pieces(pieces).matches(request_value, Case::Sensitive)
                    })
                }
            }),
            Values::Arns(values) => {
                let parts = ArnParts::split(request_value);
                values.iter().any(|value| match value {
                    ArnValue::Static(glob) => glob.matches(&parts),
                    ArnValue::Dynamic(template) => template
                        .resolve_pieces(context)
                        .is_some_and(|pieces| ArnGlob::from_pieces(pieces).matches(&parts)),
                })
            }
            Values::Numbers(values) => {
                let number = request_value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())?;
                values
                    .iter()
                    .flatten()
                    .any(|value| comparison.holds(number, *value))
            }
            Values::Dates(values) => {
                let date = parse_epoch_millis(request_value)?;
                values.iter().any(|value| comparison.holds(date, *value))
            }
            Values::Bools(values) => {
                let flag = parse_bool(request_value)?;
                values.contains(&Some(flag))
            }
            Values::Cidrs(values) => {
                let address = request_value.trim().parse::<IpAddr>().ok()?;
                values.iter().flatten().any(|cidr| cidr.contains(address))
            }
            Values::Null(_) => return None,
        };
        Some(matched)
    }
}

fn text_equal(request_value: &str, policy_value: &str, ignore_case: bool) -> bool {
    if !ignore_case {
        return request_value == policy_value;
    }
    if request_value.is_ascii() && policy_value.is_ascii() {
        return request_value.eq_ignore_ascii_case(policy_value);
    }
    request_value
        .chars()
        .flat_map(char::to_lowercase)
        .eq(policy_value.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles `operator: {key: values}` and evaluates it against `context`.
    fn holds(operator: &str, key: &str, values: &[&str], context: &RequestContext) -> bool {
        let name = OperatorName::parse(operator).expect("known operator");
        let condition = Condition::compile(
            operator,
            name,
            key,
            values.iter().map(|v| v.to_string()).collect(),
            true,
        )
        .expect("compiles");
        condition.is_satisfied(context)
    }

    fn context(pairs: &[(&str, &str)]) -> RequestContext {
        let mut context = RequestContext::new();
        for (key, value) in pairs {
            context.insert(key, *value);
        }
        context
    }

    fn tags(keys: &[&str]) -> RequestContext {
        let mut context = RequestContext::new();
        context.insert_all("aws:TagKeys", keys.iter().copied());
        context
    }

    #[test]
    fn operator_names_are_parsed_with_qualifiers_and_suffixes() {
        assert!(OperatorName::parse("StringEquals").is_some());
        assert!(OperatorName::parse("ForAnyValue:StringLikeIfExists").is_some());
        assert!(OperatorName::parse("ForAllValues:ArnNotLike").is_some());
        assert!(OperatorName::parse("NullIfExists").is_none());
        assert!(OperatorName::parse("StringEqual").is_none());
        assert!(OperatorName::parse("stringequals").is_none());
        assert!(OperatorName::parse("ForSomeValues:StringEquals").is_none());
    }

    #[test]
    fn string_equals_is_case_sensitive_and_ors_values() {
        let env = context(&[("aws:RequestTag/env", "prod")]);
        assert!(holds(
            "StringEquals",
            "aws:RequestTag/env",
            &["dev", "prod"],
            &env
        ));
        assert!(!holds(
            "StringEquals",
            "aws:RequestTag/env",
            &["Prod"],
            &env
        ));
        assert!(!holds(
            "StringEquals",
            "aws:RequestTag/other",
            &["prod"],
            &env
        ));
    }

    #[test]
    fn condition_keys_are_case_insensitive() {
        let env = context(&[("aws:requesttag/ENV", "prod")]);
        assert!(holds("StringEquals", "AWS:RequestTag/Env", &["prod"], &env));
    }

    #[test]
    fn string_not_equals_is_nor_and_true_for_a_missing_key() {
        let env = context(&[("aws:RequestTag/env", "prod")]);
        assert!(!holds(
            "StringNotEquals",
            "aws:RequestTag/env",
            &["dev", "prod"],
            &env
        ));
        assert!(holds(
            "StringNotEquals",
            "aws:RequestTag/env",
            &["dev", "test"],
            &env
        ));
        assert!(holds(
            "StringNotEquals",
            "aws:RequestTag/missing",
            &["dev"],
            &env
        ));
    }

    #[test]
    fn ignore_case_operators() {
        let env = context(&[("aws:RequestTag/env", "PROD")]);
        assert!(holds(
            "StringEqualsIgnoreCase",
            "aws:RequestTag/env",
            &["prod"],
            &env
        ));
        assert!(!holds(
            "StringNotEqualsIgnoreCase",
            "aws:RequestTag/env",
            &["Prod"],
            &env
        ));
        assert!(holds(
            "StringNotEqualsIgnoreCase",
            "aws:RequestTag/env",
            &["dev"],
            &env
        ));
        let unicode = context(&[("k", "ÉTÉ")]);
        assert!(holds("StringEqualsIgnoreCase", "k", &["été"], &unicode));
    }

    #[test]
    fn string_like_uses_wildcards() {
        let env = context(&[("s3:prefix", "home/alice/docs")]);
        assert!(holds("StringLike", "s3:prefix", &["home/*"], &env));
        assert!(holds(
            "StringLike",
            "s3:prefix",
            &["x", "home/?lice/*"],
            &env
        ));
        assert!(!holds("StringLike", "s3:prefix", &["Home/*"], &env));
        assert!(!holds("StringNotLike", "s3:prefix", &["home/*"], &env));
        assert!(holds("StringNotLike", "s3:prefix", &["tmp/*"], &env));
    }

    #[test]
    fn string_values_may_use_policy_variables() {
        let env = context(&[("s3:prefix", "home/alice/x"), ("aws:username", "alice")]);
        assert!(holds(
            "StringLike",
            "s3:prefix",
            &["home/${aws:username}/*"],
            &env
        ));
        let bob = context(&[("s3:prefix", "home/alice/x"), ("aws:username", "bob")]);
        assert!(!holds(
            "StringLike",
            "s3:prefix",
            &["home/${aws:username}/*"],
            &bob
        ));
        let owner = context(&[
            ("aws:ResourceTag/owner", "alice"),
            ("aws:username", "alice"),
        ]);
        assert!(holds(
            "StringEquals",
            "aws:ResourceTag/owner",
            &["${aws:username}"],
            &owner
        ));
        // An unresolvable variable matches nothing.
        let nobody = context(&[("aws:ResourceTag/owner", "alice")]);
        assert!(!holds(
            "StringEquals",
            "aws:ResourceTag/owner",
            &["${aws:username}"],
            &nobody
        ));
    }

    #[test]
    fn numeric_operators() {
        let env = context(&[("s3:max-keys", "10")]);
        assert!(holds("NumericEquals", "s3:max-keys", &["10.0"], &env));
        assert!(!holds("NumericNotEquals", "s3:max-keys", &["10"], &env));
        assert!(holds("NumericNotEquals", "s3:max-keys", &["11"], &env));
        assert!(holds("NumericLessThan", "s3:max-keys", &["11"], &env));
        assert!(!holds("NumericLessThan", "s3:max-keys", &["10"], &env));
        assert!(holds("NumericLessThanEquals", "s3:max-keys", &["10"], &env));
        assert!(holds("NumericGreaterThan", "s3:max-keys", &["9"], &env));
        assert!(!holds("NumericGreaterThan", "s3:max-keys", &["10"], &env));
        assert!(holds(
            "NumericGreaterThanEquals",
            "s3:max-keys",
            &["10"],
            &env
        ));
        let garbage = context(&[("s3:max-keys", "ten")]);
        assert!(!holds("NumericEquals", "s3:max-keys", &["10"], &garbage));
        assert!(!holds("NumericNotEquals", "s3:max-keys", &["10"], &garbage));
    }

    #[test]
    fn date_operators_read_iso_8601_and_epoch_seconds() {
        let now = context(&[("aws:CurrentTime", "2026-06-01T12:00:00Z")]);
        assert!(holds(
            "DateLessThan",
            "aws:CurrentTime",
            &["2026-12-31T00:00:00Z"],
            &now
        ));
        assert!(!holds(
            "DateLessThan",
            "aws:CurrentTime",
            &["2026-01-01T00:00:00Z"],
            &now
        ));
        assert!(holds(
            "DateGreaterThan",
            "aws:CurrentTime",
            &["1767225600"],
            &now
        ));
        assert!(holds(
            "DateEquals",
            "aws:CurrentTime",
            &["2026-06-01T14:00:00+02:00"],
            &now
        ));
        assert!(!holds(
            "DateNotEquals",
            "aws:CurrentTime",
            &["2026-06-01T12:00:00Z"],
            &now
        ));
        assert!(holds(
            "DateLessThanEquals",
            "aws:CurrentTime",
            &["2026-06-01T12:00:00Z"],
            &now
        ));
        assert!(holds(
            "DateGreaterThanEquals",
            "aws:CurrentTime",
            &["2026-06-01"],
            &now
        ));
        let epoch = context(&[("aws:EpochTime", "1780315200")]);
        assert!(holds(
            "DateEquals",
            "aws:EpochTime",
            &["2026-06-01T12:00:00Z"],
            &epoch
        ));
    }

    #[test]
    fn invalid_policy_dates_refuse_the_document() {
        let name = OperatorName::parse("DateLessThan").expect("operator");
        assert_eq!(
            Condition::compile(
                "DateLessThan",
                name,
                "aws:CurrentTime",
                vec!["soon".into()],
                true
            ),
            Err(InvalidDate)
        );
    }

    #[test]
    fn bool_operator() {
        let secure = context(&[("aws:SecureTransport", "true")]);
        assert!(holds("Bool", "aws:SecureTransport", &["true"], &secure));
        assert!(holds("Bool", "aws:SecureTransport", &["TRUE"], &secure));
        assert!(!holds("Bool", "aws:SecureTransport", &["false"], &secure));
        assert!(!holds(
            "Bool",
            "aws:MultiFactorAuthPresent",
            &["false"],
            &secure
        ));
        assert!(holds(
            "BoolIfExists",
            "aws:MultiFactorAuthPresent",
            &["false"],
            &secure
        ));
    }

    #[test]
    fn binary_equals_compares_base64_text() {
        let env = context(&[("key", "QmluYXJ5VmFsdWU=")]);
        assert!(holds("BinaryEquals", "key", &["QmluYXJ5VmFsdWU="], &env));
        assert!(!holds("BinaryEquals", "key", &["qmluYXJ5VmFsdWU="], &env));
    }

    #[test]
    fn ip_address_operators() {
        let env = context(&[("aws:SourceIp", "203.0.113.7")]);
        assert!(holds(
            "IpAddress",
            "aws:SourceIp",
            &["203.0.113.0/24"],
            &env
        ));
        assert!(holds(
            "IpAddress",
            "aws:SourceIp",
            &["10.0.0.0/8", "203.0.113.7"],
            &env
        ));
        assert!(!holds(
            "IpAddress",
            "aws:SourceIp",
            &["203.0.114.0/24"],
            &env
        ));
        assert!(holds("IpAddress", "aws:SourceIp", &["0.0.0.0/0"], &env));
        assert!(!holds(
            "NotIpAddress",
            "aws:SourceIp",
            &["203.0.113.0/24"],
            &env
        ));
        assert!(holds(
            "NotIpAddress",
            "aws:SourceIp",
            &["192.0.2.0/24"],
            &env
        ));
        let v6 = context(&[("aws:SourceIp", "2001:db8::1")]);
        assert!(holds("IpAddress", "aws:SourceIp", &["2001:db8::/32"], &v6));
        assert!(!holds(
            "IpAddress",
            "aws:SourceIp",
            &["203.0.113.0/24"],
            &v6
        ));
        let mapped = context(&[("aws:SourceIp", "::ffff:203.0.113.7")]);
        assert!(holds(
            "IpAddress",
            "aws:SourceIp",
            &["203.0.113.0/24"],
            &mapped
        ));
        assert!(!holds("IpAddress", "aws:SourceIp", &["not-an-ip"], &env));
    }

    #[test]
    fn arn_operators_match_part_by_part() {
        let env = context(&[(
            "aws:SourceArn",
            "arn:aws:ecs:us-east-1:123456789012:service/prod/web",
        )]);
        assert!(holds(
            "ArnLike",
            "aws:SourceArn",
            &["arn:aws:ecs:*:123456789012:service/*"],
            &env
        ));
        assert!(holds(
            "ArnEquals",
            "aws:SourceArn",
            &["arn:aws:ecs:*:*:service/prod/*"],
            &env
        ));
        assert!(!holds(
            "ArnLike",
            "aws:SourceArn",
            &["arn:aws:ecs:*:999999999999:*"],
            &env
        ));
        assert!(!holds(
            "ArnNotLike",
            "aws:SourceArn",
            &["arn:aws:ecs:*:*:*"],
            &env
        ));
        assert!(holds(
            "ArnNotEquals",
            "aws:SourceArn",
            &["arn:aws:ecr:*:*:*"],
            &env
        ));
        let principal = context(&[
            ("aws:PrincipalArn", "arn:aws:iam::123456789012:user/alice"),
            ("aws:username", "alice"),
        ]);
        assert!(holds(
            "ArnEquals",
            "aws:PrincipalArn",
            &["arn:aws:iam::123456789012:user/${aws:username}"],
            &principal
        ));
    }

    #[test]
    fn null_tests_presence() {
        let env = context(&[("aws:TokenIssueTime", "2026-01-01T00:00:00Z")]);
        assert!(holds("Null", "aws:TokenIssueTime", &["false"], &env));
        assert!(!holds("Null", "aws:TokenIssueTime", &["true"], &env));
        assert!(holds("Null", "aws:MultiFactorAuthAge", &["true"], &env));
        assert!(!holds("Null", "aws:MultiFactorAuthAge", &["false"], &env));
        assert!(holds(
            "ForAllValues:Null",
            "aws:MultiFactorAuthAge",
            &["true"],
            &env
        ));
    }

    #[test]
    fn missing_keys_follow_aws_rules() {
        let empty = RequestContext::new();
        assert!(!holds("StringEquals", "k", &["v"], &empty));
        assert!(!holds("StringLike", "k", &["*"], &empty));
        assert!(!holds("NumericLessThan", "k", &["1"], &empty));
        assert!(!holds("IpAddress", "k", &["0.0.0.0/0"], &empty));
        assert!(holds("StringNotEquals", "k", &["v"], &empty));
        assert!(holds("StringNotLike", "k", &["v"], &empty));
        assert!(holds("ArnNotLike", "k", &["arn:*"], &empty));
        assert!(holds("NotIpAddress", "k", &["10.0.0.0/8"], &empty));
        assert!(holds("StringEqualsIfExists", "k", &["v"], &empty));
        assert!(holds("NumericLessThanIfExists", "k", &["1"], &empty));
        let present = context(&[("k", "w")]);
        assert!(!holds("StringEqualsIfExists", "k", &["v"], &present));
        assert!(holds("StringEqualsIfExists", "k", &["w"], &present));
    }

    #[test]
    fn for_any_value_needs_one_match_and_is_false_when_missing() {
        let keys = tags(&["env", "owner"]);
        assert!(holds(
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &["owner"],
            &keys
        ));
        assert!(!holds(
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &["cost"],
            &keys
        ));
        assert!(!holds(
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &["env"],
            &RequestContext::new()
        ));
        assert!(!holds(
            "ForAnyValue:StringEqualsIfExists",
            "aws:TagKeys",
            &["env"],
            &RequestContext::new()
        ));
        assert!(!holds(
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &["env"],
            &tags(&[])
        ));
        // Negated: at least one request value matches none of the policy values.
        assert!(holds(
            "ForAnyValue:StringNotEquals",
            "aws:TagKeys",
            &["env"],
            &keys
        ));
        assert!(!holds(
            "ForAnyValue:StringNotEquals",
            "aws:TagKeys",
            &["env", "owner"],
            &keys
        ));
    }

    #[test]
    fn for_all_values_needs_every_value_to_match_and_is_true_when_missing() {
        let keys = tags(&["env", "owner"]);
        assert!(holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["env", "owner", "cost"],
            &keys
        ));
        assert!(!holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["env"],
            &keys
        ));
        assert!(holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["env"],
            &RequestContext::new()
        ));
        assert!(holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["env"],
            &tags(&[])
        ));
        assert!(holds(
            "ForAllValues:StringLike",
            "aws:TagKeys",
            &["*"],
            &keys
        ));
        // Negated: no request value matches any policy value.
        assert!(holds(
            "ForAllValues:StringNotEquals",
            "aws:TagKeys",
            &["cost"],
            &keys
        ));
        assert!(!holds(
            "ForAllValues:StringNotEquals",
            "aws:TagKeys",
            &["owner"],
            &keys
        ));
    }

    #[test]
    fn a_single_valued_operator_on_a_multivalued_key_matches_any_value() {
        let keys = tags(&["env", "owner"]);
        assert!(holds("StringEquals", "aws:TagKeys", &["owner"], &keys));
        assert!(!holds("StringNotEquals", "aws:TagKeys", &["owner"], &keys));
    }

    #[test]
    fn cidr_parsing() {
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0/x").is_none());
        assert!(Cidr::parse("::/0").is_some());
        let all_v6 = Cidr::parse("::/0").expect("parses");
        assert!(all_v6.contains("2001:db8::1".parse().expect("ip")));
    }
}
