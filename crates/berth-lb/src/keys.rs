//! The store's key layout for ELBv2. Everything of an account and region lives under
//! `/elb/ACCOUNT/REGION/`:
//!
//! ```text
//! epoch                      bumped by every configuration change (see crate::config)
//! lb/NAME                    load balancers
//! tg/NAME                    target groups
//! listener/LBID/LID          listeners
//! rule/LID/RID               rules
//! target/TGID/ID:PORT        target registrations
//! health/TGID/ID:PORT        the data plane's last report on a target
//! ```
//!
//! and `/elb-ports/PORT` claims a port on the load balancers' host for one listener.
//! Names and ids in keys are validated first (letters, digits, `-`, `.`, `:`), so no
//! key can alias another.

/// Every ELBv2 key of every account and region.
pub const ROOT: &str = "/elb/";
/// Port claims.
pub const PORTS: &str = "/elb-ports/";

/// The account and region a call acts in.
pub use berth_api::Scope;

/// What a key under [`ROOT`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Epoch,
    LoadBalancer,
    TargetGroup,
    Listener,
    Rule,
    Target,
    Health,
}

/// The ELBv2 keys of a [`Scope`].
pub trait ElbKeys {
    /// `/elb/ACCOUNT/REGION/`: everything of the scope.
    fn prefix(&self) -> String;

    /// The configuration epoch.
    fn epoch(&self) -> String {
        format!("{}epoch", self.prefix())
    }
    /// One load balancer.
    fn load_balancer(&self, name: &str) -> String {
        format!("{}lb/{name}", self.prefix())
    }
    /// One target group.
    fn target_group(&self, name: &str) -> String {
        format!("{}tg/{name}", self.prefix())
    }
    /// One listener.
    fn listener(&self, lb_id: &str, id: &str) -> String {
        format!("{}listener/{lb_id}/{id}", self.prefix())
    }
    /// One rule.
    fn rule(&self, listener_id: &str, id: &str) -> String {
        format!("{}rule/{listener_id}/{id}", self.prefix())
    }
    /// One target registration; `target` is `ID:PORT`.
    fn target(&self, tg_id: &str, target: &str) -> String {
        format!("{}target/{tg_id}/{target}", self.prefix())
    }
    /// The health report of one target.
    fn health(&self, tg_id: &str, target: &str) -> String {
        format!("{}health/{tg_id}/{target}", self.prefix())
    }
}

impl ElbKeys for Scope {
    fn prefix(&self) -> String {
        format!("{ROOT}{}/{}/", self.account, self.region)
    }
}

/// The claim on a port of the load balancers' host.
pub fn port_claim(port: u16) -> String {
    format!("{PORTS}{port}")
}

/// The scope and kind of a key under [`ROOT`].
pub fn parse(key: &str) -> Option<(Scope, Kind)> {
    let rest = key.strip_prefix(ROOT)?;
    let mut parts = rest.splitn(4, '/');
    let account = parts.next()?;
    let region = parts.next()?;
    let kind = match (parts.next()?, parts.next()) {
        ("epoch", None) => Kind::Epoch,
        ("lb", Some(_)) => Kind::LoadBalancer,
        ("tg", Some(_)) => Kind::TargetGroup,
        ("listener", Some(_)) => Kind::Listener,
        ("rule", Some(_)) => Kind::Rule,
        ("target", Some(_)) => Kind::Target,
        ("health", Some(_)) => Kind::Health,
        _ => return None,
    };
    Some((
        Scope {
            account: account.to_string(),
            region: region.to_string(),
        },
        kind,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back_to_scope_and_kind() {
        let s = Scope {
            account: "000000000000".into(),
            region: "us-east-1".into(),
        };
        for (key, kind) in [
            (s.epoch(), Kind::Epoch),
            (s.load_balancer("web"), Kind::LoadBalancer),
            (s.target_group("api"), Kind::TargetGroup),
            (s.listener("a", "b"), Kind::Listener),
            (s.rule("b", "c"), Kind::Rule),
            (s.target("t", "10.0.0.1:80"), Kind::Target),
            (s.health("t", "10.0.0.1:80"), Kind::Health),
        ] {
            assert_eq!(parse(&key), Some((s.clone(), kind)), "{key}");
        }
        assert_eq!(parse("/elb/a/r/unknown/x"), None);
        assert_eq!(parse("/ecs/a/r/lb/x"), None);
        assert_eq!(port_claim(8080), "/elb-ports/8080");
    }
}
