//! Container instance capabilities, named as ECS names them. A task definition
//! *requires* some (its `requiresAttributes`, computed by `berth-model` when it is
//! registered); an agent *advertises* the ones it honours when it registers, and the
//! scheduler places a task only where every requirement is advertised.
//!
//! Both sides take their names from here, and [`advertised`] is the one list of what a
//! Berth agent offers: the real agent registers with it and so does the testkit's fake
//! agent, so no requirement can be met in tests alone. [`NOT_OFFERED`] lists the
//! requirements Berth computes that no Berth agent offers, each with what is missing,
//! which is what a placement failure says.

/// The older prefix (`com.amazonaws.ecs.capability.`), kept by ECS for its first
/// capabilities.
const LEGACY: &str = "com.amazonaws.ecs.capability.";

pub const DOCKER_REMOTE_API_1_17: &str = "com.amazonaws.ecs.capability.docker-remote-api.1.17";
pub const DOCKER_REMOTE_API_1_18: &str = "com.amazonaws.ecs.capability.docker-remote-api.1.18";
pub const DOCKER_REMOTE_API_1_19: &str = "com.amazonaws.ecs.capability.docker-remote-api.1.19";
pub const DOCKER_REMOTE_API_1_21: &str = "com.amazonaws.ecs.capability.docker-remote-api.1.21";
pub const DOCKER_REMOTE_API_1_24: &str = "com.amazonaws.ecs.capability.docker-remote-api.1.24";
pub const DOCKER_REMOTE_API_1_25: &str = "com.amazonaws.ecs.capability.docker-remote-api.1.25";
pub const PRIVILEGED_CONTAINER: &str = "com.amazonaws.ecs.capability.privileged-container";
pub const ECR_AUTH: &str = "com.amazonaws.ecs.capability.ecr-auth";
pub const TASK_IAM_ROLE: &str = "com.amazonaws.ecs.capability.task-iam-role";
pub const TASK_IAM_ROLE_NETWORK_HOST: &str =
    "com.amazonaws.ecs.capability.task-iam-role-network-host";
pub const TASK_ENI: &str = "ecs.capability.task-eni";
pub const TASK_CPU_MEM_LIMIT: &str = "ecs.capability.task-cpu-mem-limit";
pub const CONTAINER_ORDERING: &str = "ecs.capability.container-ordering";
pub const CONTAINER_HEALTH_CHECK: &str = "ecs.capability.container-health-check";
pub const ENV_FILES_S3: &str = "ecs.capability.env-files.s3";
pub const DOCKER_PLUGIN_LOCAL: &str = "ecs.capability.docker-plugin.local";
pub const PID_IPC_NAMESPACE_SHARING: &str = "ecs.capability.pid-ipc-namespace-sharing";
pub const EXECUTION_ROLE_ECR_PULL: &str = "ecs.capability.execution-role-ecr-pull";
pub const EXECUTION_ROLE_AWSLOGS: &str = "ecs.capability.execution-role-awslogs";
pub const SECRETS_ASM_ENV: &str = "ecs.capability.secrets.asm.environment-variables";
pub const SECRETS_SSM_ENV: &str = "ecs.capability.secrets.ssm.environment-variables";
pub const SECRETS_ASM_LOG_DRIVER: &str = "ecs.capability.secrets.asm.bootstrap.log-driver";
pub const SECRETS_SSM_LOG_DRIVER: &str = "ecs.capability.secrets.ssm.bootstrap.log-driver";
pub const PRIVATE_REGISTRY_AUTH_ASM: &str =
    "ecs.capability.private-registry-authentication.secretsmanager";
pub const EFS: &str = "ecs.capability.efs";
pub const EFS_AUTH: &str = "ecs.capability.efsAuth";
pub const FSX_WINDOWS_FILE_SERVER: &str = "ecs.capability.fsxWindowsFileServer";
pub const FIRELENS_FLUENTD: &str = "ecs.capability.firelens.fluentd";
pub const FIRELENS_FLUENTBIT: &str = "ecs.capability.firelens.fluentbit";
pub const LOGGING_DRIVER_AWSFIRELENS: &str =
    "com.amazonaws.ecs.capability.logging-driver.awsfirelens";
pub const TASK_EIA: &str = "ecs.capability.task-eia";
pub const APPMESH: &str = "ecs.capability.aws-appmesh";
pub const CONTAINER_RESTART_POLICY: &str = "ecs.capability.container-restart-policy";
pub const EXECUTE_COMMAND: &str = "ecs.capability.execute-command";

/// `com.amazonaws.ecs.capability.logging-driver.DRIVER`: a Docker logging driver.
pub fn logging_driver(driver: &str) -> String {
    format!("{LEGACY}logging-driver.{driver}")
}

/// The logging driver a `logging-driver.*` capability names, if it is one.
pub fn logging_driver_of(capability: &str) -> Option<&str> {
    capability
        .strip_prefix(LEGACY)?
        .strip_prefix("logging-driver.")
}

/// What a Berth agent has been set up to offer, beyond what every Berth agent offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFeatures {
    /// Task role credentials are served (`ECS_ENABLE_TASK_IAM_ROLE`).
    pub task_iam_role: bool,
    /// Logging drivers containers may use (`ECS_AVAILABLE_LOGGING_DRIVERS`).
    pub logging_drivers: Vec<String>,
}

impl Default for AgentFeatures {
    /// A Berth agent's defaults: task roles on (its credentials endpoint needs no
    /// iptables set-up, unlike the ECS agent's) and the `json-file`, `awslogs` (shipped by
    /// the agent itself) and `none` logging drivers.
    fn default() -> Self {
        AgentFeatures {
            task_iam_role: true,
            logging_drivers: vec!["json-file".into(), "awslogs".into(), "none".into()],
        }
    }
}

/// Every capability a Berth agent with `features` advertises, in a stable order.
///
/// Each is here because the agent honours it: Docker's API versions for the fields
/// that need them, container ordering and health checks, the task ENI of awsvpc tasks,
/// task-level cpu and memory as container limits, environment files, Docker volumes,
/// pulling from Berth's registry with the agent's own login (ECR
/// auth, with or without an execution role), `secrets` from Secrets Manager and
/// Parameter Store in the environment and `repositoryCredentials` from Secrets Manager
/// (read with the execution role over the agent channel), and awslogs shipped by the agent itself
/// (with or without an execution role) when awslogs is among the logging drivers.
pub fn advertised(features: &AgentFeatures) -> Vec<String> {
    let mut names: Vec<String> = [
        DOCKER_REMOTE_API_1_17,
        DOCKER_REMOTE_API_1_18,
        DOCKER_REMOTE_API_1_19,
        DOCKER_REMOTE_API_1_21,
        DOCKER_REMOTE_API_1_24,
        DOCKER_REMOTE_API_1_25,
        PRIVILEGED_CONTAINER,
        CONTAINER_ORDERING,
        CONTAINER_HEALTH_CHECK,
        TASK_ENI,
        TASK_CPU_MEM_LIMIT,
        ENV_FILES_S3,
        DOCKER_PLUGIN_LOCAL,
        ECR_AUTH,
        EXECUTION_ROLE_ECR_PULL,
        SECRETS_ASM_ENV,
        SECRETS_SSM_ENV,
        PRIVATE_REGISTRY_AUTH_ASM,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if features.task_iam_role {
        names.push(TASK_IAM_ROLE.into());
        names.push(TASK_IAM_ROLE_NETWORK_HOST.into());
    }
    for driver in &features.logging_drivers {
        names.push(logging_driver(driver));
    }
    if features.logging_drivers.iter().any(|d| d == "awslogs") {
        names.push(EXECUTION_ROLE_AWSLOGS.into());
    }
    names
}

/// Requirements Berth computes that no Berth agent offers yet, with what is missing in
/// words a person can act on.
pub const NOT_OFFERED: &[(&str, &str)] = &[
    (
        SECRETS_ASM_LOG_DRIVER,
        "log driver secrets from AWS Secrets Manager (`secretOptions`)",
    ),
    (
        SECRETS_SSM_LOG_DRIVER,
        "log driver secrets from SSM Parameter Store (`secretOptions`)",
    ),
    (EFS, "EFS volumes (`efsVolumeConfiguration`)"),
    (
        EFS_AUTH,
        "EFS access points and IAM authorization (`efsVolumeConfiguration`)",
    ),
    (
        FSX_WINDOWS_FILE_SERVER,
        "FSx for Windows File Server volumes",
    ),
    (FIRELENS_FLUENTD, "FireLens log routing with Fluentd"),
    (FIRELENS_FLUENTBIT, "FireLens log routing with Fluent Bit"),
    (
        LOGGING_DRIVER_AWSFIRELENS,
        "the awsfirelens log driver (FireLens)",
    ),
    (TASK_EIA, "Elastic Inference accelerators"),
    (APPMESH, "App Mesh proxies (`proxyConfiguration`)"),
    (
        PID_IPC_NAMESPACE_SHARING,
        "shared process and IPC namespaces (`pidMode`, `ipcMode`)",
    ),
    (
        CONTAINER_RESTART_POLICY,
        "container restart policies (`restartPolicy`)",
    ),
];

/// Why an instance lacking `capability` cannot run a task, for placement failures:
/// names the capability and, when Berth knows, the feature behind it.
pub fn missing(capability: &str) -> String {
    if let Some((_, what)) = NOT_OFFERED.iter().find(|(name, _)| *name == capability) {
        return format!(
            "Missing attribute {capability}: no Berth agent supports {what}; remove it from \
             the task definition"
        );
    }
    if let Some(driver) = logging_driver_of(capability) {
        return format!(
            "Missing attribute {capability}: no agent offers the {driver} logging driver \
             (ECS_AVAILABLE_LOGGING_DRIVERS)"
        );
    }
    format!("Missing attribute {capability}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_feature() -> AgentFeatures {
        AgentFeatures::default()
    }

    #[test]
    fn nothing_not_offered_is_advertised() {
        let offered = advertised(&every_feature());
        for (name, _) in NOT_OFFERED {
            assert!(!offered.iter().any(|o| o == name), "{name} is advertised");
        }
    }

    #[test]
    fn awslogs_with_an_execution_role_comes_with_the_awslogs_driver() {
        let with = advertised(&every_feature());
        assert!(with.iter().any(|c| c == EXECUTION_ROLE_AWSLOGS));
        assert!(with.contains(&logging_driver("awslogs")));
        let without = advertised(&AgentFeatures {
            task_iam_role: false,
            logging_drivers: vec!["json-file".into()],
        });
        assert!(!without.iter().any(|c| c == EXECUTION_ROLE_AWSLOGS));
        assert!(!without.iter().any(|c| c == TASK_IAM_ROLE));
    }

    #[test]
    fn missing_names_the_capability_and_the_feature() {
        let m = missing(SECRETS_ASM_LOG_DRIVER);
        assert!(
            m.contains(SECRETS_ASM_LOG_DRIVER) && m.contains("Secrets Manager"),
            "{m}"
        );
        let m = missing(&logging_driver("splunk"));
        assert!(m.contains("splunk logging driver"), "{m}");
        assert_eq!(missing("x.y"), "Missing attribute x.y");
    }
}
