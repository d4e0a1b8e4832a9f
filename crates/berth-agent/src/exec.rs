//! Exec sessions on this host (`berth exec`; frames in `berth_api::exec`): a long poll
//! of every control plane replica for sessions opened there for this instance's tasks;
//! for each, the agent connects back to the replica that offered it (the agent dials
//! out, so it may sit behind NAT), reads the CLI's [`Frame::Open`], runs the command in the task's
//! container through the [`Runtime`] (`docker exec`), and carries standard input,
//! resizes, output and the exit code over the stream. A session that cannot run (the
//! container is gone, the command does not exist) ends with [`Frame::Error`].
//!
//! The frame reader and writer are shared with the CLI's side.

use std::sync::Arc;
use std::time::Duration;

use berth_api::exec::{Decoder, ExecOffer, Frame, CHUNK};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::channel::Channel;
use crate::runtime::{ExecControl, ExecOutput, ExecSpec, Phase, Runtime, LABEL_CONTAINER_INSTANCE};

/// How long the agent waits for the CLI's first frame.
const OPEN_WITHIN: Duration = Duration::from_secs(30);
/// How long each exec poll waits.
const POLL_WAIT: Duration = Duration::from_secs(20);

/// Reads exec frames from a byte stream.
pub struct FrameReader<R> {
    io: R,
    decoder: Decoder,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(io: R) -> FrameReader<R> {
        FrameReader {
            io,
            decoder: Decoder::default(),
        }
    }

    /// The next frame; `None` when the stream ended between frames.
    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let invalid = |e| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
            if let Some(frame) = self.decoder.next_frame().map_err(invalid)? {
                return Ok(Some(frame));
            }
            let n = self.io.read(&mut chunk).await?;
            if n == 0 {
                if self.decoder.is_partial() {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                return Ok(None);
            }
            self.decoder.push(&chunk[..n]);
        }
    }
}

/// Writes one frame and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> std::io::Result<()> {
    w.write_all(&frame.to_bytes()).await?;
    w.flush().await
}

/// Writes `bytes` as frames `make` builds, each at most [`CHUNK`] long.
pub async fn write_data<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
    make: fn(Vec<u8>) -> Frame,
) -> std::io::Result<()> {
    for piece in bytes.chunks(CHUNK) {
        write_frame(w, &make(piece.to_vec())).await?;
    }
    Ok(())
}

/// Takes up the exec sessions of container instance `arn` until aborted, from every
/// replica the channel calls (a session lives on the replica that issued it).
pub async fn take_sessions(channel: Channel, arn: String, runtime: Arc<dyn Runtime>) {
    let polls = channel.replicas().iter().map(|base| {
        take_sessions_from(channel.clone(), base.clone(), arn.clone(), runtime.clone())
    });
    futures::future::join_all(polls).await;
}

/// Takes up the exec sessions replica `base` issues for `arn`.
async fn take_sessions_from(
    channel: Channel,
    base: String,
    arn: String,
    runtime: Arc<dyn Runtime>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match channel.exec_sessions(&base, &arn, POLL_WAIT).await {
            Ok(found) => {
                backoff = Duration::from_millis(100);
                for offer in found.sessions {
                    tokio::spawn(run(
                        channel.clone(),
                        base.clone(),
                        arn.clone(),
                        runtime.clone(),
                        offer,
                    ));
                }
            }
            Err(e) => {
                tracing::warn!(%arn, replica = %base, error = %e, "cannot poll for exec sessions; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// One session: connect back, run, report.
async fn run(
    channel: Channel,
    base: String,
    arn: String,
    runtime: Arc<dyn Runtime>,
    offer: ExecOffer,
) {
    let io = match channel.exec_connect(&base, &arn, &offer.session_id).await {
        Ok(io) => io,
        Err(e) => {
            tracing::warn!(session = %offer.session_id, error = %e, "cannot join exec session");
            return;
        }
    };
    tracing::info!(
        session = %offer.session_id,
        task = %offer.task_arn,
        container = %offer.container_name,
        "exec session"
    );
    let (rd, mut wr) = tokio::io::split(io);
    let mut frames = FrameReader::new(rd);
    if let Err(message) = session(&mut frames, &mut wr, &arn, &*runtime, &offer).await {
        tracing::info!(session = %offer.session_id, %message, "exec session failed");
        let _ = write_frame(&mut wr, &Frame::Error(message)).await;
    }
    let _ = wr.shutdown().await;
}

/// Runs the session's command and carries its stream; an error is for the CLI.
async fn session<R, W>(
    frames: &mut FrameReader<R>,
    wr: &mut W,
    arn: &str,
    runtime: &dyn Runtime,
    offer: &ExecOffer,
) -> Result<(), String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tty, cols, rows) = match tokio::time::timeout(OPEN_WITHIN, frames.next()).await {
        Ok(Ok(Some(Frame::Open { tty, cols, rows }))) => (tty, cols, rows),
        Ok(Ok(Some(other))) => return Err(format!("the stream began with {other:?}, not Open")),
        Ok(Ok(None)) | Ok(Err(_)) => return Err("the stream ended before it opened".into()),
        Err(_) => return Err(format!("no Open frame within {OPEN_WITHIN:?}")),
    };
    let container = runtime
        .list()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|c| {
            c.task_arn() == Some(offer.task_arn.as_str())
                && c.container_name() == Some(offer.container_name.as_str())
                && c.labels
                    .get(LABEL_CONTAINER_INSTANCE)
                    .is_none_or(|i| i == arn)
                && c.phase == Phase::Running
        })
        .ok_or_else(|| {
            format!(
                "container {} of task {} is not running on this host",
                offer.container_name, offer.task_arn
            )
        })?;
    let spec = ExecSpec {
        command: offer.command.clone(),
        tty,
        size: (cols > 0 && rows > 0).then_some((cols, rows)),
    };
    let process = runtime
        .exec(&container.id, &spec)
        .await
        .map_err(|e| e.to_string())?;
    let (mut input, mut output) = (process.input, process.output);
    let control: Arc<dyn ExecControl> = Arc::from(process.control);
    if let (true, Some((cols, rows))) = (tty, spec.size) {
        // The engine sizes a terminal only once the command runs (as `docker exec` does).
        let _ = control.resize(cols, rows).await;
    }
    let feeding = async {
        while let Ok(Some(frame)) = frames.next().await {
            match frame {
                Frame::Stdin(bytes) => {
                    let fed = async {
                        input.write_all(&bytes).await?;
                        input.flush().await
                    };
                    if fed.await.is_err() {
                        break;
                    }
                }
                Frame::StdinClosed => break,
                Frame::Resize { cols, rows } => {
                    let _ = control.resize(cols, rows).await;
                }
                _ => {}
            }
        }
        let _ = input.shutdown().await;
        // Resizes may still come after standard input has ended.
        while let Ok(Some(frame)) = frames.next().await {
            if let Frame::Resize { cols, rows } = frame {
                let _ = control.resize(cols, rows).await;
            }
        }
        std::future::pending::<()>().await
    };
    let lost = |e: std::io::Error| format!("the stream to the CLI broke: {e}");
    let draining = async {
        while let Some(out) = output.next().await {
            match out.map_err(|e| e.to_string())? {
                ExecOutput::Stdout(b) => write_data(wr, &b, Frame::Stdout).await,
                ExecOutput::Stderr(b) => write_data(wr, &b, Frame::Stderr).await,
            }
            .map_err(lost)?;
        }
        let code = control.exit_code().await.map_err(|e| e.to_string())?;
        write_frame(wr, &Frame::Exit(code)).await.map_err(lost)
    };
    tokio::select! {
        r = draining => r,
        () = feeding => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeRuntime;
    use crate::runtime::{ContainerSpec, LABEL_CONTAINER_NAME, LABEL_TASK_ARN};

    const INSTANCE: &str = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/i";
    const TASK: &str = "arn:aws:ecs:us-east-1:000000000000:task/default/t";

    fn offer(command: &[&str]) -> ExecOffer {
        ExecOffer {
            session_id: "s".into(),
            task_arn: TASK.into(),
            container_name: "app".into(),
            command: command.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A fake runtime with the task's container `app`, running when `running`.
    async fn runtime(running: bool) -> (FakeRuntime, String) {
        let runtime = FakeRuntime::new();
        let labels = [
            (LABEL_TASK_ARN, TASK),
            (LABEL_CONTAINER_NAME, "app"),
            (LABEL_CONTAINER_INSTANCE, INSTANCE),
        ];
        let id = runtime
            .create(&ContainerSpec {
                name: "app".into(),
                image: "busybox".into(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            })
            .await
            .unwrap();
        if running {
            runtime.start(&id).await.unwrap();
        }
        (runtime, id)
    }

    /// Runs a session fed `sent`; answers its result and the frames the CLI got.
    async fn converse(
        runtime: &FakeRuntime,
        offer: &ExecOffer,
        sent: &[Frame],
    ) -> (Result<(), String>, Vec<Frame>) {
        let mut from_cli = Vec::new();
        for f in sent {
            f.encode(&mut from_cli);
        }
        let mut frames = FrameReader::new(&from_cli[..]);
        let mut to_cli = Vec::new();
        let result = session(&mut frames, &mut to_cli, INSTANCE, runtime, offer).await;
        let mut got = Vec::new();
        let mut reader = FrameReader::new(&to_cli[..]);
        while let Some(f) = reader.next().await.unwrap() {
            got.push(f);
        }
        (result, got)
    }

    #[tokio::test]
    async fn a_session_carries_input_resizes_output_and_the_exit_code() {
        let (runtime, id) = runtime(true).await;
        let (result, got) = converse(
            &runtime,
            &offer(&["exit", "3"]),
            &[
                Frame::Open {
                    tty: true,
                    cols: 80,
                    rows: 24,
                },
                Frame::Stdin(b"hello ".to_vec()),
                Frame::Stdin(b"there".to_vec()),
                Frame::Resize {
                    cols: 100,
                    rows: 30,
                },
                Frame::StdinClosed,
            ],
        )
        .await;
        result.unwrap();
        let (exit, output) = got.split_last().unwrap();
        assert_eq!(exit, &Frame::Exit(3));
        let echoed: Vec<u8> = output
            .iter()
            .flat_map(|f| match f {
                Frame::Stdout(b) => b.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(echoed, b"hello there");
        let calls = runtime.calls();
        assert!(calls.contains(&format!(
            "exec {id} [\"exit\", \"3\"] tty=true size=Some((80, 24))"
        )));
        assert!(calls.contains(&format!("resize {id} 80x24")), "{calls:?}");
        assert!(calls.contains(&format!("resize {id} 100x30")), "{calls:?}");
    }

    #[tokio::test]
    async fn a_session_that_cannot_run_says_why() {
        let open = Frame::Open {
            tty: false,
            cols: 0,
            rows: 0,
        };
        let (stopped, _) = runtime(false).await;
        let (result, got) = converse(&stopped, &offer(&["sh"]), std::slice::from_ref(&open)).await;
        assert_eq!(
            result.unwrap_err(),
            format!("container app of task {TASK} is not running on this host")
        );
        assert!(got.is_empty());

        let (running, _) = runtime(true).await;
        let (result, _) = converse(&running, &offer(&["sh"]), &[Frame::StdinClosed]).await;
        assert!(result.unwrap_err().contains("not Open"));
        let (result, _) = converse(&running, &offer(&["sh"]), &[]).await;
        assert!(result.unwrap_err().contains("ended before it opened"));
    }
}
