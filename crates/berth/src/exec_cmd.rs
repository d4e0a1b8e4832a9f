//! `berth exec TASK [--container NAME] -- COMMAND...`: runs a command in a running
//! task's container, as the user of the profile. ExecuteCommand (signed, authorized as
//! `ecs:ExecuteCommand`) issues a session; its `streamUrl` is opened with an HTTP
//! upgrade and the session's token; the agent running the task joins it and runs the
//! command with `docker exec`. Frames: `berth_api::exec`.
//!
//! With terminals on standard input and output (or `-t`), the command gets a terminal: the
//! local one is put in raw mode (restored on the way out) and its size follows the
//! window. Otherwise standard input, output and error are plain pipes. `berth exec`
//! exits with the command's exit code.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use berth_agent::exec::{write_data, write_frame, FrameReader};
use berth_api::exec::{join_command, Frame, UPGRADE_PROTOCOL};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::client::Client;

/// What to run, and how.
pub struct ExecRequest<'a> {
    pub cluster: &'a str,
    pub task: &'a str,
    pub container: Option<&'a str>,
    pub command: &'a [String],
    /// `Some(true)`: always a terminal; `Some(false)`: never; `None`: when standard
    /// input and output are terminals.
    pub tty: Option<bool>,
}

/// Whether the session gets a terminal.
fn wants_tty(asked: Option<bool>, on_a_terminal: bool) -> bool {
    asked.unwrap_or(on_a_terminal)
}

/// The HTTP URL of a session's `ws://` or `wss://` stream URL.
fn http_url(stream_url: &str) -> anyhow::Result<String> {
    if let Some(rest) = stream_url.strip_prefix("wss://") {
        Ok(format!("https://{rest}"))
    } else if let Some(rest) = stream_url.strip_prefix("ws://") {
        Ok(format!("http://{rest}"))
    } else {
        bail!("the session's streamUrl {stream_url} is not a ws:// or wss:// URL")
    }
}

/// Runs the command; answers its exit code.
pub async fn run(client: &Client, req: ExecRequest<'_>) -> anyhow::Result<i32> {
    let mut body = json!({
        "cluster": req.cluster,
        "task": req.task,
        "command": join_command(req.command),
        "interactive": true,
    });
    if let Some(container) = req.container {
        body["container"] = json!(container);
    }
    let answer = client
        .call(
            "ecs",
            "AmazonEC2ContainerServiceV20141113.ExecuteCommand",
            body,
        )
        .await?;
    let session = &answer["session"];
    let (Some(url), Some(token)) = (
        session["streamUrl"].as_str(),
        session["tokenValue"].as_str(),
    ) else {
        bail!("ExecuteCommand answered without a session: {answer}");
    };
    let resp = client
        .http()
        .get(http_url(url)?)
        .header(reqwest::header::CONNECTION, "upgrade")
        .header(reqwest::header::UPGRADE, UPGRADE_PROTOCOL)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("cannot reach the session's stream at {url}"))?;
    if resp.status().as_u16() != 101 {
        let value: serde_json::Value = resp.json().await.unwrap_or_default();
        bail!(
            "{}: {}",
            value["__type"].as_str().unwrap_or("error"),
            value["message"]
                .as_str()
                .unwrap_or("the session's stream was refused")
        );
    }
    let stream = resp
        .upgrade()
        .await
        .context("the session's stream did not open")?;
    // Output redirected to a file stays plain (no terminal's CR LF), as it was written.
    let on_a_terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let tty = wants_tty(req.tty, on_a_terminal);
    let _raw = if tty { terminal::Raw::enter() } else { None };
    let (cols, rows) = terminal::size().unwrap_or((0, 0));
    let (rd, mut wr) = tokio::io::split(stream);
    let (to_agent, mut outgoing) = mpsc::channel::<Frame>(16);
    to_agent.send(Frame::Open { tty, cols, rows }).await?;
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            let written = match frame {
                Frame::Stdin(bytes) => write_data(&mut wr, &bytes, Frame::Stdin).await,
                other => write_frame(&mut wr, &other).await,
            };
            if written.is_err() {
                return;
            }
        }
    });
    tokio::spawn(forward_stdin(to_agent.clone()));
    if tty {
        tokio::spawn(follow_window(to_agent.clone()));
    }
    drop(to_agent);
    let code = print_output(FrameReader::new(rd)).await;
    writer.abort();
    code
}

/// Sends standard input as it is read, then says it ended.
async fn forward_stdin(to_agent: mpsc::Sender<Frame>) {
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to_agent
                    .send(Frame::Stdin(buf[..n].to_vec()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
    let _ = to_agent.send(Frame::StdinClosed).await;
}

/// Sends the terminal's size each time the window changes.
async fn follow_window(to_agent: mpsc::Sender<Frame>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut changes) = signal(SignalKind::window_change()) else {
        return;
    };
    while changes.recv().await.is_some() {
        if let Some((cols, rows)) = terminal::size() {
            if to_agent.send(Frame::Resize { cols, rows }).await.is_err() {
                return;
            }
        }
    }
}

/// Writes the command's output where it belongs until it exits; answers its exit code.
async fn print_output<R: tokio::io::AsyncRead + Unpin>(
    mut frames: FrameReader<R>,
) -> anyhow::Result<i32> {
    loop {
        match frames.next().await {
            Ok(Some(Frame::Stdout(bytes))) => {
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes)?;
                out.flush()?;
            }
            Ok(Some(Frame::Stderr(bytes))) => {
                let mut err = std::io::stderr().lock();
                err.write_all(&bytes)?;
                err.flush()?;
            }
            Ok(Some(Frame::Exit(code))) => return Ok(code),
            Ok(Some(Frame::Error(message))) => bail!("the command did not run: {message}"),
            Ok(Some(_)) => {}
            Ok(None) => bail!("the session ended before the command's exit code arrived"),
            Err(e) => bail!("the session's stream broke: {e}"),
        }
    }
}

/// The local terminal: raw mode and size.
mod terminal {
    use rustix::termios::{tcgetattr, tcgetwinsize, tcsetattr, OptionalActions, Termios};

    /// Standard input in raw mode while this lives.
    pub struct Raw {
        saved: Termios,
    }

    impl Raw {
        /// Raw mode on standard input, if it is a terminal.
        pub fn enter() -> Option<Raw> {
            let stdin = std::io::stdin();
            let saved = tcgetattr(&stdin).ok()?;
            let mut raw = saved.clone();
            raw.make_raw();
            tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
            Some(Raw { saved })
        }
    }

    impl Drop for Raw {
        fn drop(&mut self) {
            let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
        }
    }

    /// Columns and rows of the terminal on standard input, else standard output.
    pub fn size() -> Option<(u16, u16)> {
        let size = tcgetwinsize(std::io::stdin())
            .or_else(|_| tcgetwinsize(std::io::stdout()))
            .ok()?;
        (size.ws_col > 0 && size.ws_row > 0).then_some((size.ws_col, size.ws_row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_when_asked_else_when_both_ends_are_terminals() {
        assert!(wants_tty(Some(true), false));
        assert!(!wants_tty(Some(false), true));
        assert!(wants_tty(None, true));
        assert!(!wants_tty(None, false));
    }

    #[test]
    fn stream_urls_become_http_urls() {
        assert_eq!(
            http_url("ws://127.0.0.1:7430/exec/v1/sessions/s").unwrap(),
            "http://127.0.0.1:7430/exec/v1/sessions/s"
        );
        assert_eq!(
            http_url("wss://berth.example:7430/exec/v1/sessions/s").unwrap(),
            "https://berth.example:7430/exec/v1/sessions/s"
        );
        assert!(http_url("ftp://x").is_err());
    }

    #[tokio::test]
    async fn output_goes_out_until_the_exit_code() {
        let mut bytes = Vec::new();
        Frame::Stdout(b"".to_vec()).encode(&mut bytes);
        Frame::Exit(3).encode(&mut bytes);
        Frame::Stdout(b"never read".to_vec()).encode(&mut bytes);
        let code = print_output(FrameReader::new(&bytes[..])).await.unwrap();
        assert_eq!(code, 3);

        let mut bytes = Vec::new();
        Frame::Error("container app of task t is not running on this host".into())
            .encode(&mut bytes);
        let err = print_output(FrameReader::new(&bytes[..]))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is not running on this host"));

        let cut = Frame::Stdout(b"x".to_vec()).to_bytes();
        assert!(print_output(FrameReader::new(&cut[..])).await.is_err());
    }
}
