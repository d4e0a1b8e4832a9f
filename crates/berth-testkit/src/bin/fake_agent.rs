//! `berth-fake-agent`: the testkit's fake agent as a process, for end-to-end tests that
//! need tasks to move through their lifecycle without Docker.

use berth_api::agent::CapacityKind;
use berth_testkit::{FakeAgent, FakeAgentConfig};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// The control plane's URL.
    #[arg(long)]
    server: String,
    /// File holding the agent token.
    #[arg(long)]
    token_file: std::path::PathBuf,
    /// Also offer a container instance of this cluster (EC2 launch type).
    #[arg(long)]
    ec2_cluster: Option<String>,
    /// Offer Fargate pool capacity.
    #[arg(long)]
    fargate: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let token = std::fs::read_to_string(&args.token_file)?
        .trim()
        .to_string();
    let mut agents = Vec::new();
    if args.fargate {
        agents.push(FakeAgent::start(&args.server, &token, FakeAgentConfig::fargate()).await);
    }
    if let Some(cluster) = &args.ec2_cluster {
        agents.push(FakeAgent::start(&args.server, &token, FakeAgentConfig::ec2(cluster)).await);
    }
    anyhow::ensure!(
        !agents.is_empty(),
        "give --fargate and/or --ec2-cluster NAME"
    );
    for a in &agents {
        println!("registered {}", a.container_instance_arn);
    }
    let _ = CapacityKind::Ec2;
    tokio::signal::ctrl_c().await?;
    Ok(())
}
