//! Errors of the scheduler's public API.

use crate::expr::InvalidExpression;

/// A placement request the scheduler cannot work on. Each maps to an ECS client error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// A memberOf expression does not parse; maps to `InvalidParameterException`.
    #[error(transparent)]
    InvalidExpression(#[from] InvalidExpression),
    /// A placement strategy is malformed; maps to `InvalidParameterException`.
    #[error("invalid placement strategy: {0}")]
    InvalidStrategy(String),
    /// A placement constraint is malformed; maps to `InvalidParameterException`.
    #[error("invalid placement constraint: {0}")]
    InvalidConstraint(String),
    /// Some other part of the request is malformed; maps to `InvalidParameterException`.
    #[error("invalid placement request: {0}")]
    InvalidRequest(String),
    /// The view holds no container instances at all; ECS answers RunTask with this
    /// message as an `InvalidParameterException`.
    #[error("No Container Instances were found in your cluster.")]
    NoContainerInstances,
}

/// A plan that cannot be applied to this view; place again from the current view.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The view changed after the plan was made.
    #[error(
        "plan was made at view revision {plan} but the view is at revision {view}; place again"
    )]
    StalePlan {
        /// Revision the plan was made against.
        plan: u64,
        /// Current revision of the view.
        view: u64,
    },
    /// The plan was made by another view.
    #[error("plan was made by a different view; place again against this one")]
    ForeignPlan,
}

/// A snapshot that cannot become a view.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// Two instances share an ARN.
    #[error("container instance {0} appears more than once in the snapshot")]
    DuplicateInstance(String),
}
