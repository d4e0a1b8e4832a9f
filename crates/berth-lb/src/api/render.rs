//! The XML of ELBv2's output shapes: LoadBalancer, TargetGroup, Listener, Rule, Action,
//! RuleCondition and TargetHealthDescription, with AWS's member names.

use crate::actions::{Action, Condition};
use crate::model::iso8601;
use crate::resources::{ListenerRecord, LoadBalancerRecord, RuleRecord, TargetGroupRecord};
use crate::targets::TargetHealthDescription;
use berth_query::xml::Xml;

/// A `LoadBalancer`; `dns_name` is where its listeners listen.
pub fn load_balancer(x: &mut Xml, lb: &LoadBalancerRecord, dns_name: &str, region: &str) {
    x.text("LoadBalancerArn", &lb.arn);
    x.text("DNSName", dns_name);
    x.text("CreatedTime", iso8601(lb.created_ms));
    x.text("LoadBalancerName", &lb.name);
    x.text("Scheme", lb.scheme);
    x.elem("State", |x| x.text("Code", "active"));
    x.text("Type", lb.lb_type);
    x.list("AvailabilityZones", &lb.subnets, |x, subnet| {
        let index = lb.subnets.iter().position(|s| s == subnet).unwrap_or(0);
        let zone = char::from(b'a' + (index % 26) as u8);
        x.text("ZoneName", format!("{region}{zone}"));
        x.text("SubnetId", subnet);
    });
    x.strings("SecurityGroups", &lb.security_groups);
    x.text("IpAddressType", lb.ip_address_type);
}

/// A `TargetGroup` with the load balancers forwarding to it.
pub fn target_group(x: &mut Xml, tg: &TargetGroupRecord, load_balancer_arns: &[String]) {
    let hc = &tg.health_check;
    x.text("TargetGroupArn", &tg.arn);
    x.text("TargetGroupName", &tg.name);
    x.text("Protocol", tg.protocol);
    x.text("Port", tg.port);
    x.opt("VpcId", tg.vpc_id.as_ref());
    x.text("HealthCheckProtocol", hc.protocol);
    x.text("HealthCheckPort", hc.port_text());
    x.text("HealthCheckEnabled", true);
    x.text("HealthCheckIntervalSeconds", hc.interval_secs);
    x.text("HealthCheckTimeoutSeconds", hc.timeout_secs);
    x.text("HealthyThresholdCount", hc.healthy_threshold);
    x.text("UnhealthyThresholdCount", hc.unhealthy_threshold);
    x.opt("HealthCheckPath", hc.path.as_ref());
    if let Some(m) = &hc.matcher {
        x.elem("Matcher", |x| x.text("HttpCode", &m.0));
    }
    x.strings("LoadBalancerArns", load_balancer_arns);
    x.text("TargetType", tg.target_type);
    x.opt("ProtocolVersion", tg.protocol_version.as_ref());
    x.text("IpAddressType", "ipv4");
}

/// A `Listener`.
pub fn listener(x: &mut Xml, l: &ListenerRecord) {
    x.text("ListenerArn", &l.arn);
    x.text("LoadBalancerArn", &l.load_balancer_arn);
    x.text("Port", l.port);
    x.text("Protocol", l.protocol);
    actions(x, "DefaultActions", &l.default_actions);
}

/// A list of `Action`s.
pub fn actions(x: &mut Xml, name: &str, list: &[Action]) {
    x.list(name, list, |x, action| match action {
        Action::Forward {
            target_groups,
            order,
        } => {
            x.text("Type", "forward");
            if let [only] = target_groups.as_slice() {
                x.text("TargetGroupArn", &only.arn);
            }
            x.opt("Order", *order);
            x.elem("ForwardConfig", |x| {
                x.list("TargetGroups", target_groups, |x, g| {
                    x.text("TargetGroupArn", &g.arn);
                    x.text("Weight", g.weight);
                });
                x.elem("TargetGroupStickinessConfig", |x| x.text("Enabled", false));
            });
        }
        Action::FixedResponse {
            status_code,
            content_type,
            message_body,
            order,
        } => {
            x.text("Type", "fixed-response");
            x.opt("Order", *order);
            x.elem("FixedResponseConfig", |x| {
                x.opt("MessageBody", message_body.as_ref());
                x.text("StatusCode", status_code);
                x.opt("ContentType", content_type.as_ref());
            });
        }
    });
}

/// A `Rule` of a listener.
pub fn rule(x: &mut Xml, r: &RuleRecord) {
    x.text("RuleArn", &r.arn);
    x.text("Priority", r.priority);
    x.list("Conditions", &r.conditions, condition);
    actions(x, "Actions", &r.actions);
    x.text("IsDefault", false);
}

/// A listener's default rule.
pub fn default_rule(x: &mut Xml, arn: &str, l: &ListenerRecord) {
    x.text("RuleArn", arn);
    x.text("Priority", "default");
    x.list::<Condition>("Conditions", &[], condition);
    actions(x, "Actions", &l.default_actions);
    x.text("IsDefault", true);
}

fn condition(x: &mut Xml, c: &Condition) {
    x.text("Field", c.field.as_str());
    x.strings("Values", &c.values);
    x.elem(c.field.config_member(), |x| x.strings("Values", &c.values));
}

/// A `TargetHealthDescription`.
pub fn target_health(x: &mut Xml, d: &TargetHealthDescription) {
    x.elem("Target", |x| {
        x.text("Id", &d.target.id);
        x.opt("Port", d.target.port);
        x.opt("AvailabilityZone", d.target.availability_zone.as_ref());
    });
    x.text("HealthCheckPort", &d.health_check_port);
    x.elem("TargetHealth", |x| {
        x.text("State", d.health.state);
        x.opt("Reason", d.health.reason);
        x.opt("Description", d.health.description.as_ref());
    });
}
