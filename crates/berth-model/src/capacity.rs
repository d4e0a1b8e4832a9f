//! Capacity provider strategies: AWS's rules for one (at most one provider with a base;
//! weights 0 to 1,000, with one above zero among several providers; bases 0 to 100,000;
//! no provider twice) and how new tasks spread over it. A provider's base is filled first; after
//! that each task goes to the provider furthest below its weighted share of the tasks
//! beyond the base, ties going to the one listed first. Also the stored form of a
//! provider backed by an Auto Scaling group, with AWS's defaults.

use std::collections::BTreeMap;

use berth_api::ecs::{
    AutoScalingGroupProvider, CapacityProvider, CapacityProviderStatus,
    CapacityProviderStrategyItem, CapacityProviderType, CapacityProviderUpdateStatus,
    ManagedDraining, ManagedScaling, ManagedScalingStatus, ManagedTerminationProtection,
};
use berth_api::error::ApiError;
use serde::{Deserialize, Serialize};

use crate::cluster::tags_to_wire;
use crate::tags::Tags;

/// Berth's built-in providers: both place on the Fargate pool.
pub const FARGATE_PROVIDERS: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];

/// Whether `provider` is one of Fargate's.
pub fn is_fargate(provider: &str) -> bool {
    FARGATE_PROVIDERS.contains(&provider)
}

/// Refuses a strategy AWS would refuse.
pub fn validate(strategy: &[CapacityProviderStrategyItem]) -> Result<(), ApiError> {
    let invalid = |m: &str| Err(ApiError::InvalidParameter(m.to_string()));
    if strategy.is_empty() {
        return invalid("The capacity provider strategy cannot be empty.");
    }
    if strategy.len() > 20 {
        return invalid("A capacity provider strategy can contain at most 20 capacity providers.");
    }
    for (i, item) in strategy.iter().enumerate() {
        if strategy[..i]
            .iter()
            .any(|o| o.capacity_provider == item.capacity_provider)
        {
            return invalid(&format!(
                "The capacity provider '{}' appears more than once in the capacity provider \
                 strategy.",
                item.capacity_provider
            ));
        }
        if !(0..=1_000).contains(&item.weight.unwrap_or(0)) {
            return invalid("The weight of a capacity provider must be between 0 and 1000.");
        }
        if !(0..=100_000).contains(&item.base.unwrap_or(0)) {
            return invalid("The base of a capacity provider must be between 0 and 100000.");
        }
    }
    if strategy.iter().filter(|i| i.base.unwrap_or(0) > 0).count() > 1 {
        return invalid(
            "Only one capacity provider in a capacity provider strategy can have a base.",
        );
    }
    if strategy.len() > 1 && strategy.iter().all(|i| i.weight.unwrap_or(0) == 0) {
        return invalid(
            "At least one capacity provider in a capacity provider strategy must have a weight \
             greater than zero.",
        );
    }
    let fargate = strategy
        .iter()
        .filter(|i| is_fargate(&i.capacity_provider))
        .count();
    if fargate != 0 && fargate != strategy.len() {
        return invalid(
            "A capacityProviderStrategy cannot contain a mix of capacity providers using Auto \
             Scaling groups and Fargate providers. Specify one or the other and try again.",
        );
    }
    Ok(())
}

/// The provider of each of `count` new tasks, given the tasks each provider already
/// holds (a service's; none for RunTask), in the order they are placed.
pub fn spread(
    strategy: &[CapacityProviderStrategyItem],
    held: &BTreeMap<String, u32>,
    count: u32,
) -> Vec<String> {
    let mut held: Vec<u32> = strategy
        .iter()
        .map(|i| held.get(&i.capacity_provider).copied().unwrap_or(0))
        .collect();
    let base = |i: usize| strategy[i].base.unwrap_or(0).max(0) as u32;
    // A lone provider takes every task whatever its weight (AWS refuses all-zero weights
    // only among several).
    let lone = strategy.len() == 1;
    let weight = |i: usize| {
        let w = strategy[i].weight.unwrap_or(0).max(0) as u64;
        if lone {
            w.max(1)
        } else {
            w
        }
    };
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let chosen = (0..strategy.len())
            .find(|&i| held[i] < base(i))
            .or_else(|| {
                // Smallest share beyond the base per unit of weight: a / wa < b / wb,
                // compared as a * wb < b * wa.
                (0..strategy.len())
                    .filter(|&i| weight(i) > 0)
                    .min_by(|&a, &b| {
                        let above = |i: usize| u64::from(held[i].saturating_sub(base(i)));
                        (above(a) * weight(b)).cmp(&(above(b) * weight(a)))
                    })
            });
        let Some(i) = chosen else { break };
        held[i] += 1;
        out.push(strategy[i].capacity_provider.clone());
    }
    out
}

/// A provider backed by an Auto Scaling group, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityProviderRecord {
    pub name: String,
    pub arn: String,
    pub auto_scaling_group_provider: AutoScalingGroupProvider,
    pub update_status: Option<CapacityProviderUpdateStatus>,
    pub tags: Tags,
}

impl CapacityProviderRecord {
    /// As the API shows it.
    pub fn to_wire(&self, with_tags: bool) -> CapacityProvider {
        CapacityProvider {
            capacity_provider_arn: Some(self.arn.clone()),
            name: Some(self.name.clone()),
            status: Some(CapacityProviderStatus::Active),
            auto_scaling_group_provider: Some(self.auto_scaling_group_provider.clone()),
            update_status: self.update_status,
            tags: with_tags.then(|| tags_to_wire(&self.tags)),
            r#type: Some(CapacityProviderType::Ec2Autoscaling),
            ..Default::default()
        }
    }
}

/// AWS's defaults for what an Auto Scaling group provider leaves out.
pub fn with_defaults(mut p: AutoScalingGroupProvider) -> AutoScalingGroupProvider {
    let scaling = p
        .managed_scaling
        .get_or_insert_with(ManagedScaling::default);
    scaling.status.get_or_insert(ManagedScalingStatus::Enabled);
    scaling.target_capacity.get_or_insert(100);
    scaling.minimum_scaling_step_size.get_or_insert(1);
    scaling.maximum_scaling_step_size.get_or_insert(10_000);
    scaling.instance_warmup_period.get_or_insert(300);
    p.managed_termination_protection
        .get_or_insert(ManagedTerminationProtection::Disabled);
    p.managed_draining.get_or_insert(ManagedDraining::Enabled);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(p: &str, base: i32, weight: i32) -> CapacityProviderStrategyItem {
        CapacityProviderStrategyItem {
            capacity_provider: p.into(),
            base: Some(base),
            weight: Some(weight),
        }
    }

    fn counts(v: &[String]) -> BTreeMap<String, u32> {
        let mut m = BTreeMap::new();
        for p in v {
            *m.entry(p.clone()).or_default() += 1;
        }
        m
    }

    #[test]
    fn the_base_is_filled_first_then_weights_share_the_rest() {
        let s = [item("FARGATE", 1, 1), item("FARGATE_SPOT", 0, 3)];
        let placed = spread(&s, &BTreeMap::new(), 9);
        assert_eq!(placed[0], "FARGATE", "the base comes first");
        let c = counts(&placed);
        assert_eq!((c["FARGATE"], c["FARGATE_SPOT"]), (3, 6));
        // A service that already holds tasks gets the ones that restore the shares.
        let held = BTreeMap::from([("FARGATE".to_string(), 3), ("FARGATE_SPOT".to_string(), 2)]);
        assert_eq!(spread(&s, &held, 4), vec!["FARGATE_SPOT"; 4]);
    }

    #[test]
    fn a_zero_weight_provider_gets_only_its_base() {
        let s = [item("FARGATE", 2, 0), item("FARGATE_SPOT", 0, 1)];
        let c = counts(&spread(&s, &BTreeMap::new(), 5));
        assert_eq!((c["FARGATE"], c["FARGATE_SPOT"]), (2, 3));
    }

    #[test]
    fn aws_rules_refuse_what_aws_refuses() {
        let err = |s: &[CapacityProviderStrategyItem]| validate(s).unwrap_err().to_string();
        assert!(err(&[item("FARGATE", 1, 1), item("FARGATE_SPOT", 1, 1)]).contains("Only one"));
        assert!(err(&[item("FARGATE", 0, 0), item("FARGATE_SPOT", 0, 0)])
            .contains("weight greater than zero"));
        assert!(err(&[item("FARGATE", 0, 1001)]).contains("between 0 and 1000"));
        assert!(err(&[item("FARGATE", 0, 1), item("FARGATE", 0, 1)]).contains("more than once"));
        assert!(err(&[item("FARGATE", 0, 1), item("my-asg", 0, 1)]).contains("mix"));
        validate(&[item("FARGATE", 1, 1), item("FARGATE_SPOT", 0, 4)]).unwrap();
        // One provider without a weight takes every task.
        let lone = [CapacityProviderStrategyItem {
            capacity_provider: "FARGATE_SPOT".into(),
            base: None,
            weight: None,
        }];
        validate(&lone).unwrap();
        assert_eq!(spread(&lone, &BTreeMap::new(), 2), vec!["FARGATE_SPOT"; 2]);
    }
}
