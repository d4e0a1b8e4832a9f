//! Task networking across hosts, host-gw style (as flannel's host-gw backend): every
//! host's awsvpc tasks live in a subnet of its own, out of the cluster's task range
//! (a /24 each, handed out by the control plane), and every host routes each other
//! host's subnet via that host's address. No encapsulation: the hosts must reach each
//! other directly (one L2 segment, or routers that forward the task range).
//!
//! A host whose existing task network overlaps another host's subnet keeps it, but is
//! not routable: its tasks are reachable on it only, and the agent says why.

pub use berth_api::cidr::{Cidr, DEFAULT_TASK_CIDR};
use berth_api::ecs::Timestamp;
use serde::{Deserialize, Serialize};

/// The prefix length of each host's subnet.
pub const HOST_PREFIX: u8 = 24;

/// One host's task network as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostNetworkRecord {
    /// The container instance (its id) the host's agent registered first.
    pub instance_id: String,
    pub instance_arn: String,
    /// Its tasks' subnet, `A.B.C.D/N`.
    pub subnet: String,
    /// The address other hosts route its subnet via.
    pub address: Option<String>,
    /// False when its subnet overlaps another host's: no host routes to it.
    pub routable: bool,
    pub updated_at: Timestamp,
}

/// The first /[`HOST_PREFIX`] of `range` that overlaps none of `taken`.
pub fn first_free(range: &Cidr, taken: &[Cidr]) -> Option<Cidr> {
    (0..range.subnet_count(HOST_PREFIX))
        .filter_map(|i| range.subnet(HOST_PREFIX, i))
        .find(|s| !taken.iter().any(|t| t.overlaps(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn each_host_gets_the_first_subnet_nobody_overlaps() {
        let range = c("10.42.0.0/16");
        assert_eq!(range.subnet_count(24), 256);
        assert_eq!(first_free(&range, &[]), Some(c("10.42.0.0/24")));
        let taken = [c("10.42.0.0/24"), c("10.42.1.0/24"), c("10.42.2.128/25")];
        assert_eq!(first_free(&range, &taken), Some(c("10.42.3.0/24")));
        let full: Vec<Cidr> = (0..4)
            .filter_map(|i| c("10.9.0.0/22").subnet(24, i))
            .collect();
        assert_eq!(first_free(&c("10.9.0.0/22"), &full), None);
        assert_eq!(c("10.9.0.0/25").subnet_count(24), 0);
    }
}
