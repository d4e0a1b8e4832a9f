//! ECS account settings: each name AWS defines, the values it takes, its default, who
//! may set it, and how a principal's effective value is found (its own, else the
//! account default the root set, else AWS's default). Stored per principal and region.

use std::collections::BTreeMap;

use berth_api::ecs::{Setting, SettingName, SettingType};
use berth_api::error::ApiError;
use serde::{Deserialize, Serialize};

/// What one setting allows.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub name: SettingName,
    /// The values it takes.
    pub values: &'static [&'static str],
    /// Its value where nobody set one.
    pub default: &'static str,
    /// Only the root may set it (for itself, which is the account default).
    pub root_only: bool,
    /// AWS manages it: read-only.
    pub aws_managed: bool,
}

const ON_OFF: &[&str] = &["enabled", "disabled"];

/// Every setting, in AWS's order.
pub const RULES: &[Rule] = &[
    Rule {
        name: SettingName::ServiceLongArnFormat,
        values: ON_OFF,
        default: "enabled",
        root_only: false,
        aws_managed: false,
    },
    Rule {
        name: SettingName::TaskLongArnFormat,
        values: ON_OFF,
        default: "enabled",
        root_only: false,
        aws_managed: false,
    },
    Rule {
        name: SettingName::ContainerInstanceLongArnFormat,
        values: ON_OFF,
        default: "enabled",
        root_only: false,
        aws_managed: false,
    },
    Rule {
        name: SettingName::AwsvpcTrunking,
        values: ON_OFF,
        default: "disabled",
        root_only: false,
        aws_managed: false,
    },
    Rule {
        name: SettingName::ContainerInsights,
        values: &["enabled", "disabled", "enhanced"],
        default: "disabled",
        root_only: false,
        aws_managed: false,
    },
    Rule {
        name: SettingName::FargateFipsMode,
        values: ON_OFF,
        default: "disabled",
        root_only: false,
        aws_managed: false,
    },
    Rule {
        name: SettingName::TagResourceAuthorization,
        values: &["on", "off"],
        default: "on",
        root_only: false,
        aws_managed: false,
    },
    Rule {
        name: SettingName::FargateTaskRetirementWaitPeriod,
        values: &["0", "7", "14"],
        default: "7",
        root_only: true,
        aws_managed: false,
    },
    Rule {
        name: SettingName::GuardDutyActivate,
        values: &["on", "off"],
        default: "off",
        root_only: false,
        aws_managed: true,
    },
    Rule {
        name: SettingName::DefaultLogDriverMode,
        values: &["blocking", "non-blocking"],
        default: "non-blocking",
        root_only: false,
        aws_managed: false,
    },
    Rule {
        name: SettingName::FargateEventWindows,
        values: ON_OFF,
        default: "disabled",
        root_only: false,
        aws_managed: false,
    },
];

/// The rule of `name`.
pub fn rule(name: SettingName) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.name == name)
        .expect("every setting name has a rule")
}

/// The settings one principal set, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSettingsRecord {
    pub principal_arn: String,
    pub values: BTreeMap<String, String>,
}

/// Refuses a value `principal` may not set for `name` (`as_root`: the principal is the
/// account's root), with AWS's reasons.
pub fn check_put(name: SettingName, value: &str, as_root: bool) -> Result<(), ApiError> {
    let r = rule(name);
    if r.aws_managed {
        return Err(ApiError::InvalidParameter(format!(
            "{} is an AWS managed account setting and cannot be changed.",
            name.as_str()
        )));
    }
    if !r.values.contains(&value) {
        return Err(ApiError::InvalidParameter(format!(
            "Invalid value '{value}' for account setting {}. Valid values are: {}.",
            name.as_str(),
            r.values.join(", ")
        )));
    }
    let long_arn = matches!(
        name,
        SettingName::ServiceLongArnFormat
            | SettingName::TaskLongArnFormat
            | SettingName::ContainerInstanceLongArnFormat
    );
    if long_arn && value == "disabled" {
        return Err(ApiError::InvalidParameter(
            "You can no longer disable Long Arn settings.".into(),
        ));
    }
    if r.root_only && !as_root {
        return Err(ApiError::InvalidParameter(format!(
            "The {} account setting can only be set by the root user.",
            name.as_str()
        )));
    }
    Ok(())
}

/// A setting as the API shows it.
pub fn setting(name: SettingName, value: &str, principal_arn: &str) -> Setting {
    Setting {
        name: Some(name),
        value: Some(value.to_string()),
        principal_arn: Some(principal_arn.to_string()),
        r#type: Some(if rule(name).aws_managed {
            SettingType::AwsManaged
        } else {
            SettingType::User
        }),
    }
}

/// The value of `name` in effect for a principal with `own` settings, in an account
/// whose root set `account`: the principal's, else the root's, else AWS's default.
/// Returns it with the principal it comes from (the root's ARN for the last two).
pub fn effective<'a>(
    name: SettingName,
    own: &'a AccountSettingsRecord,
    account: &'a AccountSettingsRecord,
) -> (&'a str, &'a str) {
    let key = name.as_str();
    if let Some(v) = own.values.get(key) {
        return (v, &own.principal_arn);
    }
    if let Some(v) = account.values.get(key) {
        return (v, &account.principal_arn);
    }
    (rule(name).default, &account.principal_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(principal: &str, values: &[(&str, &str)]) -> AccountSettingsRecord {
        AccountSettingsRecord {
            principal_arn: principal.into(),
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn every_setting_name_has_a_rule_whose_default_is_one_of_its_values() {
        for name in SettingName::ALL {
            let r = rule(*name);
            assert!(r.values.contains(&r.default), "{name:?}");
        }
    }

    #[test]
    fn aws_rules_refuse_what_aws_refuses() {
        let err = |n, v, root| check_put(n, v, root).unwrap_err().to_string();
        assert!(err(SettingName::TaskLongArnFormat, "disabled", true)
            .contains("can no longer disable Long Arn settings"));
        assert!(err(SettingName::ContainerInsights, "yes", true)
            .contains("enabled, disabled, enhanced"));
        assert!(err(SettingName::GuardDutyActivate, "on", true).contains("AWS managed"));
        assert!(
            err(SettingName::FargateTaskRetirementWaitPeriod, "14", false).contains("root user")
        );
        check_put(SettingName::FargateTaskRetirementWaitPeriod, "14", true).unwrap();
        check_put(SettingName::ContainerInsights, "enhanced", false).unwrap();
    }

    #[test]
    fn a_principals_own_value_wins_then_the_account_default_then_aws() {
        let root = "arn:aws:iam::000000000000:root";
        let account = record(root, &[("containerInsights", "enabled")]);
        let ana = record(
            "arn:aws:iam::000000000000:user/ana",
            &[("awsvpcTrunking", "enabled")],
        );
        assert_eq!(
            effective(SettingName::AwsvpcTrunking, &ana, &account),
            ("enabled", "arn:aws:iam::000000000000:user/ana")
        );
        assert_eq!(
            effective(SettingName::ContainerInsights, &ana, &account),
            ("enabled", root)
        );
        assert_eq!(
            effective(SettingName::TagResourceAuthorization, &ana, &account),
            ("on", root)
        );
    }
}
