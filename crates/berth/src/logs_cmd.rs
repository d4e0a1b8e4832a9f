//! `berth logs TASK [-f]`: a task's container output from CloudWatch Logs, as a user
//! with the `berth` profile sees it. The task's definition names each container's
//! `awslogs` group and stream prefix; the streams (`PREFIX/CONTAINER/TASK-ID`) are read
//! oldest first with GetLogEvents, and with `--follow` polled with their forward tokens
//! until the task has stopped and nothing more arrives.

use std::time::Duration;

use anyhow::bail;

use crate::client::Client;
use serde_json::json;

/// How often `--follow` asks for new lines.
const POLL: Duration = Duration::from_secs(1);

/// One container's stream and where reading it stands.
struct Followed {
    container: String,
    group: String,
    stream: String,
    token: Option<String>,
}

/// The cluster to look for `task` in: the one its ARN names (`task/CLUSTER/ID`), the
/// one given, or `default`; an ARN and a `--cluster` that disagree are an error.
pub fn cluster_of(task: &str, given: Option<&str>) -> anyhow::Result<String> {
    let from_arn = task
        .strip_prefix("arn:")
        .and_then(|_| task.split(':').nth(5))
        .and_then(|resource| resource.strip_prefix("task/"))
        .and_then(|path| path.split_once('/'))
        .map(|(cluster, _)| cluster.to_string());
    match (from_arn, given) {
        (Some(arn), Some(given)) if arn != given => {
            bail!("the task's ARN names cluster {arn}, not {given}; drop --cluster or fix it")
        }
        (Some(arn), _) => Ok(arn),
        (None, Some(given)) => Ok(given.to_string()),
        (None, None) => Ok("default".to_string()),
    }
}

/// Prints the task's container output; follows it with `follow`.
pub async fn run(client: &Client, cluster: &str, task: &str, follow: bool) -> anyhow::Result<()> {
    let described = client
        .call(
            "ecs",
            "AmazonEC2ContainerServiceV20141113.DescribeTasks",
            json!({"cluster": cluster, "tasks": [task]}),
        )
        .await?;
    let Some(found) = described["tasks"].get(0) else {
        bail!("task {task} is not in cluster {cluster} (give --cluster if it is elsewhere)");
    };
    let task_arn = found["taskArn"].as_str().unwrap_or(task).to_string();
    let task_id = task_arn.rsplit('/').next().unwrap_or(&task_arn).to_string();
    let definition = client
        .call(
            "ecs",
            "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition",
            json!({"taskDefinition": found["taskDefinitionArn"]}),
        )
        .await?;
    let mut streams = Vec::new();
    for c in definition["taskDefinition"]["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let options = &c["logConfiguration"]["options"];
        let (Some("awslogs"), Some(group), Some(prefix)) = (
            c["logConfiguration"]["logDriver"].as_str(),
            options["awslogs-group"].as_str(),
            options["awslogs-stream-prefix"].as_str(),
        ) else {
            continue;
        };
        let container = c["name"].as_str().unwrap_or_default().to_string();
        streams.push(Followed {
            stream: format!("{prefix}/{container}/{task_id}"),
            container,
            group: group.to_string(),
            token: None,
        });
    }
    if streams.is_empty() {
        bail!(
            "no container of {task_id} logs with awslogs and a stream prefix; its output \
             is only in `docker logs` on its host"
        );
    }
    let labelled = streams.len() > 1;
    // Output can reach its stream a moment after the task stops: following ends after
    // a quiet poll that began once the task had stopped.
    let mut stopped = false;
    loop {
        let mut printed = 0;
        for s in &mut streams {
            printed += poll(client, s, labelled).await?;
        }
        if !follow || (stopped && printed == 0) {
            return Ok(());
        }
        if printed == 0 {
            tokio::time::sleep(POLL).await;
            let now = client
                .call(
                    "ecs",
                    "AmazonEC2ContainerServiceV20141113.DescribeTasks",
                    json!({"cluster": cluster, "tasks": [&task_arn]}),
                )
                .await?;
            stopped = now["tasks"][0]["lastStatus"] == "STOPPED";
        }
    }
}

/// Prints what a stream has past its token; returns how many lines.
async fn poll(client: &Client, s: &mut Followed, labelled: bool) -> anyhow::Result<usize> {
    let mut printed = 0;
    loop {
        let mut body = json!({"logGroupName": s.group, "logStreamName": s.stream});
        match &s.token {
            Some(token) => body["nextToken"] = json!(token),
            None => body["startFromHead"] = json!(true),
        }
        let page = match client
            .call("logs", "Logs_20140328.GetLogEvents", body)
            .await
        {
            Ok(page) => page,
            // Not made yet: the container has written nothing.
            Err(e) if e.to_string().starts_with("ResourceNotFoundException") => return Ok(printed),
            Err(e) => return Err(e),
        };
        let events = page["events"].as_array().cloned().unwrap_or_default();
        for e in &events {
            let message = e["message"].as_str().unwrap_or_default();
            if labelled {
                println!("{} | {message}", s.container);
            } else {
                println!("{message}");
            }
        }
        printed += events.len();
        s.token = page["nextForwardToken"].as_str().map(str::to_string);
        if events.is_empty() {
            return Ok(printed);
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_cluster_comes_from_the_arn_else_the_flag_else_default() {
        let arn = "arn:aws:ecs:us-east-1:000000000000:task/prod/0123abcd";
        assert_eq!(super::cluster_of(arn, None).unwrap(), "prod");
        assert_eq!(super::cluster_of(arn, Some("prod")).unwrap(), "prod");
        assert!(super::cluster_of(arn, Some("dev")).is_err());
        assert_eq!(super::cluster_of("0123abcd", Some("dev")).unwrap(), "dev");
        assert_eq!(super::cluster_of("0123abcd", None).unwrap(), "default");
    }
}
