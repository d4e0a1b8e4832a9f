//! The `berth` binary: `berth up` runs the platform on this machine, `berth server` runs
//! the control plane alone. This file only parses flags and wires libraries together.

mod client;
mod docker_setup;
mod exec_cmd;
mod logs_cmd;
mod profile;
mod tls_setup;
mod token_cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use berth_registry::gc::Collection;
use berth_server::ecr::maintenance::RegistryUpkeep;
use clap::{Args, Parser, Subcommand};

/// mimalloc returns freed memory to the system promptly; glibc's per-thread arenas kept
/// hundreds of MiB after bursts of large request and record buffers (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The address `berth up` and `berth server` listen on unless told otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:7430";

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Run containers with the ECS API, on machines you own"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the whole platform on this machine and write the `berth` AWS CLI profile.
    Up(ServerFlags),
    /// Start the control plane only (agents join with `berth agent`).
    Server(ServerFlags),
    /// Join a control plane and run its tasks on this host's Docker Engine.
    Agent(AgentFlags),
    /// Print a task's container output (its awslogs streams); -f follows it.
    Logs(LogsFlags),
    /// Run a command in a running task's container (the task needs enableExecuteCommand).
    Exec(ExecFlags),
    /// Create, list and revoke the join tokens hosts use to join as agents.
    Token(TokenFlags),
}

#[derive(Args, Clone)]
struct TokenFlags {
    #[command(subcommand)]
    command: token_cmd::TokenCommand,
    /// The AWS CLI profile naming the Berth to ask.
    #[arg(long, env = "AWS_PROFILE", default_value = "berth", global = true)]
    profile: String,
}

#[derive(Args, Clone)]
struct LogsFlags {
    /// The task's ARN or id.
    task: String,
    /// The task's cluster: the one its ARN names, else `default`.
    #[arg(long)]
    cluster: Option<String>,
    /// Keep printing new lines until the task has stopped.
    #[arg(short, long)]
    follow: bool,
    /// The AWS CLI profile naming the Berth to ask.
    #[arg(long, env = "AWS_PROFILE", default_value = "berth")]
    profile: String,
}

#[derive(Args, Clone)]
struct ExecFlags {
    /// The task's ARN or id.
    task: String,
    /// The task's cluster: the one its ARN names, else `default`.
    #[arg(long)]
    cluster: Option<String>,
    /// The container to run in (needed when the task has several).
    #[arg(long)]
    container: Option<String>,
    /// Standard input is always passed to the command; accepted as `docker exec` takes it.
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Give the command a terminal even when not run from one.
    #[arg(short = 't', long, conflicts_with = "no_tty")]
    tty: bool,
    /// Never give the command a terminal (the default unless standard input and output
    /// both are terminals).
    #[arg(short = 'T', long)]
    no_tty: bool,
    /// The AWS CLI profile naming the Berth to ask.
    #[arg(long, env = "AWS_PROFILE", default_value = "berth")]
    profile: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(Args, Clone)]
struct AgentFlags {
    /// The control plane's URL, e.g. http://10.0.0.5:7430; for replicas, several,
    /// comma-separated (calls go to the next when one cannot be reached).
    #[arg(long)]
    server: String,
    /// A join token (`berth token create` on the control plane), or the operator's
    /// token from the server's data directory.
    #[arg(long, env = "BERTH_AGENT_TOKEN", conflicts_with = "token_file")]
    token: Option<String>,
    /// A file holding the join token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The CA the control plane's HTTPS certificate is issued by (its `DATA/tls/ca.pem`,
    /// or the operator's): trusted for the agent channel, and installed for Docker in
    /// BERTH_DOCKER_CERTS_DIR (default /etc/docker/certs.d) so pulls from its registry
    /// need no insecure-registries.
    #[arg(long, env = "BERTH_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// The ECS agent configuration file (default /etc/ecs/ecs.config when present).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The Docker Engine (default: DOCKER_HOST, else /var/run/docker.sock).
    #[arg(long)]
    docker_host: Option<String>,
    /// Where the agent keeps its state (its container instance ARN).
    #[arg(
        long,
        env = "BERTH_AGENT_DATA_DIR",
        default_value = "/var/lib/berth-agent"
    )]
    data_dir: PathBuf,
    /// Also offer this host to the Fargate pool (FARGATE tasks of every cluster).
    #[arg(long)]
    fargate: bool,
    /// Offer only Fargate pool capacity, no container instance.
    #[arg(long, conflicts_with = "fargate")]
    fargate_only: bool,
}

#[derive(Args, Clone)]
struct ServerFlags {
    /// Address to listen on. Loopback by default; give 0.0.0.0:PORT to accept other hosts.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Where the store, keys and tokens live.
    #[arg(long, env = "BERTH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Serve HTTPS (API, agent channel, registry) with a CA of this Berth's own, made in
    /// DATA/tls on first start, and a certificate it signs for this host's names.
    #[arg(long)]
    tls: bool,
    /// Serve HTTPS with this certificate chain (PEM) instead, with --tls-key.
    #[arg(long, requires = "tls_key", conflicts_with = "tls")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The CA that issued --tls-cert, for the profile's ca_bundle and the local agent.
    #[arg(long, requires = "tls_cert")]
    tls_ca: Option<PathBuf>,
    /// The name or address other hosts reach this server by: registry URIs name it, and
    /// the generated certificate covers it.
    #[arg(long)]
    advertise_host: Option<String>,
    /// The cluster's task range: each agent host gets a /24 of it for its awsvpc tasks,
    /// and every host routes the others' (host-gw).
    #[arg(long, default_value = berth_api::cidr::DEFAULT_TASK_CIDR,
          value_parser = berth_api::cidr::Cidr::parse)]
    task_cidr: berth_api::cidr::Cidr,
    /// Keep routes on this (control plane) host to every agent host's task subnet, so
    /// it reaches their tasks by private IP; needs root. `berth up`'s local agent does
    /// this itself.
    #[arg(long)]
    task_routes: bool,
    /// The AWS region this Berth answers as.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// A file holding the key secret values (Secrets Manager, SecureString parameters)
    /// are encrypted with: 32 bytes as 64 hex digits (`openssl rand -hex 32`), the same
    /// on every replica. Without it a key is generated into the data directory and
    /// shared with replicas through the store.
    #[arg(long, env = "BERTH_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,
    /// The AWS account id resources belong to.
    #[arg(long, default_value = "000000000000")]
    account_id: String,
    /// Access key id to accept (generated on first start when absent).
    #[arg(long, env = "BERTH_ACCESS_KEY_ID", requires = "secret_access_key")]
    access_key_id: Option<String>,
    /// Secret access key that goes with --access-key-id.
    #[arg(long, env = "BERTH_SECRET_ACCESS_KEY", requires = "access_key_id")]
    secret_access_key: Option<String>,
    /// Do not write the `berth` profile into ~/.aws/config and ~/.aws/credentials.
    #[arg(long)]
    no_profile: bool,
    /// `berth up` only: run no local agent, even when a Docker Engine is reachable.
    #[arg(long)]
    no_agent: bool,
    /// `berth up` only, when no Docker Engine answers: `auto` installs (`apt-get install
    /// docker.io`, as root on Debian) and starts it; `tell` prints the commands instead.
    #[arg(long, value_enum, default_value = "auto", env = "BERTH_DOCKER_SETUP")]
    docker_setup: DockerSetup,
    /// Seconds between the registry's upkeep passes (lifecycle policies, garbage
    /// collection); deleting images or putting a policy also starts one.
    #[arg(long, env = "BERTH_REGISTRY_UPKEEP_INTERVAL", default_value_t = 600)]
    registry_upkeep_interval: u64,
    /// Seconds a blob nothing links stays on disk before garbage collection deletes it
    /// (protects blobs being pushed while a collection runs).
    #[arg(long, env = "BERTH_REGISTRY_GC_GRACE", default_value_t = 300)]
    registry_gc_grace: u64,
    /// Address load balancers' listeners bind, reported as their DNSName. Loopback by
    /// default; give 0.0.0.0 (and --lb-dns-name) to take traffic from other hosts.
    #[arg(long, env = "BERTH_LB_HOST", default_value = "127.0.0.1")]
    lb_host: std::net::IpAddr,
    /// The name load balancers report as DNSName instead of --lb-host's address.
    #[arg(long, env = "BERTH_LB_DNS_NAME")]
    lb_dns_name: Option<String>,
    /// Where the control plane keeps its state: `embedded` (a file in the data
    /// directory) or `etcd://HOST:PORT[,HOST:PORT...][/NAMESPACE]`, an etcd v3 cluster
    /// several `berth server` replicas share.
    #[arg(long, env = "BERTH_STORE", default_value = "embedded")]
    store: String,
    /// A directory every replica reaches (a shared filesystem such as NFS), for registry
    /// blobs, uploads in progress and log events; the data directory when absent.
    /// Replicas over etcd need it to serve each other's images and logs.
    #[arg(long, env = "BERTH_SHARED_DIR")]
    shared_dir: Option<PathBuf>,
    /// PEM file of the CA that signed the etcd members' certificates (TLS to etcd).
    #[arg(long, env = "BERTH_ETCD_CACERT")]
    etcd_cacert: Option<PathBuf>,
    /// PEM file of this replica's client certificate for etcd (with --etcd-key).
    #[arg(long, env = "BERTH_ETCD_CERT", requires = "etcd_key")]
    etcd_cert: Option<PathBuf>,
    /// PEM file of the key of --etcd-cert.
    #[arg(long, env = "BERTH_ETCD_KEY", requires = "etcd_cert")]
    etcd_key: Option<PathBuf>,
}

impl ServerFlags {
    fn data_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(d) = &self.data_dir {
            return Ok(d.clone());
        }
        let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
        Ok(PathBuf::from(home).join(".berth"))
    }
}

/// mimalloc commits its first arena eagerly, about 9 MiB an idle agent never uses.
/// Its options are read from the environment when the process starts, before `main`,
/// so `berth agent` re-executes itself once with lazy commit (measured idle RSS: 19.5
/// MiB before, 10.7 MiB after; BENCHMARKS.md).
fn lazy_allocator_for_the_agent() -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    const OPTION: &str = "MIMALLOC_ARENA_EAGER_COMMIT";
    let is_agent = std::env::args_os().nth(1).is_some_and(|a| a == "agent");
    if !is_agent || std::env::var_os(OPTION).is_some() {
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find the berth executable")?;
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(OPTION, "0")
        .exec();
    Err(anyhow::anyhow!("cannot re-execute berth agent: {err}"))
}

fn main() -> anyhow::Result<()> {
    lazy_allocator_for_the_agent()?;
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = match cli.command {
        // The agent waits on Docker and the control plane: two workers serve it on any
        // host, and keep its memory small however many cores the host has.
        Command::Agent(_) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?,
        _ => tokio::runtime::Runtime::new()?,
    };
    match cli.command {
        Command::Up(flags) => runtime.block_on(run(flags, true)),
        Command::Server(flags) => runtime.block_on(run(flags, false)),
        Command::Agent(flags) => runtime.block_on(agent(flags)),
        Command::Logs(flags) => runtime.block_on(async {
            let client = client::Client::from_profile(&flags.profile)?;
            let cluster = logs_cmd::cluster_of(&flags.task, flags.cluster.as_deref())?;
            logs_cmd::run(&client, &cluster, &flags.task, flags.follow).await
        }),
        Command::Exec(flags) => {
            let code = runtime.block_on(async {
                let client = client::Client::from_profile(&flags.profile)?;
                let cluster = logs_cmd::cluster_of(&flags.task, flags.cluster.as_deref())?;
                let tty = match (flags.tty, flags.no_tty) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                };
                exec_cmd::run(
                    &client,
                    exec_cmd::ExecRequest {
                        cluster: &cluster,
                        task: &flags.task,
                        container: flags.container.as_deref(),
                        command: &flags.command,
                        tty,
                    },
                )
                .await
            })?;
            // The command's exit code is ours; a read of standard input may still block.
            std::process::exit(code)
        }
        Command::Token(flags) => runtime.block_on(async {
            let client = client::Client::from_profile(&flags.profile)?;
            token_cmd::run(&client, flags.command).await
        }),
    }
}

async fn agent(flags: AgentFlags) -> anyhow::Result<()> {
    let token = match (&flags.token, &flags.token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the agent token from {}", f.display()))?,
        (None, None) => {
            anyhow::bail!(
                "give a join token (`berth token create` on the control plane) with --token, \
                 --token-file or BERTH_AGENT_TOKEN"
            )
        }
    };
    let offer = Offer {
        ec2: !flags.fargate_only,
        fargate: flags.fargate || flags.fargate_only,
    };
    let ca_pem = flags
        .ca_file
        .as_ref()
        .map(|f| {
            std::fs::read(f).with_context(|| format!("cannot read the CA file {}", f.display()))
        })
        .transpose()?;
    let (agent, cluster, version) = join(
        &flags.server,
        &token,
        ca_pem,
        flags.config.as_deref(),
        flags.docker_host.as_deref(),
        &flags.data_dir,
        offer,
    )
    .await?;
    println!("berth agent: Docker {version}; joined cluster '{cluster}' as");
    for arn in &agent.container_instance_arns {
        println!("  {arn}");
    }
    match &agent.endpoint_url {
        Some(url) => println!("berth agent: task metadata and credentials at {url}"),
        None => println!("berth agent: task metadata and credentials endpoints are off"),
    }
    println!("berth agent: ready; tasks placed here run as Docker containers");
    shutdown_signal().await;
    println!("berth agent: stopping (containers keep running and are re-adopted on restart)");
    agent.stop().await;
    Ok(())
}

/// Which capacity an agent offers.
#[derive(Debug, Clone, Copy)]
struct Offer {
    ec2: bool,
    fargate: bool,
}

/// Joins the control plane at `server` with this host's Docker Engine. Returns the
/// running agent, the cluster it joined and the engine's version.
async fn join(
    server: &str,
    token: &str,
    ca_pem: Option<Vec<u8>>,
    config_file: Option<&std::path::Path>,
    docker_host: Option<&str>,
    data_dir: &std::path::Path,
    offer: Offer,
) -> anyhow::Result<(berth_agent::agent::Agent, String, String)> {
    use berth_agent::agent::{Agent, AgentOptions};
    use berth_agent::config::{AgentConfig, DEFAULT_CONFIG_FILE};
    use berth_agent::docker::DockerRuntime;

    let (file, required) = match config_file {
        Some(f) => (f.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    };
    let config = AgentConfig::load(&file, required, std::env::vars())?;
    let runtime = DockerRuntime::connect(docker_host, config.pull_behavior)?;
    let version = runtime.version().await.with_context(|| {
        "cannot reach the Docker Engine: install it (apt-get install docker.io) and start \
         dockerd, or point --docker-host / DOCKER_HOST at a running one"
    })?;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let (cpus, memory_mib) = runtime
        .host_resources()
        .await
        .context("cannot read the Docker Engine's CPUs and memory (GET /info)")?;
    let cluster = config.cluster.clone();
    let options = AgentOptions {
        server: server.to_string(),
        token: token.to_string(),
        cpu: cpus * 1024,
        memory_mib,
        gpu_ids: berth_agent::gpu::detect(),
        docker_version: Some(version.clone()),
        state_file: Some(data_dir.join("agent-state.json")),
        ec2: offer.ec2,
        fargate: offer.fargate,
        // Events and long polls drive the agent; this is only the resync period.
        poll_interval: std::time::Duration::from_secs(5),
        heartbeat_interval: berth_api::agent::HEARTBEAT_INTERVAL,
        ca_pem,
        config,
    };
    let agent = Agent::start(options, std::sync::Arc::new(runtime)).await?;
    Ok((agent, cluster, version))
}

async fn run(flags: ServerFlags, is_up: bool) -> anyhow::Result<()> {
    let data_dir = flags.data_dir()?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let given = match (&flags.access_key_id, &flags.secret_access_key) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    let given_keys = given.is_some();
    let identity =
        berth_server::identity::Identity::load_or_create(&data_dir, &flags.account_id, given)
            .context("cannot load or create the access keys")?;
    let tls = match (&flags.tls_cert, &flags.tls_key) {
        (Some(cert), Some(key)) => Some(tls_setup::given(cert, key, flags.tls_ca.as_deref())?),
        _ if flags.tls => Some(tls_setup::generated(
            &data_dir.join("tls"),
            &tls_setup::names(flags.listen, flags.advertise_host.as_deref()),
        )?),
        _ => None,
    };
    let ca_file = tls.as_ref().and_then(|t| t.ca_file.clone());
    let config = berth_server::ServerConfig {
        listen: flags.listen,
        data_dir: data_dir.clone(),
        region: flags.region.clone(),
        identity: identity.clone(),
        keys_given: given_keys,
        shared_dir: flags.shared_dir.clone(),
        watch_cache: flags.store != "embedded",
        registry_upkeep: RegistryUpkeep {
            interval: Duration::from_secs(flags.registry_upkeep_interval.max(1)),
            collection: Collection {
                grace: Duration::from_secs(flags.registry_gc_grace),
                ..Collection::default()
            },
        },
        load_balancers: berth_lb::ElbConfig {
            host: flags.lb_host,
            dns_name: flags.lb_dns_name.clone(),
            ..Default::default()
        },
        tls: tls.as_ref().map(|t| t.files.clone()),
        advertise_host: flags.advertise_host.clone(),
        secrets_key_file: flags.secrets_key_file.clone(),
        task_cidr: Some(flags.task_cidr),
        mounts: vec![berth_console::routes],
    };
    let server = match flags.store.as_str() {
        "embedded" => berth_server::Server::start(config).await?,
        url => {
            let store = connect_etcd(url, &flags).await?;
            println!("berth: state in etcd at {url}; controllers run on the elected leader");
            let elector = berth_store::etcd::election::EtcdElector::new(
                store.clone(),
                berth_store::etcd::election::ElectionOptions {
                    key: "/leader/controllers".into(),
                    candidate: format!("{} ({})", hostname(), flags.listen),
                    ttl: LEADER_LEASE,
                },
            );
            berth_server::Server::start_with_store(config, Arc::new(store), Arc::new(elector))
                .await?
        }
    };
    // Replicas share one key pair; the server says which.
    let identity = server.app().identity.clone();
    if is_up {
        server
            .ensure_default_cluster()
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the default cluster: {e}"))?;
    }
    let addr = server.local_addr();
    let endpoint = profile::endpoint_url(addr, tls.is_some());

    println!(
        "berth: control plane listening on {endpoint} (data in {})",
        data_dir.display()
    );
    let mut local_agent = None;
    if is_up && flags.no_agent {
        println!("berth: --no-agent given; tasks wait until an agent joins");
    } else if is_up {
        ensure_engine(&data_dir, flags.docker_setup).await;
        let token = server.app().agent_token.clone();
        let both = Offer {
            ec2: true,
            fargate: true,
        };
        let ca_pem = ca_file.as_ref().and_then(|f| std::fs::read(f).ok());
        match join(
            &endpoint,
            &token,
            ca_pem,
            None,
            None,
            &data_dir.join("agent"),
            both,
        )
        .await
        {
            Ok((agent, cluster, version)) => {
                println!(
                    "berth: local agent on Docker {version} joined cluster '{cluster}' \
                     (EC2 launch type) and the Fargate pool"
                );
                local_agent = Some(agent);
            }
            Err(e) => {
                println!("berth: no local agent: {e:#}");
                println!("berth: tasks wait in PROVISIONING/PENDING until an agent joins");
            }
        }
    }
    if flags.no_profile {
        println!("berth: --no-profile given; AWS CLI profile not written");
        println!("berth: access key id {}", identity.access_key_id);
    } else {
        let written = profile::write_profile(
            "berth",
            &endpoint,
            &flags.region,
            &identity.access_key_id,
            &identity.secret_access_key,
            ca_file.as_deref(),
        )?;
        println!("berth: wrote profile 'berth' to {}", written.display());
        println!("berth: next, try:");
        println!("  aws --profile berth ecs create-cluster --cluster-name demo");
        println!("  aws --profile berth ecs list-clusters");
    }
    println!(
        "berth: other hosts join with a join token: `berth token create --cluster NAME`, then \
         `berth agent --server URL --token TOKEN{}` there (the operator's own token is in {})",
        ca_file
            .as_ref()
            .map(|f| format!(" --ca-file {} (copied there)", f.display()))
            .unwrap_or_default(),
        server.agent_token_path().display()
    );
    let (stop_routes, routes_stopped) = tokio::sync::watch::channel(false);
    if flags.task_routes && local_agent.is_none() {
        let token = server.app().agent_token.clone();
        let ca_pem = ca_file.as_ref().and_then(|f| std::fs::read(f).ok());
        let channel = match &ca_pem {
            Some(ca) => berth_agent::channel::Channel::trusting(&endpoint, &token, ca)?,
            None => berth_agent::channel::Channel::new(&endpoint, &token),
        };
        tokio::spawn(berth_agent::routes::follow(
            channel,
            None,
            None,
            routes_stopped,
        ));
        println!("berth: keeping routes on this host to every agent host's task subnet");
    }
    println!("berth: ready");

    shutdown_signal().await;
    let _ = stop_routes.send(true);
    println!("berth: stopping");
    if let Some(agent) = local_agent {
        agent.stop().await;
    }
    server.shutdown().await;
    Ok(())
}

/// When no Docker Engine answers (and DOCKER_HOST names none), gets one running on
/// this machine where it can (`berth up` as root on Debian), showing what it runs, or
/// prints the exact commands to run. The control plane serves either way.
async fn ensure_engine(data_dir: &std::path::Path, setup: DockerSetup) {
    use docker_setup::{carry_out, plan, wait_for_engine, Machine, Plan};
    if std::env::var_os("DOCKER_HOST").is_some() {
        return;
    }
    let answers = berth_agent::docker::DockerRuntime::connect(
        None,
        berth_agent::config::PullBehavior::Default,
    );
    if let Ok(runtime) = answers {
        if runtime.version().await.is_ok() {
            return;
        }
    }
    println!("berth: no Docker Engine answers at /var/run/docker.sock");
    let plan = plan(&Machine::this(), setup == DockerSetup::Auto);
    match plan {
        Plan::Do(steps) => {
            println!(
                "berth: setting it up ({} step(s)); this can take a few minutes",
                steps.len()
            );
            let done = async {
                carry_out(&steps, data_dir).await?;
                wait_for_engine(Duration::from_secs(60)).await
            };
            match done.await {
                Ok(()) => println!("berth: the Docker Engine is running"),
                Err(e) => println!("berth: could not set up the Docker Engine: {e:#}"),
            }
        }
        Plan::Tell(commands) => {
            println!("berth: to run tasks on this machine, run:");
            for c in commands {
                println!("  {c}");
            }
            println!("berth: then start `berth up` again (or run `berth agent` against it)");
        }
    }
}

/// Whether `berth up` may install and start the Docker Engine itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DockerSetup {
    /// Install (as root on Debian) and start it when it is missing.
    Auto,
    /// Only print the commands that would.
    Tell,
}

/// The leader's lease on etcd: a replica that dies is replaced as leader this long after
/// its last renewal, at most.
const LEADER_LEASE: Duration = Duration::from_secs(3);

/// This host's name, for telling replicas apart in the leader key.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// Connects to the etcd cluster `url` names, with TLS when a CA is given.
async fn connect_etcd(
    url: &str,
    flags: &ServerFlags,
) -> anyhow::Result<berth_store::etcd::EtcdStore> {
    let mut options = berth_store::etcd::EtcdOptions::parse(url).map_err(anyhow::Error::msg)?;
    if let Some(ca) = &flags.etcd_cacert {
        let ca = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
        let identity = match (&flags.etcd_cert, &flags.etcd_key) {
            (Some(cert), Some(key)) => {
                let mut pem = std::fs::read(cert)
                    .with_context(|| format!("cannot read {}", cert.display()))?;
                pem.extend(
                    std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?,
                );
                Some(pem)
            }
            _ => None,
        };
        options = options.with_tls(ca, identity);
    }
    berth_store::etcd::EtcdStore::connect(options)
        .await
        .with_context(|| format!("cannot reach etcd at {url}"))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
