//! One account and region's ELBv2 configuration read from the store at one revision,
//! the lookups handlers need, and the one way it changes: [`mutate`].
//!
//! Every change is planned against a whole snapshot of the scope and committed only if
//! the scope's epoch key is unchanged since the snapshot (the commit bumps it). That makes
//! changes serializable per scope, so rules that span resources (unique names, one
//! listener per port, a target group serving one load balancer, no deleting what is in
//! use) hold without finer locks. Configuration changes are rare; a conflict replans
//! (the records layer's one loop, [`berth_store::records::update`], retries it).
//! Health reports of the data plane are not configuration: they neither read nor bump
//! the epoch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use berth_store::records::{self, Step};
use berth_store::{Compare, KeyValue, Op, Revision, Store, Txn};

use crate::arn::{ListenerArn, LoadBalancerArn, RuleArn, TargetGroupArn};
use crate::error::ElbError;
use crate::keys::{self, ElbKeys, Kind, Scope};
use crate::resources::{
    HealthRecord, ListenerRecord, LoadBalancerRecord, RuleRecord, TargetGroupRecord, TargetRecord,
};

/// What a change contends for, as its `Throttling` error names it: changes are
/// serialized per account and region.
pub(crate) const CONTENDED: &str = "this account's load balancers";

/// A record with the revisions the store gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored<T> {
    pub key: String,
    pub value: T,
    pub create_revision: Revision,
    pub mod_revision: Revision,
}

/// One scope's configuration at one revision.
#[derive(Debug, Clone, Default)]
pub struct ScopeConfig {
    pub scope: Scope,
    /// The store revision read at.
    pub revision: Revision,
    /// The epoch key's revision (0: never changed).
    pub epoch: Revision,
    /// By name.
    pub load_balancers: BTreeMap<String, LoadBalancerRecord>,
    /// By name.
    pub target_groups: BTreeMap<String, TargetGroupRecord>,
    /// By store key (`…/listener/LBID/LID`).
    pub listeners: BTreeMap<String, ListenerRecord>,
    /// By store key (`…/rule/LID/RID`).
    pub rules: BTreeMap<String, RuleRecord>,
    /// By store key (`…/target/TGID/ID:PORT`).
    pub targets: BTreeMap<String, Stored<TargetRecord>>,
    /// By store key (`…/health/TGID/ID:PORT`).
    pub health: BTreeMap<String, HealthRecord>,
}

/// A change to commit: its result and its writes (plus any compares of its own, such
/// as a port claim's absence).
pub struct Plan<T> {
    pub output: T,
    pub ops: Vec<Op>,
    pub compares: Vec<Compare>,
}

impl<T> Plan<T> {
    /// A change that writes nothing.
    pub fn read_only(output: T) -> Plan<T> {
        Plan {
            output,
            ops: Vec::new(),
            compares: Vec::new(),
        }
    }
}

impl ScopeConfig {
    /// Reads one scope.
    pub async fn load(store: &dyn Store, scope: &Scope) -> Result<ScopeConfig, ElbError> {
        let snapshot = store
            .snapshot(&[scope.prefix()])
            .await
            .map_err(ElbError::store)?;
        let mut config = ScopeConfig {
            scope: scope.clone(),
            revision: snapshot.revision,
            ..Default::default()
        };
        for kv in snapshot.kvs {
            config.add(kv)?;
        }
        Ok(config)
    }

    /// Reads every scope at one revision (the data plane's view).
    pub async fn load_all(store: &dyn Store) -> Result<(Revision, Vec<ScopeConfig>), ElbError> {
        let snapshot = store
            .snapshot(&[keys::ROOT.to_string()])
            .await
            .map_err(ElbError::store)?;
        let mut scopes: BTreeMap<Scope, ScopeConfig> = BTreeMap::new();
        for kv in snapshot.kvs {
            let Some((scope, _)) = keys::parse(&kv.key) else {
                continue;
            };
            let config = scopes.entry(scope.clone()).or_insert_with(|| ScopeConfig {
                scope,
                revision: snapshot.revision,
                ..Default::default()
            });
            let key = kv.key.clone();
            if let Err(e) = config.add(kv) {
                tracing::warn!(key = %key, error = %e, "skipping an unreadable ELB record");
            }
        }
        Ok((snapshot.revision, scopes.into_values().collect()))
    }

    fn add(&mut self, kv: KeyValue) -> Result<(), ElbError> {
        let Some((_, kind)) = keys::parse(&kv.key) else {
            return Ok(());
        };
        match kind {
            Kind::Epoch => self.epoch = kv.mod_revision,
            Kind::LoadBalancer => {
                let lb = records::decode::<LoadBalancerRecord>(kv)?.value;
                self.load_balancers.insert(lb.name.clone(), lb);
            }
            Kind::TargetGroup => {
                let tg = records::decode::<TargetGroupRecord>(kv)?.value;
                self.target_groups.insert(tg.name.clone(), tg);
            }
            Kind::Listener => {
                let listener = records::decode::<ListenerRecord>(kv)?;
                self.listeners.insert(listener.key, listener.value);
            }
            Kind::Rule => {
                let rule = records::decode::<RuleRecord>(kv)?;
                self.rules.insert(rule.key, rule.value);
            }
            Kind::Target => {
                let create_revision = kv.create_revision;
                let target = records::decode::<TargetRecord>(kv)?;
                self.targets.insert(
                    target.key.clone(),
                    Stored {
                        key: target.key,
                        value: target.value,
                        create_revision,
                        mod_revision: target.revision,
                    },
                );
            }
            Kind::Health => {
                let health = records::decode::<HealthRecord>(kv)?;
                self.health.insert(health.key, health.value);
            }
        }
        Ok(())
    }

    /// The transaction that commits `plan`'s writes only if nothing changed the scope
    /// since this snapshot (it bumps the epoch), with the plan's output.
    pub fn txn<T>(&self, plan: Plan<T>) -> (Txn, T) {
        let mut txn = Txn::new().when(Compare::unchanged(self.scope.epoch(), self.epoch));
        for c in plan.compares {
            txn = txn.when(c);
        }
        for op in plan.ops {
            txn = txn.then(op);
        }
        txn = txn.then(Op::put(self.scope.epoch(), self.revision.to_string()));
        (txn, plan.output)
    }

    fn not_in_scope(&self, scope: &Scope) -> bool {
        *scope != self.scope
    }

    /// The load balancer an ARN names.
    pub fn load_balancer(&self, arn: &str) -> Result<&LoadBalancerRecord, ElbError> {
        let not_found =
            || ElbError::LoadBalancerNotFound(format!("Load balancer '{arn}' not found"));
        let parsed = LoadBalancerArn::parse(arn)?;
        if self.not_in_scope(&parsed.scope) {
            return Err(not_found());
        }
        self.load_balancers
            .get(&parsed.name)
            .filter(|lb| lb.id == parsed.id && lb.lb_type == parsed.lb_type)
            .ok_or_else(not_found)
    }

    /// The target group an ARN names.
    pub fn target_group(&self, arn: &str) -> Result<&TargetGroupRecord, ElbError> {
        let not_found = || ElbError::TargetGroupNotFound(format!("Target group '{arn}' not found"));
        let parsed = TargetGroupArn::parse(arn)?;
        if self.not_in_scope(&parsed.scope) {
            return Err(not_found());
        }
        self.target_groups
            .get(&parsed.name)
            .filter(|tg| tg.id == parsed.id)
            .ok_or_else(not_found)
    }

    /// The listener an ARN names.
    pub fn listener(&self, arn: &str) -> Result<&ListenerRecord, ElbError> {
        let not_found = || ElbError::ListenerNotFound(format!("Listener '{arn}' not found"));
        let parsed = ListenerArn::parse(arn)?;
        if self.not_in_scope(&parsed.load_balancer.scope) {
            return Err(not_found());
        }
        self.listeners
            .get(&self.scope.listener(&parsed.load_balancer.id, &parsed.id))
            .filter(|l| l.arn == arn)
            .ok_or_else(not_found)
    }

    /// The rule an ARN names, or `None` for a listener's default rule (with its
    /// listener).
    pub fn rule(&self, arn: &str) -> Result<(&ListenerRecord, Option<&RuleRecord>), ElbError> {
        let not_found = || ElbError::RuleNotFound(format!("Rule '{arn}' not found"));
        let parsed = RuleArn::parse(arn)?;
        let listener = self
            .listener(&parsed.listener.to_arn())
            .map_err(|_| not_found())?;
        if listener.default_rule_id == parsed.id {
            return Ok((listener, None));
        }
        let rule = self
            .rules
            .get(&self.scope.rule(&listener.id, &parsed.id))
            .ok_or_else(not_found)?;
        Ok((listener, Some(rule)))
    }

    /// A load balancer's listeners, in key order.
    pub fn listeners_of<'a>(
        &'a self,
        lb: &'a LoadBalancerRecord,
    ) -> impl Iterator<Item = &'a ListenerRecord> {
        let prefix = format!("{}listener/{}/", self.scope.prefix(), lb.id);
        self.listeners
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, l)| l)
    }

    /// A listener's rules (not its default rule), by priority.
    pub fn rules_of(&self, listener: &ListenerRecord) -> Vec<&RuleRecord> {
        let prefix = format!("{}rule/{}/", self.scope.prefix(), listener.id);
        let mut rules: Vec<&RuleRecord> = self
            .rules
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, r)| r)
            .collect();
        rules.sort_by_key(|r| r.priority);
        rules
    }

    /// A target group's registrations, draining ones included.
    pub fn targets_of<'a>(
        &'a self,
        tg: &TargetGroupRecord,
    ) -> impl Iterator<Item = &'a Stored<TargetRecord>> {
        let prefix = format!("{}target/{}/", self.scope.prefix(), tg.id);
        self.targets
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, t)| t)
    }

    /// The load balancers whose listeners or rules forward to a target group.
    pub fn load_balancers_of(&self, tg_arn: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for listener in self.listeners.values() {
            if listener
                .default_actions
                .iter()
                .any(|a| a.target_group_arns().any(|t| t == tg_arn))
            {
                found.insert(listener.load_balancer_arn.clone());
            }
        }
        for rule in self.rules.values() {
            if rule
                .actions
                .iter()
                .any(|a| a.target_group_arns().any(|t| t == tg_arn))
            {
                if let Some(listener) = self.listeners.values().find(|l| l.arn == rule.listener_arn)
                {
                    found.insert(listener.load_balancer_arn.clone());
                }
            }
        }
        found
    }
}

/// Plans a change against a fresh snapshot of `scope` and commits it, replanning when
/// another change got in first (so `plan` may run more than once).
pub async fn mutate<T>(
    store: &dyn Store,
    scope: &Scope,
    plan: impl FnMut(&ScopeConfig) -> Result<Plan<T>, ElbError>,
) -> Result<T, ElbError> {
    // The attempt's future borrows `plan`; a lock (never held across an await) lets
    // each attempt call it mutably.
    let plan = &Mutex::new(plan);
    records::update(store, CONTENDED, || async move {
        let config = ScopeConfig::load(store, scope).await?;
        let planned = (plan.lock().expect("plan lock"))(&config)?;
        if planned.ops.is_empty() {
            return Ok(Step::Done(planned.output));
        }
        let (txn, output) = config.txn(planned);
        Ok(Step::Commit(txn, output))
    })
    .await
}
