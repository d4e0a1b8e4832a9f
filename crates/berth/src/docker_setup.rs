//! `berth up` on a machine without a running Docker Engine: find out what is missing
//! (the engine is not installed, or installed and not running), and either do it (as
//! root on Debian: `apt-get install docker.io`, then start `dockerd`), showing the
//! output as it goes, or say exactly which commands to run.
//!
//! [`plan`] decides from what the machine is (pure, unit-tested); [`carry_out`] runs
//! the steps.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

/// What the machine is, as far as getting an engine goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// `dockerd` is on the PATH.
    pub dockerd_installed: bool,
    /// This process runs as root.
    pub root: bool,
    /// Debian or a derivative (`apt-get` and `/etc/debian_version`).
    pub debian: bool,
    /// systemd runs the machine (PID 1 is systemd).
    pub systemd: bool,
}

impl Machine {
    /// This machine.
    pub fn this() -> Machine {
        let on_path = |name: &str| {
            std::env::var_os("PATH")
                .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(name).is_file()))
        };
        Machine {
            dockerd_installed: on_path("dockerd"),
            root: rustix_like_euid() == 0,
            debian: Path::new("/etc/debian_version").exists() && on_path("apt-get"),
            systemd: std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd"),
        }
    }
}

/// The effective user id, from /proc (no libc call needed).
fn rustix_like_euid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                .and_then(|uid| uid.parse().ok())
        })
        .unwrap_or(u32::MAX)
}

/// One step towards a running engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `apt-get update` then `apt-get install -y docker.io`.
    Install,
    /// `systemctl start docker`.
    StartService,
    /// `dockerd` in the background, its output in a log file.
    StartDaemon,
}

/// What to do: the steps this process can take, or the commands a person must run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Do(Vec<Step>),
    Tell(Vec<String>),
}

/// Decides how to get an engine running on `machine`; with `act` false, only tells.
pub fn plan(machine: &Machine, act: bool) -> Plan {
    let start = if machine.systemd {
        Step::StartService
    } else {
        Step::StartDaemon
    };
    let mut steps = Vec::new();
    if !machine.dockerd_installed {
        steps.push(Step::Install);
    }
    steps.push(start);
    let can = machine.root && (machine.dockerd_installed || machine.debian);
    if can && act {
        return Plan::Do(steps);
    }
    let sudo = if machine.root { "" } else { "sudo " };
    let mut commands = Vec::new();
    if !machine.dockerd_installed {
        if machine.debian {
            commands.push(format!(
                "{sudo}apt-get update && {sudo}apt-get install -y docker.io"
            ));
        } else {
            commands.push(
                "install Docker Engine for your distribution (https://docs.docker.com/engine/install/)"
                    .to_string(),
            );
        }
    }
    commands.push(if machine.systemd {
        format!("{sudo}systemctl start docker")
    } else {
        format!("{sudo}dockerd > /var/log/dockerd.log 2>&1 &")
    });
    Plan::Tell(commands)
}

/// Runs `steps`, showing each command and its output; `log_dir` keeps a daemon's log.
pub async fn carry_out(steps: &[Step], log_dir: &Path) -> anyhow::Result<()> {
    for step in steps {
        match step {
            Step::Install => {
                run("apt-get", &["update"]).await?;
                run(
                    "apt-get",
                    &["install", "-y", "--no-install-recommends", "docker.io"],
                )
                .await?;
            }
            Step::StartService => run("systemctl", &["start", "docker"]).await?,
            Step::StartDaemon => {
                let log_path = log_dir.join("dockerd.log");
                let log = std::fs::File::create(&log_path)
                    .with_context(|| format!("cannot create {}", log_path.display()))?;
                println!(
                    "berth: starting dockerd in the background (log: {})",
                    log_path.display()
                );
                Command::new("dockerd")
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .spawn()
                    .context("cannot start dockerd")?;
            }
        }
    }
    Ok(())
}

/// Runs one command to its end without holding up the server's threads.
async fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    println!("berth: running `{program} {}`", args.join(" "));
    let status = tokio::process::Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Waits until the engine answers at the default socket.
pub async fn wait_for_engine(timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Ok(runtime) = berth_agent::docker::DockerRuntime::connect(
            None,
            berth_agent::config::PullBehavior::Default,
        ) {
            if runtime.version().await.is_ok() {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the Docker Engine did not answer within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(dockerd_installed: bool, root: bool, debian: bool, systemd: bool) -> Machine {
        Machine {
            dockerd_installed,
            root,
            debian,
            systemd,
        }
    }

    #[test]
    fn root_on_debian_installs_and_starts() {
        assert_eq!(
            plan(&machine(false, true, true, false), true),
            Plan::Do(vec![Step::Install, Step::StartDaemon])
        );
        assert_eq!(
            plan(&machine(false, true, true, true), true),
            Plan::Do(vec![Step::Install, Step::StartService])
        );
    }

    #[test]
    fn installed_but_stopped_is_started_by_root_anywhere() {
        assert_eq!(
            plan(&machine(true, true, false, false), true),
            Plan::Do(vec![Step::StartDaemon])
        );
    }

    #[test]
    fn otherwise_the_exact_commands_are_told() {
        assert_eq!(
            plan(&machine(false, false, true, true), true),
            Plan::Tell(vec![
                "sudo apt-get update && sudo apt-get install -y docker.io".into(),
                "sudo systemctl start docker".into()
            ])
        );
        assert_eq!(
            plan(&machine(true, false, true, false), true),
            Plan::Tell(vec!["sudo dockerd > /var/log/dockerd.log 2>&1 &".into()])
        );
        let Plan::Tell(elsewhere) = plan(&machine(false, true, false, true), true) else {
            panic!("root off Debian cannot install")
        };
        assert!(elsewhere[0].contains("docs.docker.com"), "{elsewhere:?}");
        assert_eq!(
            plan(&machine(false, true, true, true), false),
            Plan::Tell(vec![
                "apt-get update && apt-get install -y docker.io".into(),
                "systemctl start docker".into()
            ]),
            "root who asked only to be told gets the commands without sudo"
        );
    }
}
