//! Task lifecycle states as ECS names them, in the order a task moves through them, with
//! the predicates that decide what may happen next.

use serde::{Deserialize, Serialize};

/// A task's or container's `lastStatus`. Declared in lifecycle order; a status never
/// moves backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    Provisioning,
    Pending,
    Activating,
    Running,
    Deactivating,
    Stopping,
    Deprovisioning,
    Stopped,
}

impl TaskStatus {
    /// All statuses, in lifecycle order.
    pub const ALL: [TaskStatus; 8] = [
        TaskStatus::Provisioning,
        TaskStatus::Pending,
        TaskStatus::Activating,
        TaskStatus::Running,
        TaskStatus::Deactivating,
        TaskStatus::Stopping,
        TaskStatus::Deprovisioning,
        TaskStatus::Stopped,
    ];

    /// The name ECS uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Provisioning => "PROVISIONING",
            TaskStatus::Pending => "PENDING",
            TaskStatus::Activating => "ACTIVATING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Deactivating => "DEACTIVATING",
            TaskStatus::Stopping => "STOPPING",
            TaskStatus::Deprovisioning => "DEPROVISIONING",
            TaskStatus::Stopped => "STOPPED",
        }
    }

    /// Parses an ECS status name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a report of `next` may replace this status (forward only; repeating the
    /// current status is harmless).
    pub fn can_move_to(self, next: TaskStatus) -> bool {
        next >= self
    }

    /// Whether the task has finished for good.
    pub fn is_stopped(self) -> bool {
        self == TaskStatus::Stopped
    }

    /// Whether the task counts as pending in cluster and instance statistics (placed,
    /// not yet running).
    pub fn counts_as_pending(self) -> bool {
        self < TaskStatus::Running
    }

    /// Whether the task counts as running in statistics.
    pub fn counts_as_running(self) -> bool {
        self == TaskStatus::Running
    }
}

/// What a task is meant to be doing: ECS's `desiredStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DesiredStatus {
    Running,
    Stopped,
}

impl DesiredStatus {
    /// The name ECS uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredStatus::Running => "RUNNING",
            DesiredStatus::Stopped => "STOPPED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward() {
        for (i, a) in TaskStatus::ALL.iter().enumerate() {
            for (j, b) in TaskStatus::ALL.iter().enumerate() {
                assert_eq!(a.can_move_to(*b), j >= i, "{a:?} -> {b:?}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(TaskStatus::parse("running"), None);
        assert!(TaskStatus::Pending.counts_as_pending());
        assert!(!TaskStatus::Running.counts_as_pending());
        assert!(TaskStatus::Stopped.is_stopped());
    }
}
