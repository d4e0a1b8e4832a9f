//! Routes to the other hosts' task subnets (host-gw, see
//! `berth_model::host_network`): the agent follows the control plane's list of routable
//! hosts (a long poll) and keeps this host's routing table to match with `ip route`,
//! each route marked `proto 77` so Berth's routes are told from everyone else's and
//! stale ones removed. Forwarding is turned on once there is a route to keep, so other
//! hosts' tasks reach this host's. The control plane's own host runs the same loop
//! (`berth server --task-routes`).
//!
//! A route to a subnet that overlaps this host's own task subnet is never installed:
//! that subnet is directly connected here.

use std::collections::BTreeMap;
use std::time::Duration;

use berth_api::agent::TaskRoute;
use berth_api::cidr::Cidr;
use tokio::process::Command;
use tokio::sync::watch;

use crate::channel::Channel;

/// The routing protocol number Berth's routes carry (`ip route ... proto 77`).
pub const PROTO: &str = "77";

/// One change to the routing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add, or point elsewhere, the route to `subnet`.
    Replace { subnet: String, via: String },
    /// Remove Berth's route to `subnet`.
    Delete { subnet: String },
}

/// The changes that turn `current` (Berth's routes now: subnet → via) into `wanted`,
/// leaving out any route into `own` (this host's task subnet).
pub fn plan(
    current: &BTreeMap<String, String>,
    wanted: &[TaskRoute],
    own: Option<&Cidr>,
) -> Vec<Change> {
    let keep: BTreeMap<&str, &str> = wanted
        .iter()
        .filter(|r| {
            Cidr::parse(&r.subnet).is_ok_and(|s| !own.is_some_and(|o| o.overlaps(&s)))
                && r.via.parse::<std::net::Ipv4Addr>().is_ok()
        })
        .map(|r| (r.subnet.as_str(), r.via.as_str()))
        .collect();
    let mut changes: Vec<Change> = current
        .keys()
        .filter(|s| !keep.contains_key(s.as_str()))
        .map(|s| Change::Delete { subnet: s.clone() })
        .collect();
    changes.extend(
        keep.iter()
            .filter(|(s, v)| current.get(**s).map(String::as_str) != Some(**v))
            .map(|(s, v)| Change::Replace {
                subnet: s.to_string(),
                via: v.to_string(),
            }),
    );
    changes
}

/// Berth's routes in `ip -4 route show proto 77` output: subnet → via.
pub fn parse_routes(output: &str) -> BTreeMap<String, String> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let subnet = words.next()?;
            let via = words.skip_while(|w| *w != "via").nth(1)?;
            Some((subnet.to_string(), via.to_string()))
        })
        .collect()
}

/// The `ip` arguments of a change.
pub fn ip_args(change: &Change) -> Vec<String> {
    let mut args: Vec<String> = vec!["-4".into(), "route".into()];
    match change {
        Change::Replace { subnet, via } => {
            args.extend(["replace".into(), subnet.clone(), "via".into(), via.clone()])
        }
        Change::Delete { subnet } => args.extend(["del".into(), subnet.clone()]),
    }
    args.extend(["proto".into(), PROTO.into()]);
    args
}

async fn ip(args: &[String]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .await
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Brings this host's routes to `wanted`. Returns how many changes it made.
pub async fn apply(wanted: &[TaskRoute], own: Option<&Cidr>) -> Result<usize, String> {
    let current = parse_routes(
        &ip(&[
            "-4".into(),
            "route".into(),
            "show".into(),
            "proto".into(),
            PROTO.into(),
        ])
        .await?,
    );
    let changes = plan(&current, wanted, own);
    if changes.iter().any(|c| matches!(c, Change::Replace { .. })) {
        // Other hosts' tasks reach this host's through it.
        if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
            tracing::warn!(error = %e, "cannot turn on IPv4 forwarding; other hosts' tasks cannot reach this host's");
        }
    }
    for change in &changes {
        ip(&ip_args(change)).await?;
        tracing::info!(?change, "task route");
    }
    Ok(changes.len())
}

/// Follows the routable hosts as `arn`'s host sees them (all of them for the operator,
/// `arn` `None`) and keeps the routes to match, until `stop` turns true; for an agent
/// host (`tasks`: its own subnet and the cluster's range) also its firewall rules
/// ([`crate::firewall`]). The routes stay when it stops, as containers do: the host's
/// tasks keep talking.
pub async fn follow(
    channel: Channel,
    arn: Option<String>,
    tasks: Option<(Cidr, Cidr)>,
    mut stop: watch::Receiver<bool>,
) {
    let own = tasks.map(|(own, _)| own);
    let mut after = None;
    let mut backoff = Duration::from_millis(200);
    loop {
        let polled = tokio::select! {
            r = channel.routes(arn.as_deref(), after, Duration::from_secs(20)) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match polled {
            Ok(routes) => {
                backoff = Duration::from_millis(200);
                after = Some(routes.revision);
                if let Some((own, range)) = &tasks {
                    crate::firewall::open(own, range).await;
                }
                if let Err(e) = apply(&routes.routes, own.as_ref()).await {
                    tracing::warn!(error = %e, "cannot program task routes; will retry");
                    after = None;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read task routes; retrying");
                after = None;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// The address of this host that reaches the control plane at `server` (its first
/// URL): what other hosts route this host's tasks via. Found by connecting a UDP socket
/// (which sends nothing) and reading the source address the kernel picked.
pub fn address_towards(server: &str) -> Option<String> {
    let first = server.split(',').next()?.trim();
    let authority = first
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split('/')
        .next()?;
    let target = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .ok()?
        .find(|a| a.is_ipv4())?;
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect(target).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then(|| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(subnet: &str, via: &str) -> TaskRoute {
        TaskRoute {
            subnet: subnet.into(),
            via: via.into(),
        }
    }

    #[test]
    fn the_table_follows_the_list_and_never_routes_into_this_hosts_own_subnet() {
        let current = BTreeMap::from([
            ("10.42.1.0/24".to_string(), "192.0.2.11".to_string()),
            ("10.42.2.0/24".to_string(), "192.0.2.12".to_string()),
            ("10.42.9.0/24".to_string(), "192.0.2.19".to_string()),
        ]);
        let own = Cidr::parse("10.42.0.0/24").unwrap();
        let wanted = [
            route("10.42.0.0/24", "192.0.2.10"), // our own: never
            route("10.42.1.0/24", "192.0.2.11"), // unchanged
            route("10.42.2.0/24", "192.0.2.22"), // moved
            route("10.42.3.0/24", "192.0.2.13"), // new
            route("not-a-subnet", "192.0.2.14"),
            route("10.42.4.0/24", "nowhere"),
        ];
        let changes = plan(&current, &wanted, Some(&own));
        assert_eq!(
            changes,
            vec![
                Change::Delete {
                    subnet: "10.42.9.0/24".into()
                },
                Change::Replace {
                    subnet: "10.42.2.0/24".into(),
                    via: "192.0.2.22".into()
                },
                Change::Replace {
                    subnet: "10.42.3.0/24".into(),
                    via: "192.0.2.13".into()
                },
            ]
        );
        assert_eq!(
            ip_args(&changes[1]).join(" "),
            "-4 route replace 10.42.2.0/24 via 192.0.2.22 proto 77"
        );
        assert_eq!(
            ip_args(&changes[0]).join(" "),
            "-4 route del 10.42.9.0/24 proto 77"
        );
        assert!(plan(&BTreeMap::new(), &[], None).is_empty());
    }

    #[test]
    fn berths_routes_are_read_back_from_ip_route_show() {
        let out =
            "10.42.1.0/24 via 192.0.2.11 dev eth0 \n10.42.3.0/24 via 192.0.2.13 dev eth0 onlink\n";
        assert_eq!(
            parse_routes(out),
            BTreeMap::from([
                ("10.42.1.0/24".to_string(), "192.0.2.11".to_string()),
                ("10.42.3.0/24".to_string(), "192.0.2.13".to_string()),
            ])
        );
    }

    #[test]
    fn the_address_towards_loopback_is_none() {
        assert_eq!(address_towards("http://127.0.0.1:7430"), None);
    }
}
