//! Test fixtures for Berth: task definitions as users write them, a SigV4-signing ECS
//! client, an in-process control plane on a temporary data directory, and a fake agent
//! that drives task lifecycles through the real agent channel. Never shipped in
//! release builds of `berth`.

pub mod bench;
pub mod client;
pub mod cluster;
pub mod etcd;
pub mod fake_agent;
pub mod fixtures;

pub use client::{CallError, EcsClient};
pub use cluster::TestCluster;
pub use etcd::EtcdCluster;
pub use fake_agent::{FakeAgent, FakeAgentConfig};
