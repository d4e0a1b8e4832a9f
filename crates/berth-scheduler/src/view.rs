//! The scheduler's view of a cluster: container instances, interned and indexed so that a
//! placement touches only the few instances that can win.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{ApplyError, PlacementError, ViewError};
use crate::hash::IdMap;
use crate::instance::{ContainerInstance, InstanceStatus};
use crate::plan::Plan;
use crate::request::PlacementRequest;

/// Value id of an attribute an instance does not have (its own spread bucket).
pub(crate) const ABSENT: u32 = u32::MAX;

static NEXT_VIEW_ID: AtomicU64 = AtomicU64::new(1);

/// Strings ↔ dense ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interner {
    ids: HashMap<Box<str>, u32>,
    strs: Vec<Box<str>>,
}

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strs.len() as u32;
        self.strs.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    pub(crate) fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    pub(crate) fn resolve(&self, id: u32) -> &str {
        &self.strs[id as usize]
    }
}

/// One instance, interned.
#[derive(Debug, Clone)]
pub(crate) struct Inst {
    pub(crate) arn: String,
    pub(crate) ec2_instance_id: Option<String>,
    pub(crate) status: InstanceStatus,
    pub(crate) agent_connected: bool,
    pub(crate) agent_version: Option<String>,
    pub(crate) registered_at: Option<i64>,
    pub(crate) cpu: u32,
    pub(crate) mem: u32,
    /// Sorted.
    pub(crate) tcp: Vec<u16>,
    /// Sorted.
    pub(crate) udp: Vec<u16>,
    /// Sorted; tasks take them from the front.
    pub(crate) gpus: Vec<String>,
    /// (name id, value id) sorted by name; a valueless attribute has the value `""`.
    pub(crate) attrs: Vec<(u32, u32)>,
    pub(crate) running: u32,
    /// (group id, count > 0) sorted by group.
    pub(crate) groups: Vec<(u32, u32)>,
}

impl Inst {
    pub(crate) fn schedulable(&self) -> bool {
        self.status == InstanceStatus::Active && self.agent_connected
    }

    /// Value id of an attribute, or [`ABSENT`].
    pub(crate) fn attr(&self, name: u32) -> u32 {
        match self.attrs.binary_search_by_key(&name, |&(n, _)| n) {
            Ok(i) => self.attrs[i].1,
            Err(_) => ABSENT,
        }
    }

    /// Tasks of a group on the instance.
    pub(crate) fn group_count(&self, group: u32) -> u32 {
        match self.groups.binary_search_by_key(&group, |&(g, _)| g) {
            Ok(i) => self.groups[i].1,
            Err(_) => 0,
        }
    }
}

/// Largest remaining (memory, cpu) over ranges of instance ids, so the next instance in
/// id order that can hold a task is found without visiting the full ones.
#[derive(Debug, Clone, Default)]
pub(crate) struct FitTree {
    size: usize,
    /// Heap layout, leaves at `size..2 * size`; a leaf holds (memory + 1, cpu + 1) of a
    /// schedulable instance and (0, 0) otherwise.
    max: Vec<(u64, u64)>,
}

impl FitTree {
    fn new(len: usize) -> Self {
        let size = len.next_power_of_two().max(1);
        FitTree {
            size,
            max: vec![(0, 0); 2 * size],
        }
    }

    fn set(&mut self, idx: u32, fit: Option<(u32, u32)>) {
        let mut i = self.size + idx as usize;
        self.max[i] = fit.map_or((0, 0), |(m, c)| (u64::from(m) + 1, u64::from(c) + 1));
        while i > 1 {
            i /= 2;
            let (l, r) = (self.max[2 * i], self.max[2 * i + 1]);
            self.max[i] = (l.0.max(r.0), l.1.max(r.1));
        }
    }

    /// Lowest schedulable id `>= from` with at least `mem` memory and `cpu` cpu left.
    pub(crate) fn next(&self, from: u32, mem: u32, cpu: u32) -> Option<u32> {
        let want = (u64::from(mem) + 1, u64::from(cpu) + 1);
        self.descend(1, 0, self.size, from as usize, want)
    }

    fn descend(
        &self,
        node: usize,
        lo: usize,
        hi: usize,
        from: usize,
        want: (u64, u64),
    ) -> Option<u32> {
        let (m, c) = self.max[node];
        if hi <= from || m < want.0 || c < want.1 {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo as u32);
        }
        let mid = (lo + hi) / 2;
        self.descend(2 * node, lo, mid, from, want)
            .or_else(|| self.descend(2 * node + 1, mid, hi, from, want))
    }
}

/// Per-instance answers of memberOf expressions that do not depend on tasks, computed
/// once and shared by every request until an instance changes.
#[derive(Default)]
pub(crate) struct VerdictCache(Mutex<HashMap<String, Arc<Vec<bool>>>>);

/// Most expressions whose verdicts are kept; beyond it the cache starts over.
const VERDICT_CACHE_ENTRIES: usize = 256;

impl VerdictCache {
    pub(crate) fn get_or_compute(
        &self,
        key: &str,
        compute: impl FnOnce() -> Vec<bool>,
    ) -> Arc<Vec<bool>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = map.get(key) {
            return Arc::clone(v);
        }
        if map.len() >= VERDICT_CACHE_ENTRIES {
            map.clear();
        }
        let v = Arc::new(compute());
        map.insert(key.to_owned(), Arc::clone(&v));
        v
    }

    fn clear(&mut self) {
        self.0.get_mut().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Clone for VerdictCache {
    fn clone(&self) -> Self {
        VerdictCache::default()
    }
}

impl std::fmt::Debug for VerdictCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerdictCache")
    }
}

/// A cluster snapshot indexed for placement. Build it once, [`place`](View::place) many
/// requests against it, and [`apply`](View::apply) each plan the store committed.
#[derive(Debug, Clone)]
pub struct View {
    pub(crate) id: u64,
    pub(crate) revision: u64,
    /// Sorted by ARN; the index is the instance id everywhere else.
    pub(crate) insts: Vec<Inst>,
    by_arn: HashMap<String, u32>,
    /// Schedulable instances by (remaining memory, id).
    pub(crate) by_mem: BTreeSet<(u32, u32)>,
    /// Schedulable instances by (remaining cpu, id).
    pub(crate) by_cpu: BTreeSet<(u32, u32)>,
    /// Schedulable instance ids, ascending.
    pub(crate) schedulable: Vec<u32>,
    /// Schedulable instances' remaining (memory, cpu) by id.
    pub(crate) fit: FitTree,
    pub(crate) verdicts: VerdictCache,
    pub(crate) names: Interner,
    pub(crate) values: Interner,
    pub(crate) groups: Interner,
    /// Group id → instance id → tasks of the group there (all instances).
    pub(crate) group_members: Vec<IdMap<u32>>,
    /// Attribute name id → value id → number of schedulable instances with it.
    pub(crate) attr_values: IdMap<BTreeMap<u32, u32>>,
    /// Attribute name id → number of schedulable instances that have it.
    pub(crate) attr_holders: IdMap<u32>,
}

impl View {
    /// Builds a view from a snapshot; instance order does not matter.
    pub fn new(instances: impl IntoIterator<Item = ContainerInstance>) -> Result<View, ViewError> {
        Self::build(
            NEXT_VIEW_ID.fetch_add(1, Ordering::Relaxed),
            0,
            instances.into_iter().collect(),
        )
    }

    fn build(
        id: u64,
        revision: u64,
        mut instances: Vec<ContainerInstance>,
    ) -> Result<View, ViewError> {
        instances.sort_by(|a, b| a.arn.cmp(&b.arn));
        if let Some(w) = instances.windows(2).find(|w| w[0].arn == w[1].arn) {
            return Err(ViewError::DuplicateInstance(w[0].arn.clone()));
        }
        let mut view = View {
            id,
            revision,
            insts: Vec::with_capacity(instances.len()),
            by_arn: HashMap::with_capacity(instances.len()),
            by_mem: BTreeSet::new(),
            by_cpu: BTreeSet::new(),
            schedulable: Vec::new(),
            fit: FitTree::new(instances.len()),
            verdicts: VerdictCache::default(),
            names: Interner::default(),
            values: Interner::default(),
            groups: Interner::default(),
            group_members: Vec::new(),
            attr_values: IdMap::default(),
            attr_holders: IdMap::default(),
        };
        for (idx, ci) in instances.into_iter().enumerate() {
            let inst = view.intern(ci);
            view.by_arn.insert(inst.arn.clone(), idx as u32);
            view.insts.push(inst);
            view.index(idx as u32);
        }
        Ok(view)
    }

    fn intern(&mut self, ci: ContainerInstance) -> Inst {
        let mut attrs: Vec<(u32, u32)> = ci
            .attributes
            .iter()
            .map(|(n, v)| {
                (
                    self.names.intern(n),
                    self.values.intern(v.as_deref().unwrap_or("")),
                )
            })
            .collect();
        attrs.sort_unstable();
        let mut groups: Vec<(u32, u32)> = ci
            .task_groups
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(g, &n)| (self.group_id(g), n))
            .collect();
        groups.sort_unstable();
        Inst {
            arn: ci.arn,
            ec2_instance_id: ci.ec2_instance_id,
            status: ci.status,
            agent_connected: ci.agent_connected,
            agent_version: ci.agent_version,
            registered_at: ci.registered_at,
            cpu: ci.remaining_cpu,
            mem: ci.remaining_memory_mib,
            tcp: ci.used_tcp_ports.into_iter().collect(),
            udp: ci.used_udp_ports.into_iter().collect(),
            gpus: ci.remaining_gpu_ids.into_iter().collect(),
            attrs,
            running: ci.running_tasks_count,
            groups,
        }
    }

    fn group_id(&mut self, name: &str) -> u32 {
        let id = self.groups.intern(name);
        if id as usize == self.group_members.len() {
            self.group_members.push(IdMap::default());
        }
        id
    }

    /// Adds instance `idx` to every index.
    fn index(&mut self, idx: u32) {
        let inst = &self.insts[idx as usize];
        for &(g, n) in &inst.groups {
            self.group_members[g as usize].insert(idx, n);
        }
        if inst.schedulable() {
            self.by_mem.insert((inst.mem, idx));
            self.by_cpu.insert((inst.cpu, idx));
            self.fit.set(idx, Some((inst.mem, inst.cpu)));
            if let Err(pos) = self.schedulable.binary_search(&idx) {
                self.schedulable.insert(pos, idx);
            }
            for &(n, v) in &inst.attrs {
                *self.attr_values.entry(n).or_default().entry(v).or_default() += 1;
                *self.attr_holders.entry(n).or_default() += 1;
            }
        }
    }

    /// Removes instance `idx` from every index.
    fn unindex(&mut self, idx: u32) {
        let inst = &self.insts[idx as usize];
        for &(g, _) in &inst.groups {
            self.group_members[g as usize].remove(&idx);
        }
        if inst.schedulable() {
            self.by_mem.remove(&(inst.mem, idx));
            self.by_cpu.remove(&(inst.cpu, idx));
            self.fit.set(idx, None);
            if let Ok(pos) = self.schedulable.binary_search(&idx) {
                self.schedulable.remove(pos);
            }
            for &(n, v) in &inst.attrs {
                if let Some(values) = self.attr_values.get_mut(&n) {
                    if let Some(c) = values.get_mut(&v) {
                        *c -= 1;
                        if *c == 0 {
                            values.remove(&v);
                        }
                    }
                }
                if let Some(c) = self.attr_holders.get_mut(&n) {
                    *c -= 1;
                }
            }
        }
    }

    /// Plans `request` against the current state without changing it.
    pub fn place(&self, request: &PlacementRequest) -> Result<Plan, PlacementError> {
        crate::place::place(self, request)
    }

    /// Applies a plan the store committed, so later requests see the resources it took.
    /// Fails if the plan was made by another view or before another change to this one.
    pub fn apply(&mut self, plan: &Plan) -> Result<(), ApplyError> {
        if plan.view_id != self.id {
            return Err(ApplyError::ForeignPlan);
        }
        if plan.revision != self.revision {
            return Err(ApplyError::StalePlan {
                plan: plan.revision,
                view: self.revision,
            });
        }
        let gid = self.group_id(&plan.group);
        let need = &plan.need;
        for p in &plan.placements {
            let idx = p.instance;
            let inst = &mut self.insts[idx as usize];
            let schedulable = inst.schedulable();
            if schedulable {
                self.by_mem.remove(&(inst.mem, idx));
                self.by_cpu.remove(&(inst.cpu, idx));
            }
            inst.cpu = inst.cpu.saturating_sub(need.cpu);
            inst.mem = inst.mem.saturating_sub(need.mem);
            if schedulable {
                self.by_mem.insert((inst.mem, idx));
                self.by_cpu.insert((inst.cpu, idx));
                self.fit.set(idx, Some((inst.mem, inst.cpu)));
            }
            for (ports, add) in [(&mut inst.tcp, &need.tcp), (&mut inst.udp, &need.udp)] {
                for &port in add {
                    if let Err(pos) = ports.binary_search(&port) {
                        ports.insert(pos, port);
                    }
                }
            }
            inst.gpus.retain(|g| !p.gpu_ids.contains(g));
            inst.running += 1;
            let count = match inst.groups.binary_search_by_key(&gid, |&(g, _)| g) {
                Ok(i) => {
                    inst.groups[i].1 += 1;
                    inst.groups[i].1
                }
                Err(i) => {
                    inst.groups.insert(i, (gid, 1));
                    1
                }
            };
            self.group_members[gid as usize].insert(idx, count);
        }
        self.revision += 1;
        Ok(())
    }

    /// Adds an instance or replaces the one with the same ARN (a heartbeat, attribute
    /// change, drain, or a task that stopped and freed resources).
    pub fn upsert_instance(&mut self, instance: ContainerInstance) {
        match self.by_arn.get(&instance.arn).copied() {
            Some(idx) => {
                self.unindex(idx);
                let inst = self.intern(instance);
                self.insts[idx as usize] = inst;
                self.index(idx);
                self.verdicts.clear();
                self.revision += 1;
            }
            None => {
                let mut all: Vec<ContainerInstance> = self.instances().collect();
                all.push(instance);
                self.rebuild(all);
            }
        }
    }

    /// Removes an instance; returns whether it was there.
    pub fn remove_instance(&mut self, arn: &str) -> bool {
        if !self.by_arn.contains_key(arn) {
            return false;
        }
        let all: Vec<ContainerInstance> = self.instances().filter(|i| i.arn != arn).collect();
        self.rebuild(all);
        true
    }

    fn rebuild(&mut self, all: Vec<ContainerInstance>) {
        let rebuilt = Self::build(self.id, self.revision + 1, all)
            .expect("instances of a view have distinct ARNs");
        *self = rebuilt;
    }

    /// Revision: starts at 0 and grows with every applied plan or instance change.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Number of instances.
    pub fn len(&self) -> usize {
        self.insts.len()
    }

    /// True when the view holds no instance.
    pub fn is_empty(&self) -> bool {
        self.insts.is_empty()
    }

    /// Current state of one instance (after applied plans).
    pub fn instance(&self, arn: &str) -> Option<ContainerInstance> {
        self.by_arn.get(arn).map(|&idx| self.export(idx))
    }

    /// Current state of every instance, in ARN order.
    pub fn instances(&self) -> impl Iterator<Item = ContainerInstance> + '_ {
        (0..self.insts.len() as u32).map(|idx| self.export(idx))
    }

    fn export(&self, idx: u32) -> ContainerInstance {
        let inst = &self.insts[idx as usize];
        ContainerInstance {
            arn: inst.arn.clone(),
            ec2_instance_id: inst.ec2_instance_id.clone(),
            status: inst.status,
            agent_connected: inst.agent_connected,
            agent_version: inst.agent_version.clone(),
            registered_at: inst.registered_at,
            remaining_cpu: inst.cpu,
            remaining_memory_mib: inst.mem,
            used_tcp_ports: inst.tcp.iter().copied().collect(),
            used_udp_ports: inst.udp.iter().copied().collect(),
            remaining_gpu_ids: inst.gpus.iter().cloned().collect(),
            attributes: inst
                .attrs
                .iter()
                .map(|&(n, v)| {
                    let v = self.values.resolve(v);
                    (
                        self.names.resolve(n).to_owned(),
                        (!v.is_empty()).then(|| v.to_owned()),
                    )
                })
                .collect(),
            running_tasks_count: inst.running,
            task_groups: inst
                .groups
                .iter()
                .map(|&(g, n)| (self.groups.resolve(g).to_owned(), n))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PlacementConstraint, PlacementStrategy, Resource, SpreadField, TaskNeeds};
    use proptest::prelude::*;

    impl View {
        /// Every index agrees with the instances.
        fn assert_consistent(&self) {
            let sched: Vec<u32> = (0..self.insts.len() as u32)
                .filter(|&i| self.insts[i as usize].schedulable())
                .collect();
            assert_eq!(self.schedulable, sched);
            let mem: BTreeSet<(u32, u32)> = sched
                .iter()
                .map(|&i| (self.insts[i as usize].mem, i))
                .collect();
            let cpu: BTreeSet<(u32, u32)> = sched
                .iter()
                .map(|&i| (self.insts[i as usize].cpu, i))
                .collect();
            assert_eq!(self.by_mem, mem);
            assert_eq!(self.by_cpu, cpu);
            let n = self.insts.len() as u32;
            for from in 0..n {
                for probe in 0..n {
                    let (m, c) = (
                        self.insts[probe as usize].mem,
                        self.insts[probe as usize].cpu,
                    );
                    let brute = (from..n).find(|&j| {
                        let o = &self.insts[j as usize];
                        o.schedulable() && o.mem >= m && o.cpu >= c
                    });
                    assert_eq!(self.fit.next(from, m, c), brute);
                }
            }
            for (g, members) in self.group_members.iter().enumerate() {
                for (&idx, &n) in members {
                    assert_eq!(self.insts[idx as usize].group_count(g as u32), n);
                }
            }
            for (idx, inst) in self.insts.iter().enumerate() {
                for &(g, n) in &inst.groups {
                    assert_eq!(self.group_members[g as usize].get(&(idx as u32)), Some(&n));
                }
                assert_eq!(self.by_arn[&inst.arn], idx as u32);
            }
            let mut values: IdMap<BTreeMap<u32, u32>> = IdMap::default();
            let mut holders: IdMap<u32> = IdMap::default();
            for &i in &sched {
                for &(n, v) in &self.insts[i as usize].attrs {
                    *values.entry(n).or_default().entry(v).or_default() += 1;
                    *holders.entry(n).or_default() += 1;
                }
            }
            let live = |m: &IdMap<BTreeMap<u32, u32>>| -> BTreeMap<u32, BTreeMap<u32, u32>> {
                m.iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (*k, v.clone()))
                    .collect()
            };
            assert_eq!(live(&self.attr_values), live(&values));
            let nonzero = |m: &IdMap<u32>| -> BTreeMap<u32, u32> {
                m.iter()
                    .filter(|(_, c)| **c > 0)
                    .map(|(k, c)| (*k, *c))
                    .collect()
            };
            assert_eq!(nonzero(&self.attr_holders), nonzero(&holders));
        }
    }

    fn instance(i: u8, mem: u32, active: bool, az: u8) -> ContainerInstance {
        let mut ci = ContainerInstance::new(format!("i-{i:03}"), 1024, mem)
            .with_attribute("az", Some(["a", "b", "c"][az as usize % 3]));
        if !active {
            ci.status = InstanceStatus::Draining;
        }
        ci
    }

    proptest! {
        #[test]
        fn indexes_follow_apply_upsert_and_remove(
            seed in prop::collection::vec((any::<u8>(), 0u32..4096, any::<bool>(), any::<u8>()), 1..20),
            ops in prop::collection::vec((0u8..4, any::<u8>(), 0u32..4096, any::<bool>()), 1..30),
        ) {
            let mut seen = std::collections::BTreeSet::new();
            let mut view = View::new(
                seed.into_iter()
                    .filter(|s| seen.insert(s.0))
                    .map(|(i, m, a, z)| instance(i, m, a, z)),
            ).unwrap();
            view.assert_consistent();
            for (op, i, m, flag) in ops {
                match op {
                    0 => view.upsert_instance(instance(i, m, flag, i)),
                    1 => { view.remove_instance(&format!("i-{i:03}")); }
                    _ => {
                        let strategy = if op == 2 {
                            PlacementStrategy::Binpack(Resource::Memory)
                        } else {
                            PlacementStrategy::Spread(SpreadField::Attribute("az".into()))
                        };
                        let mut req = crate::PlacementRequest::new(
                            format!("g{}", i % 3),
                            TaskNeeds { cpu: 16, memory_mib: m % 700, ..TaskNeeds::default() },
                            1 + u32::from(i % 10),
                        )
                        .strategy(strategy);
                        if flag {
                            req = req.constraint(PlacementConstraint::DistinctInstance);
                        }
                        if let Ok(plan) = view.place(&req) {
                            view.apply(&plan).unwrap();
                        }
                    }
                }
                view.assert_consistent();
            }
        }
    }
}
