//! The store's key layout. Every ECS resource lives under its account and region:
//! `/ecs/ACCOUNT/REGION/KIND/...`. Names that go into keys are validated first (they are
//! restricted to letters, digits, `-` and `_`), so no key can alias another.

pub use berth_api::Scope;

/// Everything ECS keeps for `account`, in every region.
pub fn account_ecs(account: &str) -> String {
    format!("/ecs/{account}/")
}

/// Whether `key` is a task's: `/ecs/ACCOUNT/REGION/tasks/CLUSTER/ID`.
pub fn is_task_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    matches!(parts[..], ["", "ecs", _, _, "tasks", cluster, id] if !cluster.is_empty() && !id.is_empty())
}

/// The ECS keys of a [`Scope`].
pub trait EcsKeys {
    /// `/ecs/ACCOUNT/REGION`: everything of the scope.
    fn base(&self) -> String;

    /// Every cluster.
    fn clusters(&self) -> String {
        format!("{}/clusters/", self.base())
    }
    /// One cluster.
    fn cluster(&self, name: &str) -> String {
        format!("{}{name}", self.clusters())
    }

    /// Every task definition family's head record.
    fn families(&self) -> String {
        format!("{}/families/", self.base())
    }
    /// One family's head record (its latest revision number).
    fn family(&self, family: &str) -> String {
        format!("{}{family}", self.families())
    }
    /// Every revision of every family.
    fn task_definitions(&self) -> String {
        format!("{}/taskdefs/", self.base())
    }
    /// Every revision of one family, in revision order.
    fn family_revisions(&self, family: &str) -> String {
        format!("{}{family}/", self.task_definitions())
    }
    /// One revision. Zero-padded so key order is revision order.
    fn task_definition(&self, family: &str, revision: u32) -> String {
        format!("{}{revision:010}", self.family_revisions(family))
    }

    /// Every task of one cluster.
    fn tasks(&self, cluster: &str) -> String {
        format!("{}/tasks/{cluster}/", self.base())
    }
    /// Every capacity provider backed by an Auto Scaling group.
    fn capacity_providers(&self) -> String {
        format!("{}/capacity-providers/", self.base())
    }
    /// One of them.
    fn capacity_provider(&self, name: &str) -> String {
        format!("{}{name}", self.capacity_providers())
    }
    /// The account settings one principal set (its ARN, hex-encoded: ARNs hold `/`).
    fn account_settings(&self, principal_arn: &str) -> String {
        format!(
            "{}/account-settings/{}",
            self.base(),
            hex::encode(principal_arn)
        )
    }
    /// Every task of every cluster.
    fn all_tasks(&self) -> String {
        format!("{}/tasks/", self.base())
    }
    /// One task.
    fn task(&self, cluster: &str, id: &str) -> String {
        format!("{}{id}", self.tasks(cluster))
    }

    /// Every service of one cluster.
    fn services(&self, cluster: &str) -> String {
        format!("{}/services/{cluster}/", self.base())
    }
    /// Every service of every cluster.
    fn all_services(&self) -> String {
        format!("{}/services/", self.base())
    }
    /// One service.
    fn service(&self, cluster: &str, name: &str) -> String {
        format!("{}{name}", self.services(cluster))
    }

    /// Every container instance of one cluster.
    fn instances(&self, cluster: &str) -> String {
        format!("{}/instances/{cluster}/", self.base())
    }
    /// One container instance.
    fn instance(&self, cluster: &str, id: &str) -> String {
        format!("{}{id}", self.instances(cluster))
    }

    /// The Fargate capacity pool: agents offering Fargate capacity to every cluster.
    fn fargate_pool(&self) -> String {
        format!("{}/fargate-pool/", self.base())
    }
    /// One member of the Fargate pool.
    fn fargate_pool_member(&self, id: &str) -> String {
        format!("{}{id}", self.fargate_pool())
    }
}

/// The keys of Secrets Manager's secrets and SSM's parameters in a [`Scope`]:
/// `/secretsmanager/ACCOUNT/REGION/NAME` and `/ssm/ACCOUNT/REGION/parameters/NAME`. Both
/// services restrict names to characters that cannot alias another key (no `:`; `/`
/// only as a separator inside the name).
pub trait SecretKeys {
    /// Every secret.
    fn secrets(&self) -> String;
    /// One secret, by name.
    fn secret(&self, name: &str) -> String {
        format!("{}{name}", self.secrets())
    }
    /// Every parameter.
    fn parameters(&self) -> String;
    /// One parameter, by name (with its leading `/`, when it has one).
    fn parameter(&self, name: &str) -> String {
        format!("{}{name}", self.parameters())
    }
}

impl SecretKeys for Scope {
    fn secrets(&self) -> String {
        format!("/secretsmanager/{}/{}/", self.account, self.region)
    }
    fn parameters(&self) -> String {
        format!("/ssm/{}/{}/parameters/", self.account, self.region)
    }
}

impl EcsKeys for Scope {
    fn base(&self) -> String {
        format!("/ecs/{}/{}", self.account, self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_nest_without_aliasing() {
        let s = Scope {
            account: "000000000000".into(),
            region: "us-east-1".into(),
        };
        assert_eq!(
            s.cluster("prod"),
            "/ecs/000000000000/us-east-1/clusters/prod"
        );
        assert_eq!(
            s.task_definition("web", 12),
            "/ecs/000000000000/us-east-1/taskdefs/web/0000000012"
        );
        // A family that is a prefix of another does not share its revisions' prefix.
        assert!(!s
            .task_definition("web-2", 1)
            .starts_with(&s.family_revisions("web")));
        assert!(s.task("prod", "abc").starts_with(&s.tasks("prod")));
        assert!(!s.task("prod-2", "abc").starts_with(&s.tasks("prod")));
        assert!(s.tasks("prod").starts_with(&s.all_tasks()));
    }

    #[test]
    fn task_keys_are_told_apart_in_every_region() {
        let west = Scope::new("000000000000", "us-west-2");
        assert!(is_task_key(&west.task("prod", "abc")));
        assert!(west
            .task("prod", "abc")
            .starts_with(&account_ecs("000000000000")));
        assert!(!is_task_key(&west.cluster("prod")));
        assert!(!is_task_key(&west.instance("prod", "abc")));
        assert!(!is_task_key(&west.fargate_pool_member("abc")));
        assert!(!is_task_key(&west.tasks("prod")));
    }
}
