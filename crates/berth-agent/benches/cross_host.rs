//! Task-to-task throughput across hosts against within one host (host-gw routing).
//!
//! Two hosts made of network namespaces on a bridge (each its own dockerd, nsenter'd
//! into its namespace, with the engine's own iptables), a release `berth server
//! --task-routes` in a third namespace, and a release `berth agent` per host. An awsvpc
//! task on host 0 serves a 512 MiB file with busybox httpd; a client task on host 0 and
//! one on host 1 each fetch it with wget (through `docker exec` on their own engine),
//! timed from the bench. Same host: bridge to bridge. Across hosts: the client's bridge,
//! its host's route to host 0's subnet, the veths and the bridge between the hosts,
//! host 0's forwarding into its bridge. Five fetches each, alternating; medians. Target:
//! across ≥ 0.9 × within.
//!
//! Run: `scripts/bench-agent cross_host` (as root: namespaces, veths, dockerds).
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::bench::{release_binary, ChildGuard};
use berth_testkit::EcsClient;
use serde_json::{json, Value};

const KEY: &str = "AKIABENCH00000000000";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbenchse";
const FILE_MIB: u64 = 512;
const ROUNDS: usize = 5;
const TASK_CIDR: &str = "198.18.224.0/20";

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run a command");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ns_path(ns: &str) -> String {
    format!("--net=/var/run/netns/{ns}")
}

/// The bridge and namespaces; removed on drop.
struct World {
    bridge: String,
    net: String,
    namespaces: Vec<String>,
    veths: Vec<String>,
}

impl World {
    fn plug(&mut self, ns: &str, veth: &str, address: &str) {
        run(&["ip", "netns", "add", ns]);
        self.namespaces.push(ns.into());
        run(&[
            "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ]);
        self.veths.push(veth.into());
        run(&["ip", "link", "set", veth, "master", &self.bridge, "up"]);
        let n = ns_path(ns);
        run(&[
            "nsenter",
            &n,
            "ip",
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            "eth0",
        ]);
        run(&["nsenter", &n, "ip", "link", "set", "eth0", "up"]);
        run(&["nsenter", &n, "ip", "link", "set", "lo", "up"]);
        run(&[
            "nsenter",
            &n,
            "ip",
            "route",
            "add",
            "default",
            "via",
            &format!("{}.1", self.net),
        ]);
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        for veth in &self.veths {
            let _ = Command::new("ip")
                .args(["link", "del", veth])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

fn docker(host: &str, args: &[&str]) -> String {
    let mut full = vec!["docker", "-H", host];
    full.extend_from_slice(args);
    run(&full)
}

fn start_dockerd(ns: &str, dir: &Path, exec_root: &Path) -> (ChildGuard, String) {
    std::fs::create_dir_all(dir).unwrap();
    let sock = format!("unix://{}/docker.sock", dir.display());
    let child = Command::new("nsenter")
        .arg(ns_path(ns))
        .args(["dockerd", "--bridge=none", "-H", &sock])
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(exec_root)
        .arg("--pidfile")
        .arg(dir.join("docker.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dockerd");
    let guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Command::new("docker")
        .args(["-H", &sock, "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(Instant::now() < deadline, "dockerd in {ns} did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    (guard, sock)
}

async fn wait_running(client: &EcsClient, arn: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let d = client
            .call("DescribeTasks", json!({"cluster": "bench", "tasks": [arn]}))
            .await
            .unwrap();
        let t = d["tasks"][0].clone();
        assert_ne!(t["lastStatus"], "STOPPED", "{t}");
        if t["lastStatus"] == "RUNNING" {
            return t;
        }
        assert!(Instant::now() < deadline, "{arn} never ran: {t}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn run_on(client: &EcsClient, family: &str, zone: &str) -> Value {
    let r = client
        .call(
            "RunTask",
            json!({"cluster": "bench", "taskDefinition": family, "launchType": "EC2",
                   "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0abc"]}},
                   "placementConstraints": [{"type": "memberOf",
                       "expression": format!("attribute:ecs.availability-zone == {zone}")}]}),
        )
        .await
        .unwrap();
    let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    wait_running(client, &arn).await
}

/// Seconds to fetch the file from `ip` inside `container` on engine `host`.
fn fetch(host: &str, container: &str, ip: &str) -> f64 {
    let started = Instant::now();
    docker(
        host,
        &[
            "exec",
            container,
            "wget",
            "-q",
            "-O",
            "/dev/null",
            &format!("http://{ip}:8080/big"),
        ],
    );
    started.elapsed().as_secs_f64()
}

/// SIGTERM, then wait: a dockerd stops its containers and its containerd first.
fn stop(guard: ChildGuard) {
    let mut guard = guard;
    let _ = Command::new("kill").arg(guard.id().to_string()).status();
    let _ = guard.0.wait();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let source =
        std::env::var("DOCKER_HOST").expect("set DOCKER_HOST to the engine with the test image");
    let image =
        std::env::var("BERTH_TEST_IMAGE").unwrap_or_else(|_| "berth-test/busybox:latest".into());
    let dir = tempfile::tempdir().unwrap();
    let sfx = std::process::id() % 10000;
    let mut world = World {
        bridge: format!("bxb{sfx}"),
        net: format!("198.19.{}", 200 + sfx % 50),
        namespaces: vec![],
        veths: vec![],
    };
    run(&["ip", "link", "add", &world.bridge, "type", "bridge"]);
    run(&[
        "ip",
        "addr",
        "add",
        &format!("{}.1/24", world.net),
        "dev",
        &world.bridge,
    ]);
    run(&["ip", "link", "set", &world.bridge, "up"]);
    let forward = Command::new("iptables")
        .args([
            "-I",
            "FORWARD",
            "-i",
            &world.bridge,
            "-o",
            &world.bridge,
            "-j",
            "ACCEPT",
        ])
        .status()
        .is_ok_and(|s| s.success());
    let cp = format!("bxc{sfx}");
    let cp_address = format!("{}.2", world.net);
    world.plug(&cp, &format!("vxc{sfx}"), &cp_address);
    let image_tar = dir.path().join("image.tar");
    run(&[
        "docker",
        "-H",
        &source,
        "save",
        "-o",
        image_tar.to_str().unwrap(),
        &image,
    ]);

    let bin = release_binary();
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).unwrap();
    let port = 17_000 + sfx % 1000;
    let server = ChildGuard(
        Command::new("nsenter")
            .arg(ns_path(&cp))
            .arg(&bin)
            .args([
                "server",
                "--listen",
                &format!("{cp_address}:{port}"),
                "--no-profile",
            ])
            .args(["--task-cidr", TASK_CIDR, "--task-routes"])
            .args(["--access-key-id", KEY, "--secret-access-key", SECRET])
            .arg("--data-dir")
            .arg(&data)
            .env("BERTH_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start berth server"),
    );
    let endpoint = format!("http://{cp_address}:{port}");
    let client = EcsClient::new(&endpoint, KEY, SECRET, "us-east-1");
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.call("ListClusters", json!({})).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client
        .call("CreateCluster", json!({"clusterName": "bench"}))
        .await
        .unwrap();

    let mut engines = Vec::new();
    let mut agents = Vec::new();
    for n in 0..2 {
        let ns = format!("bxh{sfx}n{n}");
        world.plug(
            &ns,
            &format!("vxh{sfx}n{n}"),
            &format!("{}.{}", world.net, 10 + n),
        );
        let exec_root = PathBuf::from(format!("/tmp/bx{sfx}e{n}"));
        let (engine, sock) = start_dockerd(&ns, &dir.path().join(format!("h{n}")), &exec_root);
        docker(&sock, &["load", "-i", image_tar.to_str().unwrap()]);
        let agent = ChildGuard(
            Command::new("nsenter")
                .arg(ns_path(&ns))
                .arg(&bin)
                .args(["agent", "--server", &endpoint, "--docker-host", &sock])
                .arg("--token-file")
                .arg(data.join("agent-token"))
                .arg("--data-dir")
                .arg(dir.path().join(format!("h{n}/agent")))
                .env("ECS_CLUSTER", "bench")
                .env("ECS_AVAILABILITY_ZONE", format!("zone-{n}"))
                .env("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached")
                .env("BERTH_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .expect("start berth agent"),
        );
        engines.push((engine, sock, exec_root));
        agents.push(agent);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = client
            .call("ListContainerInstances", json!({"cluster": "bench"}))
            .await
            .unwrap();
        if listed["containerInstanceArns"]
            .as_array()
            .map_or(0, Vec::len)
            == 2
        {
            break;
        }
        assert!(Instant::now() < deadline, "the agents did not join");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let serve = format!(
        "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1M count={FILE_MIB} 2>/dev/null && exec httpd -f -p 8080 -h /www"
    );
    for (family, command) in [("server", serve.as_str()), ("client", "exec sleep 3600")] {
        client
            .call(
                "RegisterTaskDefinition",
                json!({"family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["EC2"],
                       "containerDefinitions": [{"name": "main", "image": image, "memory": 1024,
                           "command": ["sh", "-c", command]}]}),
            )
            .await
            .unwrap();
    }
    let server_task = run_on(&client, "server", "zone-0").await;
    let ip = server_task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
        .as_str()
        .unwrap()
        .to_string();
    let near = run_on(&client, "client", "zone-0").await;
    let far = run_on(&client, "client", "zone-1").await;
    let id = |t: &Value| {
        t["containers"][0]["runtimeId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (near_id, far_id) = (id(&near), id(&far));
    // The file is written and served once the server answers.
    let deadline = Instant::now() + Duration::from_secs(120);
    while Command::new("docker")
        .args([
            "-H",
            &engines[0].1,
            "exec",
            &near_id,
            "wget",
            "-q",
            "-O",
            "/dev/null",
        ])
        .arg(format!("http://{ip}:8080/big"))
        .status()
        .map_or(true, |s| !s.success())
    {
        assert!(Instant::now() < deadline, "the file server never answered");
        std::thread::sleep(Duration::from_millis(500));
    }

    let (mut within, mut across) = (vec![], vec![]);
    for round in 0..ROUNDS {
        let w = fetch(&engines[0].1, &near_id, &ip);
        let a = fetch(&engines[1].1, &far_id, &ip);
        let mib_s = |secs: f64| FILE_MIB as f64 / secs;
        println!(
            "round {round}: within one host {:.0} MiB/s, across hosts {:.0} MiB/s",
            mib_s(w),
            mib_s(a)
        );
        within.push(mib_s(w));
        across.push(mib_s(a));
    }
    let (w, a) = (median(within), median(across));
    println!(
        "task to task: within one host {w:.0} MiB/s, across hosts {a:.0} MiB/s: {:.2}× (target ≥ 0.9)",
        a / w
    );
    for agent in agents {
        stop(agent);
    }
    for (engine, _, exec_root) in engines {
        stop(engine);
        let _ = std::fs::remove_dir_all(exec_root);
    }
    stop(server);
    if forward {
        let _ = Command::new("iptables")
            .args([
                "-D",
                "FORWARD",
                "-i",
                &world.bridge,
                "-o",
                &world.bridge,
                "-j",
                "ACCEPT",
            ])
            .status();
    }
    drop(world);
}
