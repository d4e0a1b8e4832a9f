//! The `berth` binary: `berth up` runs the platform on this machine, `berth server` runs
//! the control plane alone. This file only parses flags and wires libraries together.

mod profile;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
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
}

#[derive(Args, Clone)]
struct ServerFlags {
    /// Address to listen on. Loopback by default; give 0.0.0.0:PORT to accept other hosts.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Where the store, keys and tokens live.
    #[arg(long, env = "BERTH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The AWS region this Berth answers as.
    #[arg(long, default_value = "us-east-1")]
    region: String,
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Up(flags) => runtime.block_on(run(flags, true)),
        Command::Server(flags) => runtime.block_on(run(flags, false)),
    }
}

async fn run(flags: ServerFlags, is_up: bool) -> anyhow::Result<()> {
    let data_dir = flags.data_dir()?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let given = match (&flags.access_key_id, &flags.secret_access_key) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    let identity =
        berth_server::identity::Identity::load_or_create(&data_dir, &flags.account_id, given)
            .context("cannot load or create the access keys")?;
    let config = berth_server::ServerConfig {
        listen: flags.listen,
        data_dir: data_dir.clone(),
        region: flags.region.clone(),
        identity: identity.clone(),
    };
    let server = berth_server::Server::start(config).await?;
    if is_up {
        server
            .ensure_default_cluster()
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the default cluster: {e}"))?;
    }
    let addr = server.local_addr();
    let endpoint = profile::endpoint_url(addr);

    println!(
        "berth: control plane listening on {endpoint} (data in {})",
        data_dir.display()
    );
    if is_up {
        println!("berth: cluster 'default' is ready; no agent runs in this build yet, so tasks");
        println!("berth: wait in PROVISIONING/PENDING until an agent joins with the agent token");
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
        )?;
        println!("berth: wrote profile 'berth' to {}", written.display());
        println!("berth: next, try:");
        println!("  aws --profile berth ecs create-cluster --cluster-name demo");
        println!("  aws --profile berth ecs list-clusters");
    }
    println!(
        "berth: agents join with token file {}",
        server.agent_token_path().display()
    );
    println!("berth: ready");

    shutdown_signal().await;
    println!("berth: stopping");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
