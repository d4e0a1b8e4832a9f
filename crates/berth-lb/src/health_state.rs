//! Target health as ELBv2 reports it (states, reasons and AWS's descriptions) and the
//! pure state machine health checks drive: consecutive successes and failures against
//! the healthy and unhealthy thresholds.
//!
//! ```text
//!            healthy_threshold successes          healthy_threshold successes
//!   initial ───────────────────────────► healthy ◄──────────────────────────┐
//!      │                                    │                                │
//!      │ unhealthy_threshold failures       │ unhealthy_threshold failures   │
//!      └──────────────────────────────► unhealthy ───────────────────────────┘
//! ```

use serde::{Deserialize, Serialize};

use crate::error::ElbError;
use crate::model::wire_enum;

wire_enum! {
    /// `TargetHealthStateEnum`.
    TargetHealthState {
        Initial = "initial",
        Healthy = "healthy",
        Unhealthy = "unhealthy",
        UnhealthyDraining = "unhealthy.draining",
        Unused = "unused",
        Draining = "draining",
        Unavailable = "unavailable",
    }
}

wire_enum! {
    /// `TargetHealthReasonEnum`.
    Reason {
        RegistrationInProgress = "Elb.RegistrationInProgress",
        InitialHealthChecking = "Elb.InitialHealthChecking",
        ResponseCodeMismatch = "Target.ResponseCodeMismatch",
        Timeout = "Target.Timeout",
        FailedHealthChecks = "Target.FailedHealthChecks",
        NotRegistered = "Target.NotRegistered",
        NotInUse = "Target.NotInUse",
        DeregistrationInProgress = "Target.DeregistrationInProgress",
        InvalidState = "Target.InvalidState",
        IpUnusable = "Target.IpUnusable",
        HealthCheckDisabled = "Target.HealthCheckDisabled",
        InternalError = "Elb.InternalError",
    }
}

/// What DescribeTargetHealth says about one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub state: TargetHealthState,
    pub reason: Option<Reason>,
    pub description: Option<String>,
}

impl TargetHealth {
    /// A state with a reason and AWS's description of it.
    pub fn because(state: TargetHealthState, reason: Reason) -> TargetHealth {
        TargetHealth {
            state,
            reason: Some(reason),
            description: Some(describe(reason, None)),
        }
    }

    /// Healthy: no reason, no description.
    pub fn healthy() -> TargetHealth {
        TargetHealth {
            state: TargetHealthState::Healthy,
            reason: None,
            description: None,
        }
    }
}

/// AWS's description of a reason; `code` is the status a mismatching check got.
pub fn describe(reason: Reason, code: Option<u16>) -> String {
    match reason {
        Reason::RegistrationInProgress => "Target registration is in progress".into(),
        Reason::InitialHealthChecking => "Initial health checks in progress".into(),
        Reason::ResponseCodeMismatch => format!(
            "Health checks failed with these codes: [{}]",
            code.map(|c| c.to_string()).unwrap_or_default()
        ),
        Reason::Timeout => "Request timed out".into(),
        Reason::FailedHealthChecks => "Health checks failed".into(),
        Reason::NotRegistered => "Target is not registered to the target group".into(),
        Reason::NotInUse => {
            "Target group is not configured to receive traffic from the load balancer".into()
        }
        Reason::DeregistrationInProgress => "Target deregistration is in progress".into(),
        Reason::InvalidState => "Target is in the stopped state".into(),
        Reason::IpUnusable => "The target IP address is not usable".into(),
        Reason::HealthCheckDisabled => "Health checks are disabled".into(),
        Reason::InternalError => "Health checks failed with an internal error".into(),
    }
}

/// One health check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Success,
    /// The target answered with a status the matcher does not accept.
    CodeMismatch(u16),
    /// No answer within the timeout.
    Timeout,
    /// Refused, reset, or not HTTP.
    Failed,
}

impl Probe {
    fn failure(self) -> TargetHealth {
        let (reason, code) = match self {
            Probe::CodeMismatch(code) => (Reason::ResponseCodeMismatch, Some(code)),
            Probe::Timeout => (Reason::Timeout, None),
            _ => (Reason::FailedHealthChecks, None),
        };
        TargetHealth {
            state: TargetHealthState::Unhealthy,
            reason: Some(reason),
            description: Some(describe(reason, code)),
        }
    }
}

/// Counts consecutive results against the thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthMachine {
    status: TargetHealth,
    successes: u32,
    failures: u32,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
}

impl HealthMachine {
    /// Starts from `status` (initial for a new registration, or what was last
    /// reported, so a restart does not send healthy targets back to `initial`).
    pub fn new(status: TargetHealth, healthy_threshold: u32, unhealthy_threshold: u32) -> Self {
        HealthMachine {
            status,
            successes: 0,
            failures: 0,
            healthy_threshold: healthy_threshold.max(1),
            unhealthy_threshold: unhealthy_threshold.max(1),
        }
    }

    /// The status now.
    pub fn status(&self) -> &TargetHealth {
        &self.status
    }

    /// Takes one result; returns the new status when what is reported changed.
    pub fn observe(&mut self, probe: Probe) -> Option<TargetHealth> {
        let next = if probe == Probe::Success {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            (self.status.state != TargetHealthState::Healthy
                && self.successes >= self.healthy_threshold)
                .then(TargetHealth::healthy)
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            let failed = probe.failure();
            match self.status.state {
                // Once unhealthy, the reason follows the latest failure.
                TargetHealthState::Unhealthy => Some(failed),
                _ if self.failures >= self.unhealthy_threshold => Some(failed),
                _ => None,
            }
        };
        match next {
            Some(status) if status != self.status => {
                self.status = status.clone();
                Some(status)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initial() -> TargetHealth {
        TargetHealth::because(TargetHealthState::Initial, Reason::InitialHealthChecking)
    }

    #[test]
    fn thresholds_decide_transitions() {
        let mut m = HealthMachine::new(initial(), 3, 2);
        assert_eq!(m.observe(Probe::Success), None);
        assert_eq!(m.observe(Probe::Success), None);
        assert_eq!(m.observe(Probe::Success), Some(TargetHealth::healthy()));
        assert_eq!(m.observe(Probe::Success), None, "no repeat reports");
        assert_eq!(m.observe(Probe::Timeout), None);
        assert_eq!(m.observe(Probe::Success), None, "a success resets failures");
        assert_eq!(m.observe(Probe::Timeout), None);
        let down = m.observe(Probe::Timeout).unwrap();
        assert_eq!(down.state, TargetHealthState::Unhealthy);
        assert_eq!(down.reason, Some(Reason::Timeout));
        assert_eq!(down.description.as_deref(), Some("Request timed out"));
        let mismatch = m.observe(Probe::CodeMismatch(503)).unwrap();
        assert_eq!(mismatch.reason, Some(Reason::ResponseCodeMismatch));
        assert_eq!(
            mismatch.description.as_deref(),
            Some("Health checks failed with these codes: [503]")
        );
        assert_eq!(m.observe(Probe::CodeMismatch(503)), None);
        assert_eq!(m.observe(Probe::Success), None);
        assert_eq!(m.observe(Probe::Failed), Some(Probe::Failed.failure()));
        for _ in 0..2 {
            assert_eq!(m.observe(Probe::Success), None);
        }
        assert_eq!(m.observe(Probe::Success), Some(TargetHealth::healthy()));
    }

    #[test]
    fn initial_targets_can_fail_straight_to_unhealthy() {
        let mut m = HealthMachine::new(initial(), 5, 2);
        assert_eq!(m.observe(Probe::Failed), None);
        let s = m.observe(Probe::Failed).unwrap();
        assert_eq!(
            (s.state, s.reason),
            (
                TargetHealthState::Unhealthy,
                Some(Reason::FailedHealthChecks)
            )
        );
        assert_eq!(m.status(), &s);
    }
}
