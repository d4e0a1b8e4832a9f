//! Clusters: the stored record and its wire shape, with the statistics DescribeClusters
//! reports.

use berth_api::ecs::{
    CapacityProviderStrategyItem, Cluster, ClusterConfiguration, ClusterField,
    ClusterServiceConnectDefaults, ClusterSetting, KeyValuePair, Tag,
};
use serde::{Deserialize, Serialize};

use crate::tags::Tags;

/// A cluster as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterRecord {
    pub name: String,
    pub arn: String,
    /// ACTIVE, or INACTIVE once deleted (kept describable, as ECS does).
    pub active: bool,
    pub tags: Tags,
    pub settings: Vec<ClusterSetting>,
    pub configuration: Option<ClusterConfiguration>,
    pub capacity_providers: Vec<String>,
    pub default_capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    pub service_connect_defaults: Option<ClusterServiceConnectDefaults>,
}

/// Counts DescribeClusters reports, split by launch type for STATISTICS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterStats {
    pub registered_instances: i32,
    pub running_ec2: i32,
    pub running_fargate: i32,
    pub pending_ec2: i32,
    pub pending_fargate: i32,
    /// Tasks on their way to STOPPED (neither pending nor running, not yet stopped).
    pub stopping: i32,
    pub active_services: i32,
}

impl ClusterRecord {
    /// The wire shape; `include` selects the optional parts, as DescribeClusters does.
    pub fn to_wire(&self, stats: &ClusterStats, include: &[ClusterField]) -> Cluster {
        let has = |f| include.contains(&f);
        let statistics = has(ClusterField::Statistics).then(|| {
            [
                ("runningEC2TasksCount", stats.running_ec2),
                ("runningFargateTasksCount", stats.running_fargate),
                ("pendingEC2TasksCount", stats.pending_ec2),
                ("pendingFargateTasksCount", stats.pending_fargate),
                ("runningExternalTasksCount", 0),
                ("pendingExternalTasksCount", 0),
                ("activeEC2ServiceCount", 0),
                ("activeFargateServiceCount", 0),
                ("drainingEC2ServiceCount", 0),
                ("drainingFargateServiceCount", 0),
            ]
            .into_iter()
            .map(|(k, v)| KeyValuePair {
                name: Some(k.into()),
                value: Some(v.to_string()),
            })
            .collect()
        });
        Cluster {
            cluster_arn: Some(self.arn.clone()),
            cluster_name: Some(self.name.clone()),
            configuration: has(ClusterField::Configurations)
                .then(|| self.configuration.clone())
                .flatten(),
            status: Some(if self.active { "ACTIVE" } else { "INACTIVE" }.into()),
            registered_container_instances_count: stats.registered_instances,
            running_tasks_count: stats.running_ec2 + stats.running_fargate,
            pending_tasks_count: stats.pending_ec2 + stats.pending_fargate,
            active_services_count: stats.active_services,
            statistics,
            tags: has(ClusterField::Tags).then(|| tags_to_wire(&self.tags)),
            settings: has(ClusterField::Settings).then(|| self.settings.clone()),
            capacity_providers: Some(self.capacity_providers.clone()),
            default_capacity_provider_strategy: Some(
                self.default_capacity_provider_strategy.clone(),
            ),
            attachments: None,
            attachments_status: None,
            service_connect_defaults: self.service_connect_defaults.clone(),
        }
    }
}

/// Tags in the wire shape.
pub fn tags_to_wire(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ClusterRecord {
        ClusterRecord {
            name: "prod".into(),
            arn: "arn:aws:ecs:us-east-1:000000000000:cluster/prod".into(),
            active: true,
            tags: [("env".to_string(), "prod".to_string())].into(),
            settings: vec![],
            configuration: None,
            capacity_providers: vec![],
            default_capacity_provider_strategy: vec![],
            service_connect_defaults: None,
        }
    }

    #[test]
    fn counts_always_optional_parts_on_request() {
        let stats = ClusterStats {
            registered_instances: 2,
            running_ec2: 1,
            running_fargate: 3,
            pending_fargate: 1,
            ..Default::default()
        };
        let plain = record().to_wire(&stats, &[]);
        assert_eq!(plain.running_tasks_count, 4);
        assert_eq!(plain.pending_tasks_count, 1);
        assert_eq!(plain.registered_container_instances_count, 2);
        assert!(plain.tags.is_none() && plain.statistics.is_none());
        let full = record().to_wire(&stats, &[ClusterField::Tags, ClusterField::Statistics]);
        assert_eq!(full.tags.unwrap().len(), 1);
        let s = full.statistics.unwrap();
        let fargate = s
            .iter()
            .find(|kv| kv.name.as_deref() == Some("runningFargateTasksCount"));
        assert_eq!(fargate.unwrap().value.as_deref(), Some("3"));
    }
}
