//! The store's key layout. Every ECS resource lives under its account and region:
//! `/ecs/ACCOUNT/REGION/KIND/...`. Names that go into keys are validated first (they are
//! restricted to letters, digits, `-` and `_`), so no key can alias another.

/// The account and region a call acts in, taken from its credential scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    fn base(&self) -> String {
        format!("/ecs/{}/{}", self.account, self.region)
    }

    /// Every cluster.
    pub fn clusters(&self) -> String {
        format!("{}/clusters/", self.base())
    }
    /// One cluster.
    pub fn cluster(&self, name: &str) -> String {
        format!("{}{name}", self.clusters())
    }

    /// Every task definition family's head record.
    pub fn families(&self) -> String {
        format!("{}/families/", self.base())
    }
    /// One family's head record (its latest revision number).
    pub fn family(&self, family: &str) -> String {
        format!("{}{family}", self.families())
    }
    /// Every revision of every family.
    pub fn task_definitions(&self) -> String {
        format!("{}/taskdefs/", self.base())
    }
    /// Every revision of one family, in revision order.
    pub fn family_revisions(&self, family: &str) -> String {
        format!("{}{family}/", self.task_definitions())
    }
    /// One revision. Zero-padded so key order is revision order.
    pub fn task_definition(&self, family: &str, revision: u32) -> String {
        format!("{}{revision:010}", self.family_revisions(family))
    }

    /// Every task of one cluster.
    pub fn tasks(&self, cluster: &str) -> String {
        format!("{}/tasks/{cluster}/", self.base())
    }
    /// Every task of every cluster.
    pub fn all_tasks(&self) -> String {
        format!("{}/tasks/", self.base())
    }
    /// One task.
    pub fn task(&self, cluster: &str, id: &str) -> String {
        format!("{}{id}", self.tasks(cluster))
    }

    /// Every service of one cluster.
    pub fn services(&self, cluster: &str) -> String {
        format!("{}/services/{cluster}/", self.base())
    }
    /// Every service of every cluster.
    pub fn all_services(&self) -> String {
        format!("{}/services/", self.base())
    }
    /// One service.
    pub fn service(&self, cluster: &str, name: &str) -> String {
        format!("{}{name}", self.services(cluster))
    }

    /// Every container instance of one cluster.
    pub fn instances(&self, cluster: &str) -> String {
        format!("{}/instances/{cluster}/", self.base())
    }
    /// One container instance.
    pub fn instance(&self, cluster: &str, id: &str) -> String {
        format!("{}{id}", self.instances(cluster))
    }

    /// The Fargate capacity pool: agents offering Fargate capacity to every cluster.
    pub fn fargate_pool(&self) -> String {
        format!("{}/fargate-pool/", self.base())
    }
    /// One member of the Fargate pool.
    pub fn fargate_pool_member(&self, id: &str) -> String {
        format!("{}{id}", self.fargate_pool())
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
}
