//! Task sets: the deployments of a service whose deployment controller is EXTERNAL. The
//! external controller creates them (CreateTaskSet), scales each to a percentage of
//! the service's desired count (UpdateTaskSet), picks the PRIMARY one
//! (UpdateServicePrimaryTaskSet) and deletes them (DeleteTaskSet); the service
//! controller keeps each at its computed desired count and nothing more: no rolling
//! between them, no circuit breaker.

use berth_api::ecs::{
    CapacityProviderStrategyItem, LaunchType, LoadBalancer, NetworkConfiguration, Scale, ScaleUnit,
    StabilityStatus, TaskSet, Timestamp,
};
use berth_api::error::ApiError;
use serde::{Deserialize, Serialize};

use crate::cluster::tags_to_wire;
use crate::tags::Tags;

/// PRIMARY (serving the service), ACTIVE (not serving), DRAINING (deleted, tasks
/// stopping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskSetStatus {
    Primary,
    Active,
    Draining,
}

impl TaskSetStatus {
    /// As ECS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskSetStatus::Primary => "PRIMARY",
            TaskSetStatus::Active => "ACTIVE",
            TaskSetStatus::Draining => "DRAINING",
        }
    }
}

/// One task set of a service, as stored in the service's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSetRecord {
    /// `ecs-svc/` and 19 digits; its tasks carry it as startedBy's deployment.
    pub id: String,
    pub arn: String,
    pub external_id: Option<String>,
    /// CreateTaskSet's clientToken: a retry with it gets this task set again.
    #[serde(default)]
    pub client_token: Option<String>,
    pub status: TaskSetStatus,
    pub task_definition: String,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub network_configuration: Option<NetworkConfiguration>,
    pub load_balancers: Vec<LoadBalancer>,
    /// Percent of the service's desired count, 0 to 100.
    pub scale: f64,
    pub computed_desired_count: u32,
    pub pending_count: u32,
    pub running_count: u32,
    pub stability: StabilityStatus,
    pub stability_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub tags: Tags,
}

/// A request's scale as a percentage: 0 to 100 PERCENT (ECS's only unit). No scale is
/// 100 percent, as ECS defaults it.
pub fn scale_percent(scale: Option<&Scale>) -> Result<f64, ApiError> {
    let Some(scale) = scale else {
        return Ok(100.0);
    };
    if scale.unit.is_some_and(|u| u != ScaleUnit::Percent) {
        return Err(ApiError::InvalidParameter(
            "The scale unit must be PERCENT.".into(),
        ));
    }
    let value = scale.value.unwrap_or(100.0);
    if !(0.0..=100.0).contains(&value) {
        return Err(ApiError::InvalidParameter(format!(
            "The scale value must be between 0 and 100 percent; got {value}."
        )));
    }
    Ok(value)
}

/// The tasks a task set wants: the service's desired count times its scale, rounded up,
/// as ECS computes it.
pub fn computed_desired(service_desired: u32, scale: f64) -> u32 {
    (f64::from(service_desired) * scale / 100.0).ceil() as u32
}

impl TaskSetRecord {
    /// The wire form, for the service `service_arn` of cluster `cluster_arn`.
    pub fn to_wire(&self, service_arn: &str, cluster_arn: &str, with_tags: bool) -> TaskSet {
        TaskSet {
            id: Some(self.id.clone()),
            task_set_arn: Some(self.arn.clone()),
            service_arn: Some(service_arn.to_string()),
            cluster_arn: Some(cluster_arn.to_string()),
            external_id: self.external_id.clone(),
            status: Some(self.status.as_str().into()),
            task_definition: Some(self.task_definition.clone()),
            computed_desired_count: self.computed_desired_count as i32,
            pending_count: self.pending_count as i32,
            running_count: self.running_count as i32,
            created_at: Some(self.created_at),
            updated_at: Some(self.updated_at),
            launch_type: self.launch_type,
            capacity_provider_strategy: self.capacity_provider_strategy.clone(),
            platform_version: (self.launch_type == Some(LaunchType::Fargate))
                .then(|| "1.4.0".to_string()),
            network_configuration: self.network_configuration.clone(),
            load_balancers: Some(self.load_balancers.clone()),
            service_registries: Some(Vec::new()),
            scale: Some(Scale {
                value: Some(self.scale),
                unit: Some(ScaleUnit::Percent),
            }),
            stability_status: Some(self.stability),
            stability_status_at: Some(self.stability_at),
            tags: with_tags.then(|| tags_to_wire(&self.tags)),
            ..Default::default()
        }
    }

    /// Records what the controller saw of its tasks; stability follows (STEADY_STATE
    /// when exactly its computed count runs, all healthy, nothing pending).
    pub fn observe(&mut self, pending: u32, running: u32, all_healthy: bool, now: Timestamp) {
        self.pending_count = pending;
        self.running_count = running;
        let steady = pending == 0 && running == self.computed_desired_count && all_healthy;
        let stability = if steady {
            StabilityStatus::SteadyState
        } else {
            StabilityStatus::Stabilizing
        };
        if stability != self.stability {
            self.stability = stability;
            self.stability_at = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_computed_count_rounds_up() {
        assert_eq!(computed_desired(4, 100.0), 4);
        assert_eq!(computed_desired(4, 0.0), 0);
        assert_eq!(computed_desired(3, 50.0), 2);
        assert_eq!(computed_desired(10, 33.3), 4);
        assert_eq!(computed_desired(0, 100.0), 0);
    }

    #[test]
    fn a_scale_is_a_percentage() {
        assert_eq!(scale_percent(None).unwrap(), 100.0);
        let given = |value, unit| Scale {
            value: Some(value),
            unit,
        };
        assert_eq!(scale_percent(Some(&given(25.0, None))).unwrap(), 25.0);
        assert_eq!(
            scale_percent(Some(&given(0.0, Some(ScaleUnit::Percent)))).unwrap(),
            0.0
        );
        for bad in [-1.0, 100.5, f64::NAN] {
            let e = scale_percent(Some(&given(bad, None))).unwrap_err();
            assert!(e.to_string().contains("between 0 and 100"), "{e}");
        }
    }

    #[test]
    fn stability_follows_the_counts_and_says_since_when() {
        let t = |s: i64| Timestamp::from_millis(s * 1000);
        let mut ts = TaskSetRecord {
            id: "ecs-svc/1".into(),
            arn: "arn".into(),
            external_id: None,
            client_token: None,
            status: TaskSetStatus::Active,
            task_definition: "td".into(),
            launch_type: None,
            capacity_provider_strategy: None,
            network_configuration: None,
            load_balancers: vec![],
            scale: 100.0,
            computed_desired_count: 2,
            pending_count: 0,
            running_count: 0,
            stability: StabilityStatus::Stabilizing,
            stability_at: t(1),
            created_at: t(1),
            updated_at: t(1),
            tags: Tags::new(),
        };
        ts.observe(1, 1, true, t(2));
        assert_eq!(
            (ts.stability, ts.stability_at),
            (StabilityStatus::Stabilizing, t(1))
        );
        ts.observe(0, 2, false, t(3));
        assert_eq!(ts.stability, StabilityStatus::Stabilizing);
        ts.observe(0, 2, true, t(4));
        assert_eq!(
            (ts.stability, ts.stability_at),
            (StabilityStatus::SteadyState, t(4))
        );
        ts.observe(0, 2, true, t(5));
        assert_eq!(ts.stability_at, t(4));
    }
}
