//! What listeners and rules do: actions (forward, weighted across target groups, and
//! fixed responses) and rule conditions (path-pattern, host-header), read from their
//! Query members and checked against the model's rules. Whether the target groups
//! named exist and fit the load balancer is checked where the store is at hand
//! ([`crate::api::listeners`]).

use serde::{Deserialize, Serialize};

use crate::error::ElbError;
use crate::model::wire_enum;
use berth_query::Params;

wire_enum! {
    /// `ActionTypeEnum`.
    ActionType {
        Forward = "forward",
        AuthenticateOidc = "authenticate-oidc",
        AuthenticateCognito = "authenticate-cognito",
        Redirect = "redirect",
        FixedResponse = "fixed-response",
        JwtValidation = "jwt-validation",
    }
}

/// The most target groups one forward action may name.
pub const MAX_FORWARD_TARGET_GROUPS: usize = 5;
/// The most condition values one rule may carry.
pub const MAX_CONDITION_VALUES: usize = 5;
const FIXED_RESPONSE_CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

/// A target group an action forwards to, with its weight (0-999).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedTargetGroup {
    pub arn: String,
    pub weight: u32,
}

/// An action of a listener's default rule or of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Action {
    /// Forward to target groups, split by weight.
    Forward {
        target_groups: Vec<WeightedTargetGroup>,
        order: Option<u32>,
    },
    /// Answer without a target.
    FixedResponse {
        status_code: u16,
        content_type: Option<String>,
        message_body: Option<String>,
        order: Option<u32>,
    },
}

impl Action {
    /// The target groups it forwards to.
    pub fn target_group_arns(&self) -> impl Iterator<Item = &str> {
        let groups: &[WeightedTargetGroup] = match self {
            Action::Forward { target_groups, .. } => target_groups,
            Action::FixedResponse { .. } => &[],
        };
        groups.iter().map(|g| g.arn.as_str())
    }

    /// Reads a list of actions (`DefaultActions` or `Actions`): Berth serves one action
    /// per rule.
    pub fn parse_list(p: &Params, member: &str) -> Result<Vec<Action>, ElbError> {
        let actions = p
            .structs(member)?
            .ok_or_else(|| ElbError::missing(member))?;
        match actions.len() {
            0 => Err(ElbError::Validation(format!(
                "At least one action must be specified in '{member}'"
            ))),
            1 => Ok(vec![Action::parse(&actions[0])?]),
            _ => Err(ElbError::InvalidLoadBalancerAction(
                "Berth serves one action per rule (forward or fixed-response); \
                 authenticate actions are not supported"
                    .into(),
            )),
        }
    }

    fn parse(p: &Params) -> Result<Action, ElbError> {
        let kind = ActionType::parse(&p.required("Type")?, "type")?;
        let order = p.int_in("Order", 1, 50_000)?.map(|v| v as u32);
        match kind {
            ActionType::Forward => Action::parse_forward(p, order),
            ActionType::FixedResponse => {
                let config = p.structure("FixedResponseConfig").ok_or_else(|| {
                    ElbError::InvalidLoadBalancerAction(
                        "A fixed-response action needs a FixedResponseConfig".into(),
                    )
                })?;
                let code = config.required("StatusCode")?;
                let valid = code.len() == 3
                    && code.starts_with(['2', '4', '5'])
                    && code.chars().all(|c| c.is_ascii_digit());
                if !valid {
                    return Err(ElbError::constraint(
                        &code,
                        "fixedResponseConfig.statusCode",
                        "Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$",
                    ));
                }
                let content_type = config.string("ContentType");
                if let Some(t) = content_type.as_deref() {
                    if !FIXED_RESPONSE_CONTENT_TYPES.contains(&t) {
                        return Err(ElbError::Validation(format!(
                            "Content type '{t}' is not one of {}",
                            FIXED_RESPONSE_CONTENT_TYPES.join(", ")
                        )));
                    }
                }
                let message_body = config.string("MessageBody");
                if message_body.as_ref().is_some_and(|b| b.len() > 1024) {
                    return Err(ElbError::Validation(
                        "A fixed response's message body is at most 1024 characters".into(),
                    ));
                }
                Ok(Action::FixedResponse {
                    status_code: code.parse().expect("three digits"),
                    content_type,
                    message_body,
                    order,
                })
            }
            other => Err(ElbError::InvalidLoadBalancerAction(format!(
                "Action type '{other}' is not supported by Berth; use forward or fixed-response"
            ))),
        }
    }

    fn parse_forward(p: &Params, order: Option<u32>) -> Result<Action, ElbError> {
        let single = p.string("TargetGroupArn");
        let mut groups = Vec::new();
        if let Some(config) = p.structure("ForwardConfig") {
            if let Some(sticky) = config.structure("TargetGroupStickinessConfig") {
                sticky.int_in("DurationSeconds", 1, 604_800)?;
                if sticky.bool("Enabled")? == Some(true) {
                    return Err(ElbError::InvalidConfigurationRequest(
                        "Berth does not support target group stickiness".into(),
                    ));
                }
            }
            for tuple in config.structs("TargetGroups")?.unwrap_or_default() {
                let arn = tuple.required("TargetGroupArn")?;
                let weight = tuple.int_in("Weight", 0, 999)?.unwrap_or(1) as u32;
                if groups.iter().any(|g: &WeightedTargetGroup| g.arn == arn) {
                    return Err(ElbError::Validation(format!(
                        "Target group '{arn}' is named more than once in the forward action"
                    )));
                }
                groups.push(WeightedTargetGroup { arn, weight });
            }
        }
        match (single, groups.len()) {
            (None, 0) => Err(ElbError::Validation(
                "A forward action needs a TargetGroupArn or ForwardConfig.TargetGroups".into(),
            )),
            (Some(arn), 0) => Ok(Action::Forward {
                target_groups: vec![WeightedTargetGroup { arn, weight: 1 }],
                order,
            }),
            (Some(arn), 1) if groups[0].arn == arn => Ok(Action::Forward {
                target_groups: groups,
                order,
            }),
            (Some(_), _) => Err(ElbError::Validation(
                "When both TargetGroupArn and ForwardConfig are given, ForwardConfig must name \
                 that one target group only"
                    .into(),
            )),
            (None, n) if n > MAX_FORWARD_TARGET_GROUPS => {
                Err(ElbError::TooManyTargetGroups(format!(
                    "A forward action can name at most {MAX_FORWARD_TARGET_GROUPS} target groups"
                )))
            }
            (None, _) => Ok(Action::Forward {
                target_groups: groups,
                order,
            }),
        }
    }
}

/// The request field a condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConditionField {
    PathPattern,
    HostHeader,
}

impl ConditionField {
    /// As AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionField::PathPattern => "path-pattern",
            ConditionField::HostHeader => "host-header",
        }
    }

    /// The member holding the values in the newer form (`PathPatternConfig`).
    pub fn config_member(self) -> &'static str {
        match self {
            ConditionField::PathPattern => "PathPatternConfig",
            ConditionField::HostHeader => "HostHeaderConfig",
        }
    }
}

/// A rule condition: the field matches any of the values (with `*` and `?`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub field: ConditionField,
    pub values: Vec<String>,
}

impl Condition {
    /// Reads a rule's `Conditions`: at least one, one per field, at most five values.
    pub fn parse_list(p: &Params) -> Result<Vec<Condition>, ElbError> {
        let list = p
            .structs("Conditions")?
            .ok_or_else(|| ElbError::missing("Conditions"))?;
        if list.is_empty() {
            return Err(ElbError::Validation(
                "A rule must have at least one condition".into(),
            ));
        }
        let mut conditions: Vec<Condition> = Vec::new();
        for c in &list {
            let condition = Condition::parse(c)?;
            if conditions.iter().any(|seen| seen.field == condition.field) {
                return Err(ElbError::Validation(format!(
                    "A rule can only have one '{}' condition",
                    condition.field.as_str()
                )));
            }
            conditions.push(condition);
        }
        let values: usize = conditions.iter().map(|c| c.values.len()).sum();
        if values > MAX_CONDITION_VALUES {
            return Err(ElbError::Validation(format!(
                "A rule can have at most {MAX_CONDITION_VALUES} condition values; it has {values}"
            )));
        }
        Ok(conditions)
    }

    fn parse(p: &Params) -> Result<Condition, ElbError> {
        let field = match p.string("Field").as_deref() {
            Some("path-pattern") => ConditionField::PathPattern,
            Some("host-header") => ConditionField::HostHeader,
            Some(
                other @ ("http-header" | "http-request-method" | "query-string" | "source-ip"),
            ) => {
                return Err(ElbError::Validation(format!(
                    "Condition field '{other}' is not supported by Berth; use path-pattern or \
                     host-header"
                )))
            }
            Some(other) => {
                return Err(ElbError::Validation(format!(
                    "Condition field '{other}' is not valid"
                )))
            }
            None => {
                return Err(ElbError::Validation(
                    "A condition field must be specified".into(),
                ))
            }
        };
        let plain = p.strings("Values")?;
        let config = p
            .structure(field.config_member())
            .map(|c| {
                if c.strings("RegexValues")?.is_some() {
                    return Err(ElbError::Validation(
                        "Berth does not support regular expression conditions".into(),
                    ));
                }
                Ok(c.strings("Values")?)
            })
            .transpose()?
            .flatten();
        if p.strings("RegexValues")?.is_some() {
            return Err(ElbError::Validation(
                "Berth does not support regular expression conditions".into(),
            ));
        }
        let values = match (plain, config) {
            (Some(_), Some(_)) => {
                return Err(ElbError::Validation(format!(
                    "Give the values of a '{}' condition in Values or in {}, not both",
                    field.as_str(),
                    field.config_member()
                )))
            }
            (Some(v), None) | (None, Some(v)) => v,
            (None, None) => Vec::new(),
        };
        if values.is_empty() {
            return Err(ElbError::Validation(format!(
                "A '{}' condition needs at least one value",
                field.as_str()
            )));
        }
        for v in &values {
            check_pattern(field, v)?;
        }
        Ok(Condition { field, values })
    }
}

fn check_pattern(field: ConditionField, value: &str) -> Result<(), ElbError> {
    let allowed = |c: char| match field {
        ConditionField::PathPattern => {
            c.is_ascii_alphanumeric() || "_-.$/~\"'@:+&*?%=;,!()".contains(c)
        }
        ConditionField::HostHeader => c.is_ascii_alphanumeric() || "-.*?".contains(c),
    };
    if value.is_empty() || value.len() > 128 || !value.chars().all(allowed) {
        return Err(ElbError::Validation(format!(
            "'{value}' is not a valid {} value: 1 to 128 characters of {}",
            field.as_str(),
            match field {
                ConditionField::PathPattern =>
                    "A-Z, a-z, 0-9, _ - . $ / ~ \" ' @ : + & % = ; , ! ( ) and the wildcards * ?",
                ConditionField::HostHeader => "A-Z, a-z, 0-9, - . and the wildcards * ?",
            }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(pairs: &[(&str, &str)]) -> Result<Vec<Action>, ElbError> {
        Action::parse_list(&Params::from_pairs(pairs.iter().copied()), "DefaultActions")
    }

    #[test]
    fn forward_by_arn_or_weighted_config() {
        let a = actions(&[
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", "tg1"),
        ])
        .unwrap();
        assert_eq!(a[0].target_group_arns().collect::<Vec<_>>(), vec!["tg1"]);
        let a = actions(&[
            ("DefaultActions.member.1.Type", "forward"),
            (
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn",
                "a",
            ),
            (
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight",
                "3",
            ),
            (
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn",
                "b",
            ),
            (
                "DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled",
                "false",
            ),
        ])
        .unwrap();
        let Action::Forward { target_groups, .. } = &a[0] else {
            panic!()
        };
        assert_eq!(
            target_groups.iter().map(|g| g.weight).collect::<Vec<_>>(),
            vec![3, 1]
        );
    }

    #[test]
    fn malformed_actions_are_refused() {
        let e = actions(&[("DefaultActions.member.1.Type", "forward")]).unwrap_err();
        assert_eq!(e.code(), "ValidationError");
        let e = actions(&[("DefaultActions.member.1.Type", "redirect")]).unwrap_err();
        assert_eq!(e.code(), "InvalidLoadBalancerAction");
        let e = actions(&[("DefaultActions.member.1.Type", "bogus")]).unwrap_err();
        assert_eq!(e.code(), "ValidationError");
        let e = actions(&[
            ("DefaultActions.member.1.Type", "forward"),
            (
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn",
                "a",
            ),
            (
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight",
                "1000",
            ),
        ])
        .unwrap_err();
        assert!(
            e.message().contains("less than or equal to 999"),
            "{}",
            e.message()
        );
        let e = actions(&[
            ("DefaultActions.member.1.Type", "forward"),
            (
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn",
                "a",
            ),
            (
                "DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled",
                "true",
            ),
        ])
        .unwrap_err();
        assert_eq!(e.code(), "InvalidConfigurationRequest");
        let fixed = actions(&[
            ("DefaultActions.member.1.Type", "fixed-response"),
            (
                "DefaultActions.member.1.FixedResponseConfig.StatusCode",
                "404",
            ),
            (
                "DefaultActions.member.1.FixedResponseConfig.ContentType",
                "text/plain",
            ),
            (
                "DefaultActions.member.1.FixedResponseConfig.MessageBody",
                "nothing here",
            ),
        ])
        .unwrap();
        assert!(matches!(
            fixed[0],
            Action::FixedResponse {
                status_code: 404,
                ..
            }
        ));
        let e = actions(&[
            ("DefaultActions.member.1.Type", "fixed-response"),
            (
                "DefaultActions.member.1.FixedResponseConfig.StatusCode",
                "302",
            ),
        ])
        .unwrap_err();
        assert_eq!(e.code(), "ValidationError");
    }

    #[test]
    fn conditions_in_both_forms() {
        let p = Params::from_pairs([
            ("Conditions.member.1.Field", "path-pattern"),
            ("Conditions.member.1.Values.member.1", "/api/*"),
            ("Conditions.member.2.Field", "host-header"),
            (
                "Conditions.member.2.HostHeaderConfig.Values.member.1",
                "*.example.com",
            ),
        ]);
        let c = Condition::parse_list(&p).unwrap();
        assert_eq!(
            c[0],
            Condition {
                field: ConditionField::PathPattern,
                values: vec!["/api/*".into()]
            }
        );
        assert_eq!(c[1].field, ConditionField::HostHeader);
        assert!(p.finish("CreateRule").is_ok());
    }

    #[test]
    fn conditions_are_checked() {
        let parse = |pairs: &[(&str, &str)]| {
            Condition::parse_list(&Params::from_pairs(pairs.iter().copied()))
        };
        assert!(parse(&[("Conditions", "")]).is_err());
        assert!(parse(&[
            ("Conditions.member.1.Field", "source-ip"),
            ("Conditions.member.1.Values.member.1", "10.0.0.0/8")
        ])
        .is_err());
        assert!(parse(&[
            ("Conditions.member.1.Field", "host-header"),
            ("Conditions.member.1.Values.member.1", "bad host/")
        ])
        .is_err());
        assert!(parse(&[("Conditions.member.1.Field", "path-pattern")]).is_err());
        let six: Vec<(String, String)> = (1..=6)
            .map(|i| {
                (
                    format!("Conditions.member.1.Values.member.{i}"),
                    format!("/p{i}"),
                )
            })
            .collect();
        let mut pairs: Vec<(&str, &str)> =
            six.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        pairs.push(("Conditions.member.1.Field", "path-pattern"));
        assert!(parse(&pairs).unwrap_err().message().contains("at most 5"));
        let twice = parse(&[
            ("Conditions.member.1.Field", "path-pattern"),
            ("Conditions.member.1.Values.member.1", "/a"),
            ("Conditions.member.2.Field", "path-pattern"),
            ("Conditions.member.2.Values.member.1", "/b"),
        ]);
        assert!(twice.unwrap_err().message().contains("only have one"));
    }
}
