//! The host's firewall for task traffic across hosts, where Docker manages iptables
//! (its `DOCKER-USER` chain exists): Docker lets only published ports into a bridge
//! network and masquerades what leaves it, so the agent adds two rules, once each:
//!
//! - `filter DOCKER-USER -d OWN_SUBNET -j ACCEPT`: other hosts' tasks and the control
//!   plane's host reach this host's tasks by their private IPs (as a security group open
//!   to everything that routes here; add your own rules before it to narrow that);
//! - `nat POSTROUTING -s OWN_SUBNET -d TASK_RANGE -j RETURN`: this host's tasks reach
//!   other hosts' tasks with their own private IPs as the source, not the host's.
//!
//! Each must come first in its chain: Docker inserts its own rules at the top when it
//! creates a network or restarts, so the agent checks the order on every routes update
//! and moves its rule back to the top when it is not. Where Docker runs with
//! `--iptables=false` nothing is needed and nothing is added.

use berth_api::cidr::Cidr;
use tokio::process::Command;

/// The rules for a host whose tasks live in `own`, in a cluster whose task range is
/// `range`: each as the `iptables` arguments after the `-C`/`-I` verb.
pub fn rules(own: &Cidr, range: &Cidr) -> Vec<(Option<&'static str>, &'static str, Vec<String>)> {
    vec![
        (
            None,
            "DOCKER-USER",
            vec!["-d".into(), own.to_string(), "-j".into(), "ACCEPT".into()],
        ),
        (
            Some("nat"),
            "POSTROUTING",
            vec![
                "-s".into(),
                own.to_string(),
                "-d".into(),
                range.to_string(),
                "-j".into(),
                "RETURN".into(),
            ],
        ),
    ]
}

fn args(table: Option<&str>, verb: &str, chain: &str, rule: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = table {
        out.extend(["-t".to_string(), t.to_string()]);
    }
    out.extend([verb.to_string(), chain.to_string()]);
    out.extend(rule.iter().cloned());
    out
}

async fn iptables(args: &[String]) -> Option<bool> {
    Command::new("iptables")
        .args(args)
        .output()
        .await
        .ok()
        .map(|o| o.status.success())
}

/// The first rule of `chain` in `iptables -S` output, as its arguments after the chain.
pub fn first_rule(listing: &str, chain: &str) -> Option<Vec<String>> {
    let prefix = format!("-A {chain} ");
    listing
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.split_whitespace().map(str::to_string).collect())
}

async fn listing(table: Option<&str>, chain: &str) -> Option<String> {
    let mut a = Vec::new();
    if let Some(t) = table {
        a.extend(["-t".to_string(), t.to_string()]);
    }
    a.extend(["-S".to_string(), chain.to_string()]);
    let out = Command::new("iptables").args(&a).output().await.ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Puts each rule first in its chain (adding it, or moving it up), when Docker manages
/// this host's iptables.
pub async fn open(own: &Cidr, range: &Cidr) {
    if listing(None, "DOCKER-USER").await.is_none() {
        return;
    }
    for (table, chain, rule) in rules(own, range) {
        let Some(now) = listing(table, chain).await else {
            continue;
        };
        if first_rule(&now, chain).as_deref() == Some(rule.as_slice()) {
            continue;
        }
        // Elsewhere in the chain (behind a rule Docker inserted since): move it up.
        while iptables(&args(table, "-C", chain, &rule)).await == Some(true) {
            if iptables(&args(table, "-D", chain, &rule)).await != Some(true) {
                break;
            }
        }
        match iptables(&args(table, "-I", chain, &rule)).await {
            Some(true) => {
                tracing::info!(chain, rule = %rule.join(" "), "task firewall rule first in its chain")
            }
            _ => tracing::warn!(chain, rule = %rule.join(" "),
                "cannot add the task firewall rule; other hosts may not reach this host's tasks"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_rule_of_a_chain_is_read_from_its_listing() {
        let listing = "-P POSTROUTING ACCEPT\n-A POSTROUTING -s 10.42.3.0/24 ! -o br-1 -j MASQUERADE\n-A POSTROUTING -s 10.42.3.0/24 -d 10.42.0.0/16 -j RETURN\n";
        assert_eq!(
            first_rule(listing, "POSTROUTING").unwrap().join(" "),
            "-s 10.42.3.0/24 ! -o br-1 -j MASQUERADE"
        );
        assert_eq!(first_rule("-N DOCKER-USER\n", "DOCKER-USER"), None);
    }

    #[test]
    fn the_rules_let_tasks_in_by_private_ip_and_keep_their_source_address() {
        let own = Cidr::parse("10.42.3.0/24").unwrap();
        let range = Cidr::parse("10.42.0.0/16").unwrap();
        let written: Vec<String> = rules(&own, &range)
            .iter()
            .map(|(t, c, r)| args(*t, "-I", c, r).join(" "))
            .collect();
        assert_eq!(
            written,
            [
                "-I DOCKER-USER -d 10.42.3.0/24 -j ACCEPT",
                "-t nat -I POSTROUTING -s 10.42.3.0/24 -d 10.42.0.0/16 -j RETURN",
            ]
        );
    }
}
