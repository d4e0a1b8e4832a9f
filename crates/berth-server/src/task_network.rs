//! Task networking across hosts on the agent channel (see
//! [`berth_model::host_network`]): `POST /network` records a host's task subnet (the
//! one its network has, or a free /24 of the cluster's task range) and the address other
//! hosts route it via; `GET /routes` answers every other routable host's subnet and
//! address, long-polled like assignments. Agents program those routes; so does the
//! control plane's own host with `berth server --task-routes`.

use std::time::Duration;

use berth_api::agent::{NetworkAssignment, NetworkRequest, TaskRoute, TaskRoutes};
use berth_api::error::ApiError;
use berth_model::host_network::{first_free, Cidr, HostNetworkRecord};
use berth_store::{Compare, Op, Txn};
use futures::StreamExt;

use crate::context::Core;
use crate::keys::Scope;
use crate::records::{self, put, Record, Step};

/// The longest a routes long poll waits.
const MAX_WAIT_SECS: u64 = 30;

fn prefix(scope: &Scope) -> String {
    format!("/agents/{}/{}/task-subnets/", scope.account, scope.region)
}

fn key(scope: &Scope, subnet: &Cidr) -> String {
    format!("{}{}", prefix(scope), subnet.to_string().replace('/', "_"))
}

/// Records the task subnet of the host whose first registration is `instance_arn`.
pub async fn assign(
    core: &Core,
    range: &Cidr,
    req: &NetworkRequest,
) -> Result<NetworkAssignment, ApiError> {
    let scope = &core.home_scope();
    let store = &*core.store;
    let wanted = req
        .subnet
        .as_deref()
        .map(Cidr::parse)
        .transpose()
        .map_err(ApiError::InvalidParameter)?;
    if let Some(address) = &req.address {
        address.parse::<std::net::Ipv4Addr>().map_err(|_| {
            ApiError::InvalidParameter(format!("address '{address}' is not an IPv4 address."))
        })?;
    }
    let instance_id = crate::ecs::id_from(&req.container_instance_arn).to_string();
    let (instance_id, wanted) = (&instance_id, &wanted);
    records::update(store, "The host's task subnet", || async move {
        let all: Vec<Record<HostNetworkRecord>> = records::list(store, &prefix(scope)).await?;
        let (ours, others): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|r| r.value.instance_id == *instance_id);
        let taken: Vec<Cidr> = others
            .iter()
            .filter_map(|r| Cidr::parse(&r.value.subnet).ok())
            .collect();
        let current = ours.first();
        let subnet = match (wanted, current) {
            (Some(w), _) => *w,
            (None, Some(c)) => Cidr::parse(&c.value.subnet).map_err(ApiError::Server)?,
            (None, None) => first_free(range, &taken).ok_or_else(|| {
                ApiError::LimitExceeded(format!(
                    "No /24 of the task range {range} is free for another host; give the \
                     server a larger --task-cidr."
                ))
            })?,
        };
        let clash = others
            .iter()
            .find(|r| Cidr::parse(&r.value.subnet).is_ok_and(|s| s.overlaps(&subnet)));
        let record = HostNetworkRecord {
            instance_id: instance_id.clone(),
            instance_arn: req.container_instance_arn.clone(),
            subnet: subnet.to_string(),
            address: req
                .address
                .clone()
                .or_else(|| current.and_then(|c| c.value.address.clone())),
            routable: clash.is_none(),
            updated_at: core.clock.now(),
        };
        let answer = NetworkAssignment {
            subnet: record.subnet.clone(),
            range: Some(range.to_string()),
            routable: record.routable,
            warning: clash.map(|c| {
                format!(
                    "task subnet {subnet} overlaps {} of container instance {}: other hosts \
                     do not route to this host's tasks. Remove this host's task network \
                     (docker network rm) and restart the agent to be given a free subnet.",
                    c.value.subnet, c.value.instance_arn
                )
            }),
        };
        if current.is_some_and(|c| {
            c.value
                == HostNetworkRecord {
                    updated_at: c.value.updated_at,
                    ..record.clone()
                }
        }) {
            return Ok(Step::Done(answer));
        }
        let new_key = key(scope, &subnet);
        let mut txn = Txn::new();
        for old in &ours {
            txn = txn.when(Compare::unchanged(&old.key, old.revision));
            if old.key != new_key {
                txn = txn.then(Op::delete(&old.key));
            }
        }
        if !ours.iter().any(|o| o.key == new_key) {
            // A routable subnet is this host's alone; an overlapping one is kept under
            // its own key too (it may equal another's only when not routable).
            if clash.is_some_and(|c| c.key == new_key) {
                return Ok(Step::Done(answer));
            }
            txn = txn.when(Compare::absent(&new_key));
        }
        txn = txn.then(put(&new_key, &record));
        Ok(Step::Commit(txn, answer))
    })
    .await
}

/// The routable hosts' subnets, but `own`'s (an instance id), as of a revision.
pub async fn routes(
    core: &Core,
    own: Option<&str>,
    after: Option<u64>,
    wait: Duration,
) -> Result<TaskRoutes, ApiError> {
    let scope = &core.home_scope();
    let prefix = prefix(scope);
    if let Some(after) = after {
        if let Ok(mut stream) = core.store.watch(&prefix, after).await {
            let wait = wait.min(Duration::from_secs(MAX_WAIT_SECS));
            let _ = tokio::time::timeout(wait, stream.next()).await;
        }
    }
    let snap = core
        .store
        .snapshot(&[prefix])
        .await
        .map_err(records::store_error)?;
    let mut routes = Vec::new();
    for kv in snap.kvs {
        let r = records::decode::<HostNetworkRecord>(kv)?.value;
        if !r.routable || own == Some(r.instance_id.as_str()) {
            continue;
        }
        if let Some(via) = r.address {
            routes.push(TaskRoute {
                subnet: r.subnet,
                via,
            });
        }
    }
    routes.sort();
    Ok(TaskRoutes {
        revision: snap.revision,
        routes,
    })
}
