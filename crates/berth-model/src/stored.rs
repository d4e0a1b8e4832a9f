//! How records are laid out in the store ([`Stored`]). Most are plain JSON. A task is
//! its record, its DescribeTasks shape (without tags) rendered when the task is written,
//! and its tags in wire shape: tasks are read far more often than written, so
//! DescribeTasks copies the rendered bytes into its response instead of decoding,
//! converting and encoding every task again.
//!
//! A task's layout: `u32 LE length | record JSON | u32 LE length | wire JSON | tags JSON`.

use berth_store::records::Stored;
use berth_store::stored_as_json;

use crate::account_settings::AccountSettingsRecord;
use crate::agent_access::{AgentCredentialRecord, JoinTokenRecord};
use crate::capacity::CapacityProviderRecord;
use crate::cluster::{tags_to_wire, ClusterRecord};
use crate::container_instance::InstanceRecord;
use crate::host_network::HostNetworkRecord;
use crate::iam::{
    AccessKeyRecord, GroupRecord, InstanceProfileRecord, ManagedPolicyRecord, RoleRecord,
    SessionRecord, UserRecord,
};
use crate::secret::{ParameterRecord, SecretRecord};
use crate::service::ServiceRecord;
use crate::task::TaskRecord;
use crate::task_definition::TaskDefinitionRecord;

stored_as_json!(
    ClusterRecord,
    InstanceRecord,
    TaskDefinitionRecord,
    ServiceRecord,
    JoinTokenRecord,
    AgentCredentialRecord,
    HostNetworkRecord,
    UserRecord,
    GroupRecord,
    RoleRecord,
    AccessKeyRecord,
    ManagedPolicyRecord,
    InstanceProfileRecord,
    SessionRecord,
    AccountSettingsRecord,
    CapacityProviderRecord,
    SecretRecord,
    ParameterRecord
);

impl Stored for TaskRecord {
    fn encode(&self) -> Vec<u8> {
        let record = serde_json::to_vec(self).expect("task records serialize");
        let wire = serde_json::to_vec(&self.to_wire(false)).expect("tasks serialize");
        let tags = serde_json::to_vec(&tags_to_wire(&self.tags)).expect("tags serialize");
        let mut out = Vec::with_capacity(8 + record.len() + wire.len() + tags.len());
        for segment in [&record, &wire] {
            out.extend_from_slice(&(segment.len() as u32).to_le_bytes());
            out.extend_from_slice(segment);
        }
        out.extend_from_slice(&tags);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(split(bytes)?.record).map_err(|e| e.to_string())
    }
}

/// The three segments of a stored task.
struct Segments<'a> {
    record: &'a [u8],
    wire: &'a [u8],
    tags: &'a [u8],
}

fn split(bytes: &[u8]) -> Result<Segments<'_>, String> {
    let segment = |at: usize| -> Result<(&[u8], usize), String> {
        let len_bytes = bytes.get(at..at + 4).ok_or("stored task is truncated")?;
        let len = u32::from_le_bytes(len_bytes.try_into().expect("4 bytes")) as usize;
        let body = bytes
            .get(at + 4..at + 4 + len)
            .ok_or("stored task is truncated")?;
        Ok((body, at + 4 + len))
    };
    let (record, next) = segment(0)?;
    let (wire, next) = segment(next)?;
    Ok(Segments {
        record,
        wire,
        tags: &bytes[next..],
    })
}

/// What counting a task needs: its launch type, last status and instance.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct TaskTally {
    pub launch_type: berth_api::ecs::LaunchType,
    pub last_status: crate::status::TaskStatus,
    pub placement: TallyPlacement,
}

/// The part of a task's placement a tally reads.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct TallyPlacement {
    pub instance_arn: String,
}

/// A stored task's [`TaskTally`], read without building the rest of its record:
/// DescribeClusters and DescribeContainerInstances count every task of a cluster.
pub fn tally(bytes: &[u8]) -> Result<TaskTally, String> {
    serde_json::from_slice(split(bytes)?.record).map_err(|e| e.to_string())
}

/// Appends a stored task's DescribeTasks JSON to `out`, with its tags when asked.
pub fn write_wire(bytes: &[u8], with_tags: bool, out: &mut Vec<u8>) -> Result<(), String> {
    let Segments { wire, tags, .. } = split(bytes)?;
    match (with_tags, wire.split_last()) {
        (true, Some((b'}', body))) => {
            out.extend_from_slice(body);
            out.extend_from_slice(b",\"tags\":");
            out.extend_from_slice(tags);
            out.push(b'}');
        }
        (true, _) => return Err("stored task's wire form is not an object".into()),
        (false, _) => out.extend_from_slice(wire),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_reads_what_the_whole_record_says() {
        let task = crate::fixtures::task_record();
        let stored = task.encode();
        let t = tally(&stored).unwrap();
        assert_eq!(t.launch_type, task.launch_type);
        assert_eq!(t.last_status, task.last_status);
        assert_eq!(t.placement.instance_arn, task.placement.instance_arn);
        assert!(tally(&stored[..3]).is_err());
    }

    fn task() -> TaskRecord {
        let mut t = crate::fixtures::task_record();
        t.tags = [("team".to_string(), "a\"b".to_string())].into();
        t
    }

    #[test]
    fn the_record_round_trips_and_the_wire_form_matches_to_wire() {
        let t = task();
        let bytes = t.encode();
        assert_eq!(TaskRecord::decode(&bytes).unwrap(), t);
        for with_tags in [false, true] {
            let mut out = Vec::new();
            write_wire(&bytes, with_tags, &mut out).unwrap();
            let spliced: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(spliced, serde_json::to_value(t.to_wire(with_tags)).unwrap());
        }
    }

    #[test]
    fn truncated_bytes_are_an_error_not_a_panic() {
        let bytes = task().encode();
        for cut in [0, 3, 10, bytes.len() / 2] {
            assert!(TaskRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
