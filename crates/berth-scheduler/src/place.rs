//! The placement engine: filters (status, agent, attributes, constraints, resources) and
//! ranking (strategies in order, then the tie-break) for each task of a request.
//!
//! Ranking is a lexicographic argmin over the feasible instances, but the engine avoids
//! scoring every instance:
//!
//! * a leading `binpack(R)` walks the view's `(remaining R, id)` index upward from the
//!   task's need; the first feasible entry has the least remaining R, and the remaining
//!   strategies then run over the entries tied at that value (one range of the index);
//! * a leading `spread(F)` visits the field's values in order of their task counts
//!   ("levels") and solves the remaining strategies inside the first level that has a
//!   feasible instance;
//! * `random` samples uniformly (rejection sampling, then a full scan if that fails);
//! * no strategy left: the lowest feasible ARN, found with the view's fit tree, which
//!   skips instances without the memory or cpu for the task.
//!
//! Tasks already placed by this request live in a small overlay (instance → tasks), so
//! the view is never changed here; instances in the overlay are scored separately
//! because their index entries are stale.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::PlacementError;
use crate::expr::{Expression, Facts};
use crate::hash::IdMap;
use crate::plan::{FailureReason, Placement, PlacementFailure, Plan};
use crate::request::{
    PlacementConstraint, PlacementRequest, PlacementStrategy, Protocol, RequiredAttribute,
    Resource, SpreadField, TaskNeeds, TieBreak, MAX_STRATEGIES,
};
use crate::view::{Inst, View, ABSENT};

/// Random draws before `random` falls back to scanning every instance.
const RANDOM_TRIES: usize = 64;

/// What one task takes from an instance, normalised (ports sorted, deduplicated,
/// dynamic port 0 dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Need {
    pub(crate) cpu: u32,
    pub(crate) mem: u32,
    pub(crate) tcp: Vec<u16>,
    pub(crate) udp: Vec<u16>,
    pub(crate) gpus: u32,
}

impl Need {
    fn of(task: &TaskNeeds) -> Need {
        let ports = |proto: Protocol| {
            let mut v: Vec<u16> = task
                .host_ports
                .iter()
                .filter(|p| p.protocol == proto && p.port != 0)
                .map(|p| p.port)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        Need {
            cpu: task.cpu,
            mem: task.memory_mib,
            tcp: ports(Protocol::Tcp),
            udp: ports(Protocol::Udp),
            gpus: task.gpus,
        }
    }
}

/// A strategy resolved against the view.
#[derive(Debug, Clone, Copy)]
enum Strat {
    Binpack(Resource),
    SpreadInstance,
    SpreadAttr { name: u32, slot: usize },
    Random,
}

/// A restriction a spread level adds to the candidates.
#[derive(Debug, Clone)]
enum Pred {
    /// The instance's value of attribute `name` is one of `values`.
    AttrIn { name: u32, values: Vec<u32> },
    /// The instance hosts exactly this many tasks of the group.
    GroupCount(u32),
    /// The instance has exactly this much of the resource left.
    Remaining(Resource, u32),
}

/// The candidates a sub-problem ranks: everything passing `preds`, or only `list`.
#[derive(Debug, Clone, Default)]
struct Scope {
    preds: Vec<Pred>,
    list: Option<Vec<u32>>,
    /// Set inside a binpack tie (`preds` then holds the matching `Remaining`): scan the
    /// index entries with that value instead of every instance.
    hint: Option<(Resource, u32)>,
}

impl Scope {
    fn with(&self, pred: Pred) -> Scope {
        let mut preds = self.preds.clone();
        preds.push(pred);
        Scope {
            preds,
            list: None,
            hint: self.hint,
        }
    }
}

/// A required attribute resolved against the view.
struct Required {
    name: Option<u32>,
    /// `None`: any value; `Some(None)`: a value no instance has.
    value: Option<Option<u32>>,
}

/// An instance as expressions see it, with this plan's tasks added.
struct InstFacts<'a> {
    view: &'a View,
    inst: &'a Inst,
    group: &'a str,
    extra: u32,
}

impl Facts for InstFacts<'_> {
    fn attribute(&self, name: &str) -> Option<&str> {
        let n = self.view.names.get(name)?;
        let v = self.inst.attr(n);
        (v != ABSENT).then(|| self.view.values.resolve(v))
    }

    fn ec2_instance_id(&self) -> Option<&str> {
        self.inst.ec2_instance_id.as_deref()
    }

    fn agent_connected(&self) -> bool {
        self.inst.agent_connected
    }

    fn agent_version(&self) -> Option<&str> {
        self.inst.agent_version.as_deref()
    }

    fn registered_at(&self) -> Option<i64> {
        self.inst.registered_at
    }

    fn running_tasks_count(&self) -> u64 {
        u64::from(self.inst.running) + u64::from(self.extra)
    }

    fn hosts_group(&self, group: &str) -> bool {
        (self.extra > 0 && group == self.group)
            || self
                .view
                .groups
                .get(group)
                .is_some_and(|g| self.inst.group_count(g) > 0)
    }

    fn any_group(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        (self.extra > 0 && f(self.group))
            || self
                .inst
                .groups
                .iter()
                .any(|&(g, _)| f(self.view.groups.resolve(g)))
    }
}

struct Engine<'a> {
    view: &'a View,
    need: Need,
    group: &'a str,
    gid: Option<u32>,
    distinct: bool,
    required: Vec<Required>,
    /// The request's required attributes, in the order of `required`.
    required_source: &'a [RequiredAttribute],
    /// Per instance, whether each memberOf expression that does not depend on tasks
    /// holds (shared through the view's cache).
    verdicts: Vec<Arc<Vec<bool>>>,
    /// memberOf expressions that read `task:group` or `runningTasksCount`.
    dynamic: Vec<&'a Expression>,
    random_ties: bool,
    rng: StdRng,
    /// (instance, tasks of this plan on it), sorted by instance.
    overlay: Vec<(u32, u32)>,
    spread_names: Vec<u32>,
    spread_base: Vec<IdMap<u32>>,
    spread_now: Vec<IdMap<u32>>,
}

/// Plans a request; see the module docs.
pub(crate) fn place(view: &View, req: &PlacementRequest) -> Result<Plan, PlacementError> {
    req.validate()?;
    if view.insts.is_empty() {
        return Err(PlacementError::NoContainerInstances);
    }
    let mut eng = Engine::new(view, req);
    let strats = eng.resolve(&req.strategies);
    let mut placements = Vec::with_capacity(req.count as usize);
    let mut failures = Vec::new();
    for _ in 0..req.count {
        eng.refresh_spread();
        match eng.best(&strats, &Scope::default()) {
            Some(idx) => {
                let t = eng.tasks_on(idx) as usize;
                let inst = &view.insts[idx as usize];
                let g = eng.need.gpus as usize;
                let gpu_ids = inst.gpus[t * g..(t + 1) * g].to_vec();
                eng.add(idx);
                placements.push(Placement {
                    container_instance_arn: inst.arn.clone(),
                    gpu_ids,
                    instance: idx,
                });
            }
            None => {
                failures = eng.failures();
                break;
            }
        }
    }
    Ok(Plan {
        placements,
        failures,
        requested: req.count,
        view_id: view.id,
        revision: view.revision,
        need: eng.need,
        group: req.group.clone(),
    })
}

impl<'a> Engine<'a> {
    fn new(view: &'a View, req: &'a PlacementRequest) -> Self {
        let mut verdicts = Vec::new();
        let mut dynamic = Vec::new();
        for c in &req.constraints {
            let PlacementConstraint::MemberOf(e) = c else {
                continue;
            };
            if e.depends_on_tasks() {
                dynamic.push(e);
                continue;
            }
            verdicts.push(view.verdicts.get_or_compute(e.as_str(), || {
                view.insts
                    .iter()
                    .map(|inst| {
                        e.evaluate(&InstFacts {
                            view,
                            inst,
                            group: &req.group,
                            extra: 0,
                        })
                    })
                    .collect()
            }));
        }
        let required = req
            .task
            .required_attributes
            .iter()
            .map(|r| Required {
                name: view.names.get(&r.name),
                value: r.value.as_deref().map(|v| view.values.get(v)),
            })
            .collect();
        Engine {
            view,
            need: Need::of(&req.task),
            group: &req.group,
            gid: view.groups.get(&req.group),
            distinct: req
                .constraints
                .iter()
                .any(|c| matches!(c, PlacementConstraint::DistinctInstance)),
            required,
            required_source: &req.task.required_attributes,
            verdicts,
            dynamic,
            random_ties: req.tie_break == TieBreak::Random,
            rng: StdRng::seed_from_u64(req.seed),
            overlay: Vec::new(),
            spread_names: Vec::new(),
            spread_base: Vec::new(),
            spread_now: Vec::new(),
        }
    }

    /// Resolves strategies against the view. A spread over an attribute no instance has
    /// puts every instance in one bucket, so it is dropped.
    fn resolve(&mut self, strategies: &[PlacementStrategy]) -> Vec<Strat> {
        let view = self.view;
        let mut out = Vec::with_capacity(MAX_STRATEGIES);
        for s in strategies {
            match s {
                PlacementStrategy::Binpack(r) => out.push(Strat::Binpack(*r)),
                PlacementStrategy::Random => out.push(Strat::Random),
                PlacementStrategy::Spread(SpreadField::InstanceId) => {
                    out.push(Strat::SpreadInstance)
                }
                PlacementStrategy::Spread(SpreadField::Attribute(name)) => {
                    let Some(name) = view.names.get(name) else {
                        continue;
                    };
                    let mut base = IdMap::default();
                    if let Some(g) = self.gid {
                        for (&idx, &n) in &view.group_members[g as usize] {
                            *base.entry(view.insts[idx as usize].attr(name)).or_default() += n;
                        }
                    }
                    out.push(Strat::SpreadAttr {
                        name,
                        slot: self.spread_names.len(),
                    });
                    self.spread_names.push(name);
                    self.spread_base.push(base);
                }
            }
        }
        self.spread_now = self.spread_base.clone();
        out
    }

    /// Recomputes the per-value task counts of attribute spreads with the overlay added.
    fn refresh_spread(&mut self) {
        for slot in 0..self.spread_names.len() {
            let mut now = self.spread_base[slot].clone();
            for &(idx, t) in &self.overlay {
                *now.entry(self.view.insts[idx as usize].attr(self.spread_names[slot]))
                    .or_default() += t;
            }
            self.spread_now[slot] = now;
        }
    }

    fn tasks_on(&self, idx: u32) -> u32 {
        match self.overlay.binary_search_by_key(&idx, |e| e.0) {
            Ok(i) => self.overlay[i].1,
            Err(_) => 0,
        }
    }

    fn add(&mut self, idx: u32) {
        match self.overlay.binary_search_by_key(&idx, |e| e.0) {
            Ok(i) => self.overlay[i].1 += 1,
            Err(i) => self.overlay.insert(i, (idx, 1)),
        }
    }

    /// Tasks of the request's group on the instance, counting `t` placed by this plan.
    fn group_count(&self, idx: u32, t: u32) -> u32 {
        self.gid
            .map_or(0, |g| self.view.insts[idx as usize].group_count(g))
            + t
    }

    fn member_of_holds(&self, idx: u32, t: u32) -> bool {
        if !self.verdicts.iter().all(|v| v[idx as usize]) {
            return false;
        }
        if self.dynamic.is_empty() {
            return true;
        }
        let facts = InstFacts {
            view: self.view,
            inst: &self.view.insts[idx as usize],
            group: self.group,
            extra: t,
        };
        self.dynamic.iter().all(|e| e.evaluate(&facts))
    }

    /// The index of the first required attribute instance `idx` lacks.
    fn missing_attribute(&self, idx: u32) -> Option<usize> {
        let inst = &self.view.insts[idx as usize];
        self.required.iter().position(|r| match (r.name, r.value) {
            (None, _) => true,
            (Some(n), None) => inst.attr(n) == ABSENT,
            (Some(n), Some(v)) => v.is_none_or(|v| inst.attr(n) != v),
        })
    }

    /// Why instance `idx`, already holding `t` tasks of this plan, cannot take one more;
    /// `None` when it can. Checks run in the order failures are reported.
    fn check(&mut self, idx: u32, t: u32) -> Option<FailureReason> {
        let inst = &self.view.insts[idx as usize];
        if inst.status != crate::InstanceStatus::Active {
            return Some(FailureReason::NotActive(inst.status));
        }
        if !inst.agent_connected {
            return Some(FailureReason::Agent);
        }
        if self.missing_attribute(idx).is_some() {
            return Some(FailureReason::Attribute);
        }
        if !self.member_of_holds(idx, t) {
            return Some(FailureReason::MemberOf);
        }
        if self.distinct && self.group_count(idx, t) > 0 {
            return Some(FailureReason::DistinctInstance);
        }
        let n = u64::from(t) + 1;
        let need = &self.need;
        if u64::from(inst.cpu) < n * u64::from(need.cpu) {
            return Some(FailureReason::Cpu);
        }
        if u64::from(inst.mem) < n * u64::from(need.mem) {
            return Some(FailureReason::Memory);
        }
        let taken = |want: &[u16], used: &[u16]| {
            !want.is_empty() && (t > 0 || want.iter().any(|p| used.binary_search(p).is_ok()))
        };
        if taken(&need.tcp, &inst.tcp) {
            return Some(FailureReason::Ports);
        }
        if taken(&need.udp, &inst.udp) {
            return Some(FailureReason::PortsUdp);
        }
        if (inst.gpus.len() as u64) < n * u64::from(need.gpus) {
            return Some(FailureReason::Gpu);
        }
        None
    }

    fn admits(&self, scope: &Scope, idx: u32, t: u32) -> bool {
        scope.preds.iter().all(|p| match p {
            Pred::AttrIn { name, values } => {
                values.contains(&self.view.insts[idx as usize].attr(*name))
            }
            Pred::GroupCount(level) => self.group_count(idx, t) == *level,
            Pred::Remaining(r, value) => self.remaining(*r, idx, t) == *value,
        })
    }

    /// In scope and able to take one more task.
    fn candidate(&mut self, scope: &Scope, idx: u32) -> bool {
        let t = self.tasks_on(idx);
        self.admits(scope, idx, t) && self.check(idx, t).is_none()
    }

    /// The best instance for the next task among `scope`, ranked by `strats`.
    fn best(&mut self, strats: &[Strat], scope: &Scope) -> Option<u32> {
        if let Some(list) = &scope.list {
            let cands: Vec<u32> = list
                .iter()
                .copied()
                .filter(|&idx| self.candidate(scope, idx))
                .collect();
            return self.rank(&cands, strats);
        }
        if scope.hint.is_some() && matches!(strats.first(), Some(Strat::Binpack(_))) {
            // A second binpack inside a binpack tie: rank the (few) tied instances.
            let cands = self.scan(scope, false);
            return self.rank(&cands, strats);
        }
        match strats.first() {
            None => self.first_in_order(scope),
            Some(Strat::Random) => self.random_pick(scope),
            Some(Strat::Binpack(r)) => self.binpack(*r, &strats[1..], scope),
            Some(Strat::SpreadInstance) => self.spread_instance(&strats[1..], scope),
            Some(Strat::SpreadAttr { name, slot }) => {
                self.spread_attr(*name, *slot, &strats[1..], scope)
            }
        }
    }

    /// Next instance from `from` on, in id order, whose remaining memory and cpu (before
    /// this plan) hold a task; instances this plan uses only have less, so none is missed.
    fn next_fitting(&self, from: u32) -> Option<u32> {
        self.view.fit.next(from, self.need.mem, self.need.cpu)
    }

    /// Candidates in scope in ascending id order: all of them, or only the first.
    fn scan(&mut self, scope: &Scope, first_only: bool) -> Vec<u32> {
        let mut out = Vec::new();
        let Some((r, value)) = scope.hint else {
            let mut from = 0;
            while let Some(idx) = self.next_fitting(from) {
                if self.candidate(scope, idx) {
                    out.push(idx);
                    if first_only {
                        break;
                    }
                }
                from = idx + 1;
            }
            return out;
        };
        // Untouched instances with that value sit together in the index, by id; instances
        // this plan uses are elsewhere in it, so merge them in.
        let view = self.view;
        let index = match r {
            Resource::Cpu => &view.by_cpu,
            Resource::Memory => &view.by_mem,
        };
        let mut untouched = index
            .range((value, 0)..=(value, u32::MAX))
            .map(|&(_, idx)| idx);
        let touched: Vec<u32> = self.overlay.iter().map(|&(idx, _)| idx).collect();
        let (mut next_u, mut ti) = (untouched.next(), 0);
        loop {
            let idx = match (next_u, touched.get(ti)) {
                (None, None) => break,
                (Some(u), Some(&t)) if t < u => {
                    ti += 1;
                    t
                }
                (None, Some(&t)) => {
                    ti += 1;
                    t
                }
                (Some(u), _) => {
                    next_u = untouched.next();
                    if self.tasks_on(u) > 0 {
                        continue;
                    }
                    u
                }
            };
            if self.candidate(scope, idx) {
                out.push(idx);
                if first_only {
                    break;
                }
            }
        }
        out
    }

    /// No strategy left: lowest id (ARN order), or uniformly at random among the tied
    /// candidates (every candidate in scope is tied here).
    fn first_in_order(&mut self, scope: &Scope) -> Option<u32> {
        if self.random_ties {
            return self.random_pick(scope);
        }
        self.scan(scope, true).first().copied()
    }

    /// Uniform over the candidates in scope: rejection sampling (cheap when many
    /// instances qualify), then a scan of the scope (cheap when few do). Both accept
    /// exactly the same set, so the pick is uniform either way.
    fn random_pick(&mut self, scope: &Scope) -> Option<u32> {
        let sched = &self.view.schedulable;
        if sched.is_empty() {
            return None;
        }
        for _ in 0..RANDOM_TRIES {
            let idx = sched[self.rng.gen_range(0..sched.len())];
            if self.candidate(scope, idx) {
                return Some(idx);
            }
        }
        let all = self.scan(scope, false);
        (!all.is_empty()).then(|| all[self.rng.gen_range(0..all.len())])
    }

    fn remaining(&self, r: Resource, idx: u32, t: u32) -> u32 {
        let inst = &self.view.insts[idx as usize];
        let (have, need) = match r {
            Resource::Cpu => (inst.cpu, self.need.cpu),
            Resource::Memory => (inst.mem, self.need.mem),
        };
        (u64::from(have).saturating_sub(u64::from(t) * u64::from(need))) as u32
    }

    /// Least remaining `r` that fits, walking the index; ties go to `rest`.
    fn binpack(&mut self, r: Resource, rest: &[Strat], scope: &Scope) -> Option<u32> {
        let view = self.view;
        let (index, need) = match r {
            Resource::Cpu => (&view.by_cpu, self.need.cpu),
            Resource::Memory => (&view.by_mem, self.need.mem),
        };
        // First feasible untouched entry: least remaining among untouched instances.
        let mut best: Option<(u32, u32)> = None; // (value, idx)
        for &(value, idx) in index.range((need, 0)..) {
            // Instances this plan already uses are scored below with their real remainder.
            if self.tasks_on(idx) == 0 && self.candidate(scope, idx) {
                best = Some((value, idx));
                break;
            }
        }
        for i in 0..self.overlay.len() {
            let (idx, t) = self.overlay[i];
            if !self.admits(scope, idx, t) || self.check(idx, t).is_some() {
                continue;
            }
            let value = self.remaining(r, idx, t);
            if best.is_none_or(|b| (value, idx) < b) {
                best = Some((value, idx));
            }
        }
        let (value, idx) = best?;
        if rest.is_empty() && !self.random_ties {
            return Some(idx);
        }
        let mut tie = scope.with(Pred::Remaining(r, value));
        tie.hint = Some((r, value));
        self.best(rest, &tie)
    }

    /// Visits instances by how many tasks of the group they hold, fewest first.
    fn spread_instance(&mut self, rest: &[Strat], scope: &Scope) -> Option<u32> {
        let view = self.view;
        let mut counts: Vec<(u32, u32)> = Vec::new(); // (count, idx)
        if let Some(g) = self.gid {
            for (&idx, &n) in &view.group_members[g as usize] {
                counts.push((n + self.tasks_on(idx), idx));
            }
        }
        for &(idx, t) in &self.overlay {
            if self
                .gid
                .map_or(0, |g| view.insts[idx as usize].group_count(g))
                == 0
            {
                counts.push((t, idx));
            }
        }
        counts.sort_unstable();
        let holders = counts
            .iter()
            .filter(|&&(_, idx)| view.insts[idx as usize].schedulable())
            .count();
        if holders < view.schedulable.len() {
            if let Some(b) = self.best(rest, &scope.with(Pred::GroupCount(0))) {
                return Some(b);
            }
        }
        for level in counts.chunk_by(|a, b| a.0 == b.0) {
            let sub = Scope {
                preds: scope.preds.clone(),
                list: Some(level.iter().map(|&(_, idx)| idx).collect()),
                hint: None,
            };
            if let Some(b) = self.best(rest, &sub) {
                return Some(b);
            }
        }
        None
    }

    /// Visits the attribute's values by how many tasks of the group they hold.
    fn spread_attr(
        &mut self,
        name: u32,
        slot: usize,
        rest: &[Strat],
        scope: &Scope,
    ) -> Option<u32> {
        let view = self.view;
        let now = &self.spread_now[slot];
        let count = |v: &u32| now.get(v).copied().unwrap_or(0);
        let mut values: Vec<(u32, u32)> = view
            .attr_values
            .get(&name)
            .map(|m| m.keys().map(|v| (count(v), *v)).collect())
            .unwrap_or_default();
        let holders = view.attr_holders.get(&name).copied().unwrap_or(0) as usize;
        if holders < view.schedulable.len() {
            values.push((count(&ABSENT), ABSENT));
        }
        values.sort_unstable();
        for level in values.chunk_by(|a, b| a.0 == b.0) {
            let pred = Pred::AttrIn {
                name,
                values: level.iter().map(|&(_, v)| v).collect(),
            };
            if let Some(b) = self.best(rest, &scope.with(pred)) {
                return Some(b);
            }
        }
        None
    }

    /// Full lexicographic ranking of explicit candidates (ascending ids, all feasible).
    fn rank(&mut self, cands: &[u32], strats: &[Strat]) -> Option<u32> {
        let mut best: Option<([u64; MAX_STRATEGIES + 1], u32)> = None;
        for &idx in cands {
            let t = self.tasks_on(idx);
            let mut key = [0u64; MAX_STRATEGIES + 1];
            for (k, s) in key.iter_mut().zip(strats) {
                *k = match *s {
                    Strat::Binpack(r) => u64::from(self.remaining(r, idx, t)),
                    Strat::SpreadInstance => u64::from(self.group_count(idx, t)),
                    Strat::SpreadAttr { name, slot } => {
                        let v = self.view.insts[idx as usize].attr(name);
                        u64::from(self.spread_now[slot].get(&v).copied().unwrap_or(0))
                    }
                    Strat::Random => self.rng.gen(),
                };
            }
            if self.random_ties {
                key[MAX_STRATEGIES] = self.rng.gen();
            }
            if best.is_none_or(|b| (key, idx) < b) {
                best = Some((key, idx));
            }
        }
        best.map(|(_, idx)| idx)
    }

    /// One failure per instance, in ARN order, for the next task.
    fn failures(&mut self) -> Vec<PlacementFailure> {
        let view = self.view;
        (0..view.insts.len() as u32)
            .filter_map(|idx| {
                let t = self.tasks_on(idx);
                let reason = self.check(idx, t)?;
                let missing_attribute = match reason {
                    FailureReason::Attribute => self
                        .missing_attribute(idx)
                        .map(|i| self.required_source[i].clone()),
                    _ => None,
                };
                Some(PlacementFailure {
                    arn: view.insts[idx as usize].arn.clone(),
                    reason,
                    missing_attribute,
                })
            })
            .collect()
    }
}
