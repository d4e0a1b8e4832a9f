//! Load balancers: each with its DNS name, its listeners (and the URL each answers on),
//! and the target groups with their health checks and their targets' health, read with
//! the signed-in principal's own ELBv2 calls.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use berth_api::error::ApiError;
use maud::{html, Markup};

use crate::query::{self, field, members};
use crate::web::*;
use crate::Console;

/// ELBv2's API version.
const VERSION: &str = "2015-12-01";

/// One ELBv2 call of the signed-in principal with `params` (its `Action` and members).
pub(crate) async fn call(
    c: &Console,
    r: &SignedInRequest,
    params: &[(&str, &str)],
) -> Result<String, ApiError> {
    let mut all = vec![("Version", VERSION)];
    all.extend_from_slice(params);
    query::call(&c.front, &r.caller, "elasticloadbalancing", &all).await
}

fn f(xml: &str, tag: &str) -> String {
    field(xml, tag).unwrap_or_default()
}

/// The URL a listener answers on.
pub fn listener_url(protocol: &str, dns_name: &str, port: &str) -> String {
    let scheme = if protocol.eq_ignore_ascii_case("HTTPS") {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{dns_name}:{port}/")
}

async fn view(c: &Console, r: &SignedInRequest) -> Result<Markup, ApiError> {
    let lbs = call(c, r, &[("Action", "DescribeLoadBalancers")]).await?;
    let groups = call(c, r, &[("Action", "DescribeTargetGroups")]).await?;
    let mut balancers = Vec::new();
    for lb in members(&lbs) {
        let arn = f(lb, "LoadBalancerArn");
        let listeners = call(
            c,
            r,
            &[("Action", "DescribeListeners"), ("LoadBalancerArn", &arn)],
        )
        .await?;
        balancers.push((lb.to_string(), listeners));
    }
    let mut target_groups = Vec::new();
    for tg in members(&groups) {
        let arn = f(tg, "TargetGroupArn");
        let health = call(
            c,
            r,
            &[("Action", "DescribeTargetHealth"), ("TargetGroupArn", &arn)],
        )
        .await?;
        target_groups.push((tg.to_string(), health));
    }
    Ok(html! {
        h2 { "Load balancers" }
        @for (lb, listeners) in &balancers {
            @let dns = f(lb, "DNSName");
            h3 { (f(lb, "LoadBalancerName")) " " span.muted { (f(lb, "Type")) " · " (f(lb, "Scheme")) } }
            p { "DNS name " code { (dns) } }
            table.listeners {
                thead { tr { th { "Listener" } th { "URL" } th { "Default action" } } }
                tbody {
                    @for l in members(listeners) {
                        @let (protocol, port) = (f(l, "Protocol"), f(l, "Port"));
                        tr {
                            td { (protocol) ":" (port) }
                            td { @if protocol.starts_with("HTTP") { a href=(listener_url(&protocol, &dns, &port)) { (listener_url(&protocol, &dns, &port)) } } @else { code { (dns) ":" (port) } } }
                            td { (f(l, "Type")) " " (f(l, "TargetGroupArn")) }
                        }
                    }
                }
            }
        }
        h2 { "Target groups" }
        @for (tg, health) in &target_groups {
            h3 { (f(tg, "TargetGroupName")) " " span.muted { (f(tg, "Protocol")) ":" (f(tg, "Port")) " · " (f(tg, "TargetType")) } }
            p { "Health check " code { (f(tg, "HealthCheckProtocol")) " " (f(tg, "HealthCheckPath")) } " every " (f(tg, "HealthCheckIntervalSeconds")) " s" }
            table.targets {
                thead { tr { th { "Target" } th { "Port" } th { "State" } th { "Reason" } } }
                tbody {
                    @for t in members(health) {
                        tr {
                            td { (f(t, "Id")) }
                            td { (f(t, "Port")) }
                            td.state { (f(t, "State")) }
                            td { (f(t, "Description")) }
                        }
                    }
                }
            }
        }
    })
}

/// `GET /console/load-balancers`.
pub(crate) async fn page(State(c): State<Arc<Console>>, r: SignedInRequest) -> Response {
    answer(&r, "Load balancers", view(&c, &r).await, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_answers_on_its_dns_name_and_port() {
        assert_eq!(
            listener_url("HTTP", "web-1.elb.berth", "80"),
            "http://web-1.elb.berth:80/"
        );
        assert_eq!(listener_url("HTTPS", "a", "443"), "https://a:443/");
    }
}
