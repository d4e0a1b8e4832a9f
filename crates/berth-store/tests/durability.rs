//! Acknowledged writes survive `kill -9`: this test binary re-executes itself as a child
//! that commits transactions and prints each acknowledgement, the parent SIGKILLs it
//! mid-stream, reopens the store and checks every acknowledged write.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use berth_store::embedded::EmbeddedStore;
use berth_store::{Compare, Op, Store, Txn, TxnOutcome};

/// Set in the child's environment to the store directory.
const CHILD_DIR: &str = "BERTH_STORE_DURABILITY_CHILD_DIR";
/// Acknowledgements the parent waits for before it kills the child.
const ACKS_BEFORE_KILL: usize = 3_000;
/// Concurrent writers in the child, so kills land inside group commits.
const WRITERS: usize = 32;

/// The child half of `acknowledged_writes_survive_kill_9`; does nothing in a normal run.
#[test]
fn durability_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let store = EmbeddedStore::open(dir.as_ref()).unwrap();
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let key = format!("k/{writer}/{i}");
                        let value = format!("value of {key}");
                        let create = Txn::new()
                            .when(Compare::absent(&key))
                            .then(Op::put(&key, value.clone()));
                        let TxnOutcome::Committed { revision } = store.txn(create).await.unwrap()
                        else {
                            panic!("fresh key {key} conflicted");
                        };
                        println!("ACK {revision} {key} {value}");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "durability_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let Some(ack) = line.strip_prefix("ACK ") else {
            continue;
        };
        let (revision, rest) = ack.split_once(' ').unwrap();
        let (key, value) = rest.split_once(' ').unwrap();
        acked.push((
            revision.parse::<u64>().unwrap(),
            key.to_owned(),
            value.to_owned(),
        ));
        if acked.len() == ACKS_BEFORE_KILL {
            break;
        }
    }
    assert_eq!(
        acked.len(),
        ACKS_BEFORE_KILL,
        "the child stopped early; see its stderr"
    );
    child.kill().unwrap(); // SIGKILL
    assert!(!child.wait().unwrap().success());

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = EmbeddedStore::open(dir.path()).expect("reopen after kill -9");
        let last_acked = acked.iter().map(|(revision, ..)| *revision).max().unwrap();
        let revision = store.revision().await.unwrap();
        assert!(
            revision >= last_acked,
            "revision {revision} is behind an acked {last_acked}"
        );
        for (revision, key, value) in &acked {
            let kv = store.get(key).await.unwrap();
            let kv = kv.unwrap_or_else(|| panic!("acknowledged {key} at {revision} was lost"));
            assert_eq!(
                (&kv.value[..], kv.mod_revision),
                (value.as_bytes(), *revision),
                "{key}"
            );
        }
        // And the store still works.
        let outcome = store
            .txn(Txn::new().then(Op::put("after", "kill")))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            TxnOutcome::Committed {
                revision: revision + 1
            }
        );
    });
}
