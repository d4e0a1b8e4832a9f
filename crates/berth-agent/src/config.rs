//! The agent's configuration in the ECS agent's own format: `KEY=VALUE` lines in
//! `/etc/ecs/ecs.config` (or `--config FILE`), overridden by environment variables of the
//! same names, so a host set up like an ECS host (`echo ECS_CLUSTER=name >>
//! /etc/ecs/ecs.config`) joins that cluster.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use berth_api::capability::AgentFeatures;

/// Where the ECS agent reads its configuration.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/ecs/ecs.config";

/// Ports every ECS agent reserves on its host.
pub const ALWAYS_RESERVED_PORTS: [u16; 5] = [22, 2375, 2376, 51678, 51679];

/// How the agent pulls images (`ECS_IMAGE_PULL_BEHAVIOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullBehavior {
    /// Pull; use a cached image if the pull fails.
    #[default]
    Default,
    /// Always pull; fail the task if the pull fails.
    Always,
    /// Pull only if the image is not present.
    Once,
    /// Use a cached image if present, else pull.
    PreferCached,
}

/// The agent's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// `ECS_CLUSTER` (default `default`).
    pub cluster: String,
    /// `ECS_INSTANCE_ATTRIBUTES`: custom attributes, a JSON object of strings.
    pub instance_attributes: BTreeMap<String, String>,
    /// `ECS_RESERVED_MEMORY`: MiB kept back from tasks.
    pub reserved_memory_mib: u64,
    /// TCP ports tasks may not bind: the always-reserved ones plus `ECS_RESERVED_PORTS`.
    pub reserved_ports_tcp: Vec<u16>,
    /// `ECS_RESERVED_PORTS_UDP`.
    pub reserved_ports_udp: Vec<u16>,
    /// `ECS_AVAILABLE_LOGGING_DRIVERS` (default `["json-file","awslogs","none"]`: the
    /// agent ships `awslogs` output itself, see [`crate::logship`]).
    pub logging_drivers: Vec<String>,
    /// `ECS_IMAGE_PULL_BEHAVIOR`.
    pub pull_behavior: PullBehavior,
    /// `ECS_CONTAINER_STOP_TIMEOUT` (default 30 s): SIGTERM to SIGKILL when a container
    /// definition sets no stopTimeout.
    pub stop_timeout: Duration,
    /// `ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION` (default 3 h): how long stopped containers
    /// are kept before removal.
    pub cleanup_wait: Duration,
    /// `ECS_ENABLE_TASK_IAM_ROLE`: serve task role credentials and advertise the
    /// capability. Default true (the ECS agent's default is false because its endpoint
    /// needs iptables rules set up first; Berth's needs none).
    pub task_iam_role: bool,
    /// `ECS_AVAILABILITY_ZONE`: reported as the `ecs.availability-zone` attribute.
    pub availability_zone: Option<String>,
    /// `BERTH_TASK_NETWORK` (default `berth-awsvpc`): the Docker network awsvpc tasks
    /// join, created when missing.
    pub task_network: String,
    /// `BERTH_TASK_SUBNET`: its subnet when Berth creates it (Docker picks a free one
    /// when unset).
    pub task_subnet: Option<String>,
    /// `BERTH_TASK_BRIDGE`: the Linux bridge name when Berth creates it.
    pub task_bridge: Option<String>,
    /// `BERTH_DOCKER_CERTS_DIR` (default `/etc/docker/certs.d`): where the Docker Engine
    /// reads registry certificates, and the agent installs the control plane's CA.
    pub docker_certs_dir: std::path::PathBuf,
    /// `BERTH_HOST_ADDRESS`: the address other hosts route this host's task subnet via
    /// (default: this host's address towards the control plane).
    pub host_address: Option<String>,
    /// `BERTH_TASK_ROUTES` (default true): keep routes to the other hosts' task subnets.
    pub task_routes: bool,
    /// `BERTH_ENDPOINT_ADDRESS` (default `169.254.170.2`, as ECS) and
    /// `BERTH_ENDPOINT_PORT` (default 51679; 0 picks a free one): where the task
    /// metadata and credentials endpoints listen. `BERTH_ENDPOINT_ADDRESS=off` turns
    /// them off.
    pub endpoint_address: Option<std::net::IpAddr>,
    pub endpoint_port: u16,
    /// `BERTH_METRICS_INTERVAL` (seconds, default 60, Container Insights' resolution):
    /// how often the tasks' CPU and memory are sampled for the console's charts; `off`
    /// (or 0) samples nothing.
    pub metrics_interval: Option<Duration>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            cluster: "default".into(),
            instance_attributes: BTreeMap::new(),
            reserved_memory_mib: 0,
            reserved_ports_tcp: ALWAYS_RESERVED_PORTS.to_vec(),
            reserved_ports_udp: vec![],
            logging_drivers: AgentFeatures::default().logging_drivers,
            pull_behavior: PullBehavior::Default,
            stop_timeout: Duration::from_secs(30),
            cleanup_wait: Duration::from_secs(3 * 3600),
            task_iam_role: AgentFeatures::default().task_iam_role,
            availability_zone: None,
            task_network: "berth-awsvpc".into(),
            task_subnet: None,
            task_bridge: None,
            docker_certs_dir: "/etc/docker/certs.d".into(),
            host_address: None,
            task_routes: true,
            endpoint_address: Some(std::net::IpAddr::from([169, 254, 170, 2])),
            endpoint_port: 51679,
            metrics_interval: Some(Duration::from_secs(60)),
        }
    }
}

/// A setting that could not be read; the message names the key and what it expects.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}:{line}: expected KEY=VALUE, got {text:?}")]
    Syntax {
        path: String,
        line: usize,
        text: String,
    },
    #[error("{key}={value:?}: {expected}")]
    Value {
        key: String,
        value: String,
        expected: &'static str,
    },
}

impl AgentConfig {
    /// Reads `file` if it exists (a missing default file is not an error), then applies
    /// `env` (typically `std::env::vars()`), which wins. An empty variable counts as
    /// unset, as with the ECS agent: `ECS_CLUSTER=` leaves the file's cluster.
    pub fn load(
        file: &Path,
        required: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<AgentConfig, ConfigError> {
        let mut settings = match std::fs::read_to_string(file) {
            Ok(text) => parse_file(&file.display().to_string(), &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => BTreeMap::new(),
            Err(e) => {
                return Err(ConfigError::Read {
                    path: file.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        settings.extend(env.into_iter().filter(|(k, v)| {
            (k.starts_with("ECS_") || k.starts_with("BERTH_")) && !v.trim().is_empty()
        }));
        AgentConfig::from_settings(&settings)
    }

    /// Builds the configuration from `KEY -> VALUE` settings.
    pub fn from_settings(s: &BTreeMap<String, String>) -> Result<AgentConfig, ConfigError> {
        let mut c = AgentConfig::default();
        let bad = |key: &str, value: &str, expected| ConfigError::Value {
            key: key.into(),
            value: value.into(),
            expected,
        };
        for (key, value) in s {
            let v = value.trim();
            match key.as_str() {
                "ECS_CLUSTER" if !v.is_empty() => c.cluster = v.into(),
                "ECS_INSTANCE_ATTRIBUTES" => {
                    c.instance_attributes = serde_json::from_str(v).map_err(|_| {
                        bad(
                            key,
                            v,
                            "a JSON object of strings, e.g. {\"stack\":\"prod\"}",
                        )
                    })?
                }
                "ECS_RESERVED_MEMORY" => {
                    c.reserved_memory_mib = v
                        .parse()
                        .map_err(|_| bad(key, v, "a whole number of MiB"))?
                }
                "ECS_RESERVED_PORTS" | "ECS_RESERVED_PORTS_UDP" => {
                    let ports: Vec<u16> = serde_json::from_str(v)
                        .map_err(|_| bad(key, v, "a JSON list of ports, e.g. [80, 443]"))?;
                    let list = if key == "ECS_RESERVED_PORTS" {
                        &mut c.reserved_ports_tcp
                    } else {
                        &mut c.reserved_ports_udp
                    };
                    for p in ports {
                        if !list.contains(&p) {
                            list.push(p);
                        }
                    }
                }
                "ECS_AVAILABLE_LOGGING_DRIVERS" => {
                    c.logging_drivers = serde_json::from_str(v).map_err(|_| {
                        bad(
                            key,
                            v,
                            "a JSON list of driver names, e.g. [\"json-file\",\"awslogs\"]",
                        )
                    })?
                }
                "ECS_IMAGE_PULL_BEHAVIOR" => {
                    c.pull_behavior = match v {
                        "default" | "" => PullBehavior::Default,
                        "always" => PullBehavior::Always,
                        "once" => PullBehavior::Once,
                        "prefer-cached" => PullBehavior::PreferCached,
                        _ => return Err(bad(key, v, "default, always, once or prefer-cached")),
                    }
                }
                "ECS_CONTAINER_STOP_TIMEOUT" => {
                    c.stop_timeout = parse_duration(v)
                        .ok_or_else(|| bad(key, v, "a duration, e.g. 30s or 2m"))?
                }
                "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION" => {
                    c.cleanup_wait = parse_duration(v)
                        .ok_or_else(|| bad(key, v, "a duration, e.g. 3h or 10m"))?
                }
                "ECS_ENABLE_TASK_IAM_ROLE" => {
                    c.task_iam_role = match v {
                        "true" => true,
                        "false" | "" => false,
                        _ => return Err(bad(key, v, "true or false")),
                    }
                }
                "ECS_AVAILABILITY_ZONE" if !v.is_empty() => c.availability_zone = Some(v.into()),
                "BERTH_TASK_NETWORK" if !v.is_empty() => c.task_network = v.into(),
                "BERTH_TASK_SUBNET" if !v.is_empty() => c.task_subnet = Some(v.into()),
                "BERTH_TASK_BRIDGE" if !v.is_empty() => c.task_bridge = Some(v.into()),
                "BERTH_DOCKER_CERTS_DIR" if !v.is_empty() => c.docker_certs_dir = v.into(),
                "BERTH_HOST_ADDRESS" if !v.is_empty() => c.host_address = Some(v.into()),
                "BERTH_TASK_ROUTES" => {
                    c.task_routes = match v {
                        "true" | "" => true,
                        "false" => false,
                        _ => return Err(bad(key, v, "true or false")),
                    }
                }
                "BERTH_ENDPOINT_ADDRESS" => {
                    c.endpoint_address = match v {
                        "off" => None,
                        _ => Some(
                            v.parse()
                                .map_err(|_| bad(key, v, "an IP address, or off"))?,
                        ),
                    }
                }
                "BERTH_ENDPOINT_PORT" => {
                    c.endpoint_port = v.parse().map_err(|_| bad(key, v, "a port number"))?
                }
                "BERTH_METRICS_INTERVAL" => {
                    c.metrics_interval = match v {
                        "off" | "0" => None,
                        _ => Some(Duration::from_secs(
                            v.parse()
                                .map_err(|_| bad(key, v, "a number of seconds, or off"))?,
                        )),
                    }
                }
                _ => {}
            }
        }
        Ok(c)
    }
}

/// Parses the `KEY=VALUE` lines of an ecs.config file; `#` starts a comment line.
pub fn parse_file(path: &str, text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(ConfigError::Syntax {
                path: path.into(),
                line: i + 1,
                text: line.into(),
            });
        };
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// Parses a Go-style duration as the ECS agent writes them: `300ms`, `30s`, `1m30s`, `3h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += Duration::from_secs_f64(number * scale);
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_seed_style_host_joins_its_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ecs.config");
        std::fs::write(&file, "# written by user data\nECS_CLUSTER=gpu-cluster\n\n").unwrap();
        let c = AgentConfig::load(&file, true, []).unwrap();
        assert_eq!(c.cluster, "gpu-cluster");
        assert_eq!(c.stop_timeout, Duration::from_secs(30));
        assert_eq!(c.reserved_ports_tcp, ALWAYS_RESERVED_PORTS);
    }

    #[test]
    fn an_empty_environment_variable_leaves_the_files_setting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ecs.config");
        std::fs::write(
            &file,
            "ECS_CLUSTER=from-user-data\nECS_CONTAINER_STOP_TIMEOUT=5s\n",
        )
        .unwrap();
        let env = [
            ("ECS_CLUSTER".to_string(), String::new()),
            ("ECS_CONTAINER_STOP_TIMEOUT".to_string(), "  ".to_string()),
        ];
        let c = AgentConfig::load(&file, true, env).unwrap();
        assert_eq!(c.cluster, "from-user-data");
        assert_eq!(c.stop_timeout, Duration::from_secs(5));
    }

    #[test]
    fn environment_overrides_the_file_and_a_missing_default_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ecs.config");
        std::fs::write(&file, "ECS_CLUSTER=from-file\n").unwrap();
        let env = [("ECS_CLUSTER".to_string(), "from-env".to_string())];
        assert_eq!(
            AgentConfig::load(&file, true, env).unwrap().cluster,
            "from-env"
        );
        let missing = dir.path().join("absent");
        assert_eq!(
            AgentConfig::load(&missing, false, []).unwrap().cluster,
            "default"
        );
        assert!(
            AgentConfig::load(&missing, true, []).is_err(),
            "--config FILE must exist"
        );
    }

    #[test]
    fn every_setting_is_read() {
        let c = AgentConfig::from_settings(&settings(&[
            (
                "ECS_INSTANCE_ATTRIBUTES",
                r#"{"stack":"prod","tier":"web"}"#,
            ),
            ("ECS_RESERVED_MEMORY", "256"),
            ("ECS_RESERVED_PORTS", "[80, 22]"),
            ("ECS_RESERVED_PORTS_UDP", "[53]"),
            (
                "ECS_AVAILABLE_LOGGING_DRIVERS",
                r#"["json-file","awslogs"]"#,
            ),
            ("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached"),
            ("ECS_CONTAINER_STOP_TIMEOUT", "1m30s"),
            ("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "10m"),
            ("ECS_ENABLE_TASK_IAM_ROLE", "false"),
            ("ECS_AVAILABILITY_ZONE", "us-east-1b"),
            ("BERTH_TASK_NETWORK", "tasks"),
            ("BERTH_TASK_SUBNET", "10.9.0.0/24"),
            ("BERTH_TASK_BRIDGE", "btasks0"),
            ("BERTH_DOCKER_CERTS_DIR", "/srv/certs.d"),
            ("BERTH_HOST_ADDRESS", "192.0.2.7"),
            ("BERTH_TASK_ROUTES", "false"),
            ("BERTH_ENDPOINT_ADDRESS", "127.0.0.1"),
            ("BERTH_ENDPOINT_PORT", "0"),
            ("BERTH_METRICS_INTERVAL", "5"),
        ]))
        .unwrap();
        assert_eq!(c.instance_attributes["stack"], "prod");
        assert_eq!(c.reserved_memory_mib, 256);
        assert_eq!(c.reserved_ports_tcp, vec![22, 2375, 2376, 51678, 51679, 80]);
        assert_eq!(c.reserved_ports_udp, vec![53]);
        assert_eq!(c.logging_drivers, vec!["json-file", "awslogs"]);
        assert_eq!(c.pull_behavior, PullBehavior::PreferCached);
        assert_eq!(c.stop_timeout, Duration::from_secs(90));
        assert_eq!(c.cleanup_wait, Duration::from_secs(600));
        assert!(!c.task_iam_role);
        assert!(AgentConfig::default().task_iam_role);
        assert_eq!(c.availability_zone.as_deref(), Some("us-east-1b"));
        assert_eq!(
            (c.task_network.as_str(), c.task_subnet.as_deref()),
            ("tasks", Some("10.9.0.0/24"))
        );
        assert_eq!(c.task_bridge.as_deref(), Some("btasks0"));
        assert_eq!(c.docker_certs_dir, std::path::PathBuf::from("/srv/certs.d"));
        assert_eq!(c.host_address.as_deref(), Some("192.0.2.7"));
        assert!(!c.task_routes);
        assert_eq!(c.endpoint_address, Some([127, 0, 0, 1].into()));
        assert_eq!(c.endpoint_port, 0);
        let off = AgentConfig::from_settings(&settings(&[("BERTH_ENDPOINT_ADDRESS", "off")]));
        assert_eq!(off.unwrap().endpoint_address, None);
        assert_eq!(c.metrics_interval, Some(Duration::from_secs(5)));
        assert_eq!(
            AgentConfig::default().metrics_interval,
            Some(Duration::from_secs(60))
        );
        let off = AgentConfig::from_settings(&settings(&[("BERTH_METRICS_INTERVAL", "off")]));
        assert_eq!(off.unwrap().metrics_interval, None);
    }

    #[test]
    fn bad_values_name_the_key_and_what_it_expects() {
        let e =
            AgentConfig::from_settings(&settings(&[("ECS_RESERVED_PORTS", "80,443")])).unwrap_err();
        assert!(
            e.to_string().contains("ECS_RESERVED_PORTS") && e.to_string().contains("JSON list")
        );
        let e = AgentConfig::from_settings(&settings(&[("ECS_CONTAINER_STOP_TIMEOUT", "soon")]))
            .unwrap_err();
        assert!(e.to_string().contains("duration"));
        let e = parse_file("f", "ECS_CLUSTER\n").unwrap_err();
        assert_eq!(
            e,
            ConfigError::Syntax {
                path: "f".into(),
                line: 1,
                text: "ECS_CLUSTER".into()
            }
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_duration("2h30m"), Some(Duration::from_secs(9000)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        for bad in ["", "10", "5d", "s", "1h-2m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
