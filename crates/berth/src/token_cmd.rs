//! `berth token create|list|revoke`: the join tokens hosts use to join this Berth as
//! agents (`berth agent --token ...`), through the server's join-token API with the
//! profile's credentials. A token is shown once, when it is created.

use serde_json::{json, Value};

use crate::client::Client;

const TARGET: &str = "Berth_20261207";

/// What to do with join tokens.
#[derive(clap::Subcommand, Clone)]
pub enum TokenCommand {
    /// Create a join token and print it (shown only now).
    Create {
        /// The only cluster it joins (EC2 capacity); without it, any cluster and the
        /// Fargate pool.
        #[arg(long)]
        cluster: Option<String>,
        /// How long it lasts, e.g. 30m, 24h, 7d (default 24h, at most 365d).
        #[arg(long, default_value = "24h", value_parser = parse_ttl)]
        ttl: u64,
        /// A note for `berth token list`.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the join tokens still usable (never their secrets).
    List,
    /// Revoke a join token: no new host joins with it; joined agents keep working.
    Revoke {
        /// The token's id (as listed) or the whole token.
        token: String,
    },
}

/// Seconds in `30m`, `24h`, `7d` or a bare number of seconds.
fn parse_ttl(given: &str) -> Result<u64, String> {
    let (digits, unit) = match given.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => given.split_at(i),
        None => (given, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{given}' is not a duration like 30m, 24h or 7d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("'{given}': the unit must be s, m, h or d")),
    };
    Ok(n * unit)
}

/// The id part of a whole token (`bjt_ID_SECRET`), or what was given.
fn token_id(given: &str) -> &str {
    let mut parts = given.splitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("bjt"), Some(id), Some(_)) => id,
        _ => given,
    }
}

fn when(v: &Value) -> String {
    v.as_f64()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s as i64).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

pub async fn run(client: &Client, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            cluster,
            ttl,
            description,
        } => {
            let mut body = json!({"ttlSeconds": ttl});
            if let Some(c) = &cluster {
                body["cluster"] = json!(c);
            }
            if let Some(d) = &description {
                body["description"] = json!(d);
            }
            let out = client
                .call("berth", &format!("{TARGET}.CreateJoinToken"), body)
                .await?;
            let token = out["token"].as_str().unwrap_or_default();
            println!("{token}");
            eprintln!(
                "Join token {} for {}, valid until {}. On the host to join:\n  \
                 berth agent --server {} --token {token}{}",
                out["joinToken"]["tokenId"].as_str().unwrap_or_default(),
                cluster
                    .as_deref()
                    .map_or("any cluster and the Fargate pool".to_string(), |c| format!(
                        "cluster {c}"
                    )),
                when(&out["joinToken"]["expiresAt"]),
                client.endpoint(),
                if cluster.is_some() {
                    " (with ECS_CLUSTER set to that cluster in /etc/ecs/ecs.config)"
                } else {
                    ""
                }
            );
        }
        TokenCommand::List => {
            let out = client
                .call("berth", &format!("{TARGET}.ListJoinTokens"), json!({}))
                .await?;
            println!(
                "{:<18} {:<20} {:<26} DESCRIPTION",
                "ID", "CLUSTER", "EXPIRES"
            );
            for t in out["joinTokens"].as_array().into_iter().flatten() {
                println!(
                    "{:<18} {:<20} {:<26} {}",
                    t["tokenId"].as_str().unwrap_or_default(),
                    t["cluster"].as_str().unwrap_or("(any)"),
                    when(&t["expiresAt"]),
                    t["description"].as_str().unwrap_or("")
                );
            }
        }
        TokenCommand::Revoke { token } => {
            let id = token_id(&token);
            client
                .call(
                    "berth",
                    &format!("{TARGET}.RevokeJoinToken"),
                    json!({"tokenId": id}),
                )
                .await?;
            eprintln!("Join token {id} revoked; agents that joined with it keep working.");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_read_in_seconds_minutes_hours_and_days() {
        assert_eq!(parse_ttl("90"), Ok(90));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("24h"), Ok(86400));
        assert_eq!(parse_ttl("7d"), Ok(604800));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
    }

    #[test]
    fn a_whole_token_is_revoked_by_its_id() {
        assert_eq!(
            token_id("bjt_0123456789abcdef_abcdefghijklmnopqrstuvwxyz0123456789AB"),
            "0123456789abcdef"
        );
        assert_eq!(token_id("0123456789abcdef"), "0123456789abcdef");
    }
}
