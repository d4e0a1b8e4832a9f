//! CreateRule, DescribeRules and DeleteRule: path-pattern and host-header rules of HTTP
//! listeners, by priority, with each listener's default rule listed last.

use berth_store::records::put;
use berth_store::Op;

use super::context::Ctx;
use super::paging::Paging;
use super::render;
use crate::actions::{Action, Condition};
use crate::arn::{ListenerArn, RuleArn};
use crate::config::{mutate, Plan, ScopeConfig};
use crate::error::ElbError;
use crate::keys::ElbKeys;
use crate::model::{new_id, Protocol, Tag};
use crate::resources::{ListenerRecord, RuleRecord};
use berth_query::Params;

/// The most rules (besides the default) one listener has.
pub const MAX_RULES: usize = 100;

/// A rule as DescribeRules lists it.
enum Listed<'a> {
    Rule(&'a RuleRecord),
    Default(String, &'a ListenerRecord),
}

fn default_rule_arn(listener: &ListenerRecord) -> Result<String, ElbError> {
    Ok(RuleArn {
        listener: ListenerArn::parse(&listener.arn)?,
        id: listener.default_rule_id.clone(),
    }
    .to_arn())
}

/// CreateRule.
pub async fn create(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let listener_arn = p.required("ListenerArn")?;
    let conditions = Condition::parse_list(p)?;
    let priority = p
        .int_in("Priority", 1, 50_000)?
        .ok_or_else(|| ElbError::missing("Priority"))? as u32;
    let actions = Action::parse_list(p, "Actions")?;
    Tag::parse_list(p)?;
    p.finish(&ctx.action)?;
    let rule = mutate(ctx.store, &ctx.scope, |config| {
        let listener = config.listener(&listener_arn)?;
        if listener.protocol != Protocol::Http {
            return Err(ElbError::InvalidConfigurationRequest(
                "Rules are for HTTP listeners of application load balancers".into(),
            ));
        }
        let rules = config.rules_of(listener);
        if rules.iter().any(|r| r.priority == priority) {
            return Err(ElbError::PriorityInUse(format!(
                "Priority '{priority}' is currently in use"
            )));
        }
        if rules.len() >= MAX_RULES {
            return Err(ElbError::TooManyRules(format!(
                "A listener can have at most {MAX_RULES} rules"
            )));
        }
        let lb = config.load_balancer(&listener.load_balancer_arn)?;
        super::listeners::check_actions(config, lb, &actions)?;
        let id = new_id();
        let rule = RuleRecord {
            arn: RuleArn {
                listener: ListenerArn::parse(&listener.arn)?,
                id: id.clone(),
            }
            .to_arn(),
            id,
            listener_arn: listener.arn.clone(),
            priority,
            conditions: conditions.clone(),
            actions: actions.clone(),
        };
        Ok(Plan {
            ops: vec![put(config.scope.rule(&listener.id, &rule.id), &rule)],
            output: rule,
            compares: Vec::new(),
        })
    })
    .await?;
    Ok(ctx.respond(|x| x.list("Rules", &[rule], render::rule)))
}

/// DescribeRules: of a listener (by priority, the default last), or by ARNs.
pub async fn describe(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let listener_arn = p.string("ListenerArn");
    let arns = p.strings("RuleArns")?;
    let paging = Paging::parse(p)?;
    p.finish(&ctx.action)?;
    let config = ScopeConfig::load(ctx.store, &ctx.scope).await?;
    let listed: Vec<Listed> = match (listener_arn, arns) {
        (Some(arn), None) => {
            let listener = config.listener(&arn)?;
            let mut listed: Vec<Listed> = config
                .rules_of(listener)
                .into_iter()
                .map(Listed::Rule)
                .collect();
            listed.push(Listed::Default(default_rule_arn(listener)?, listener));
            listed
        }
        (None, Some(arns)) => arns
            .iter()
            .map(|arn| {
                Ok(match config.rule(arn)? {
                    (_, Some(rule)) => Listed::Rule(rule),
                    (listener, None) => Listed::Default(arn.clone(), listener),
                })
            })
            .collect::<Result<_, ElbError>>()?,
        _ => {
            return Err(ElbError::Validation(
                "Specify either a listener ARN or rule ARNs".into(),
            ))
        }
    };
    let (page, next) = paging.page(listed, |l| match l {
        Listed::Rule(r) => format!("{:05}/{}", r.priority, r.arn),
        Listed::Default(arn, _) => format!("99999/{arn}"),
    });
    Ok(ctx.respond(|x| {
        x.list("Rules", &page, |x, l| match l {
            Listed::Rule(r) => render::rule(x, r),
            Listed::Default(arn, listener) => render::default_rule(x, arn, listener),
        });
        x.opt("NextMarker", next);
    }))
}

/// DeleteRule; the default rule goes only with its listener.
pub async fn delete(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let arn = p.required("RuleArn")?;
    p.finish(&ctx.action)?;
    mutate(ctx.store, &ctx.scope, |config| match config.rule(&arn)? {
        (_, None) => Err(ElbError::OperationNotPermitted(format!(
            "Default rule '{arn}' cannot be deleted"
        ))),
        (listener, Some(rule)) => Ok(Plan {
            output: (),
            ops: vec![Op::delete(config.scope.rule(&listener.id, &rule.id))],
            compares: Vec::new(),
        }),
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}
