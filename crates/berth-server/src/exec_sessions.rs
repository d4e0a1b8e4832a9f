//! Exec sessions on this replica (see `berth_api::exec`): ExecuteCommand issues one; the
//! CLI opens it (its stream waits here); the agent running the task, told of it by its
//! exec long poll, joins it; the two streams are then spliced. Sessions live in this
//! replica's memory only: a session's streamUrl names this replica, and agents poll
//! every replica they were given and join each session where it was issued.
//! ExecuteCommand refuses a task whose agent is not polling here, rather than leave the
//! CLI waiting for an agent that will never come.
//!
//! Every wait is bounded: a session not opened within [`OPEN_WITHIN`] is forgotten, and
//! an opened one the agent does not join within [`JOIN_WITHIN`] fails with a clear error.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::exec::ExecOffer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

/// How long an issued session waits for its CLI to open it.
pub const OPEN_WITHIN: Duration = Duration::from_secs(60);
/// How long an opened session waits for the agent to join it.
pub const JOIN_WITHIN: Duration = Duration::from_secs(15);
/// How long after its last exec poll ended an agent still counts as listening here (it
/// polls again at once; this covers the gap and a slow answer).
pub const LISTENING_GRACE: Duration = Duration::from_secs(10);

/// A byte stream of either side (an upgraded HTTP connection; a duplex pipe in tests).
pub trait Duplex: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Duplex for T {}
/// A boxed [`Duplex`].
pub type Stream = Box<dyn Duplex>;

/// Why a session cannot be opened or joined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No such session here with that token (never issued, expired, or issued by
    /// another replica).
    #[error(
        "Exec session {0} is not open on this Berth replica: it expired, was already used, \
         or was issued by another replica (open the streamUrl ExecuteCommand returned, \
         within {OPEN_WITHIN:?})."
    )]
    Unknown(String),
    /// Opened already: a session carries one stream.
    #[error("Exec session {0} is already open; run ExecuteCommand again for another.")]
    AlreadyOpen(String),
    /// The agent did not join in time.
    #[error(
        "The execute command failed: the agent of container instance {instance} did not \
         take up the session within {JOIN_WITHIN:?}. Check that its agent is running and \
         connected, then try again."
    )]
    AgentAbsent { instance: String },
    /// An agent that does not run the task tried to join.
    #[error("Exec session {0} is not for this container instance.")]
    NotYours(String),
}

/// The sessions and listening agents of this replica.
pub struct Hub {
    state: Mutex<State>,
    /// `ws://HOST:PORT` or `wss://HOST:PORT` of this replica, for sessions' streamUrl.
    stream_base: String,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Session>,
    agents: HashMap<String, Listener>,
}

struct Listener {
    /// Exec polls in flight.
    polls: usize,
    /// When the last one ended.
    last_seen: Instant,
    /// Sessions opened and waiting for this agent, not yet handed to it.
    offers: VecDeque<ExecOffer>,
    notify: Arc<Notify>,
}

struct Session {
    token: String,
    instance_arn: String,
    offer: ExecOffer,
    issued_at: Instant,
    /// Set once the CLI has opened it: where to send the agent's stream.
    waiting: Option<oneshot::Sender<oneshot::Receiver<Stream>>>,
}

/// A session ExecuteCommand issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub session_id: String,
    pub stream_url: String,
    pub token: String,
}

impl Hub {
    /// A hub whose sessions' streams are at `stream_base` (`ws://HOST:PORT`).
    pub fn new(stream_base: String) -> Hub {
        Hub {
            state: Mutex::new(State::default()),
            stream_base,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("exec hub lock")
    }

    /// Whether the agent of `instance_arn` is taking exec sessions from this replica.
    pub fn listening(&self, instance_arn: &str) -> bool {
        self.state()
            .agents
            .get(instance_arn)
            .is_some_and(|l| l.polls > 0 || l.last_seen.elapsed() <= LISTENING_GRACE)
    }

    /// Issues a session for `command` in container `container_name` of `task_arn`, run
    /// by the agent of `instance_arn`.
    pub fn issue(
        &self,
        instance_arn: &str,
        task_arn: &str,
        container_name: &str,
        command: Vec<String>,
    ) -> Issued {
        let session_id = format!("ecs-execute-command-{}", uuid::Uuid::new_v4().simple());
        let token = crate::key_material::session_token(64);
        let mut state = self.state();
        state
            .sessions
            .retain(|_, s| s.waiting.is_some() || s.issued_at.elapsed() <= OPEN_WITHIN);
        state.sessions.insert(
            session_id.clone(),
            Session {
                token: token.clone(),
                instance_arn: instance_arn.to_string(),
                offer: ExecOffer {
                    session_id: session_id.clone(),
                    task_arn: task_arn.to_string(),
                    container_name: container_name.to_string(),
                    command,
                },
                issued_at: Instant::now(),
                waiting: None,
            },
        );
        Issued {
            stream_url: format!(
                "{}{}{session_id}",
                self.stream_base,
                berth_api::exec::STREAM_PATH
            ),
            session_id,
            token,
        }
    }

    /// The CLI opens session `id` with its `token`: the session is offered to its agent,
    /// and this waits until the agent joins. Answers where the agent's stream will come.
    pub async fn open(
        self: &Arc<Self>,
        id: &str,
        token: &str,
    ) -> Result<oneshot::Receiver<Stream>, SessionError> {
        let (tx, rx) = oneshot::channel();
        let instance = {
            let mut state = self.state();
            let session = state
                .sessions
                .get_mut(id)
                .filter(|s| {
                    same_secret(&s.token, token)
                        && (s.waiting.is_some() || s.issued_at.elapsed() <= OPEN_WITHIN)
                })
                .ok_or_else(|| SessionError::Unknown(id.to_string()))?;
            if session.waiting.is_some() {
                return Err(SessionError::AlreadyOpen(id.to_string()));
            }
            session.waiting = Some(tx);
            let (instance, offer) = (session.instance_arn.clone(), session.offer.clone());
            let listener = listener(&mut state, &instance);
            listener.offers.push_back(offer);
            listener.notify.notify_waiters();
            instance
        };
        // Forgets the session however this ends (joined, timed out, or the CLI gone).
        let _forget = Forget {
            hub: self.clone(),
            id: id.to_string(),
            instance: instance.clone(),
        };
        match tokio::time::timeout(JOIN_WITHIN, rx).await {
            Ok(Ok(agent)) => Ok(agent),
            _ => Err(SessionError::AgentAbsent { instance }),
        }
    }

    /// The agent of `instance_arn` waits up to `wait` for sessions to take up.
    pub async fn poll(&self, instance_arn: &str, wait: Duration) -> Vec<ExecOffer> {
        let _polling = Polling::start(self, instance_arn);
        let deadline = Instant::now() + wait;
        loop {
            let notify = {
                let mut state = self.state();
                let l = listener(&mut state, instance_arn);
                if !l.offers.is_empty() {
                    return l.offers.drain(..).collect();
                }
                l.notify.clone()
            };
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.state().agents[instance_arn].offers.is_empty() {
                continue;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Vec::new();
            }
        }
    }

    /// The agent of `instance_arn` joins session `id`: answers where to send its
    /// stream, which the CLI's side then splices with its own.
    pub fn join(
        &self,
        id: &str,
        instance_arn: &str,
    ) -> Result<oneshot::Sender<Stream>, SessionError> {
        let mut state = self.state();
        let session = state
            .sessions
            .get(id)
            .filter(|s| s.waiting.is_some())
            .ok_or_else(|| SessionError::Unknown(id.to_string()))?;
        if session.instance_arn != instance_arn {
            return Err(SessionError::NotYours(id.to_string()));
        }
        let session = state.sessions.remove(id).expect("found above");
        let (tx, rx) = oneshot::channel();
        session
            .waiting
            .expect("checked above")
            .send(rx)
            .map_err(|_| SessionError::Unknown(id.to_string()))?;
        Ok(tx)
    }
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn listener<'a>(state: &'a mut State, instance_arn: &str) -> &'a mut Listener {
    state
        .agents
        .entry(instance_arn.to_string())
        .or_insert_with(|| Listener {
            polls: 0,
            last_seen: Instant::now(),
            offers: VecDeque::new(),
            notify: Arc::new(Notify::new()),
        })
}

/// Counts an exec poll in flight while it lives.
struct Polling<'a> {
    hub: &'a Hub,
    instance: String,
}

impl<'a> Polling<'a> {
    fn start(hub: &'a Hub, instance: &str) -> Polling<'a> {
        listener(&mut hub.state(), instance).polls += 1;
        Polling {
            hub,
            instance: instance.to_string(),
        }
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        let mut state = self.hub.state();
        let l = listener(&mut state, &self.instance);
        l.polls -= 1;
        l.last_seen = Instant::now();
    }
}

/// Removes an opened session, and its offer if the agent never took it.
struct Forget {
    hub: Arc<Hub>,
    id: String,
    instance: String,
}

impl Drop for Forget {
    fn drop(&mut self) {
        let mut state = self.hub.state();
        state.sessions.remove(&self.id);
        if let Some(l) = state.agents.get_mut(&self.instance) {
            l.offers.retain(|o| o.session_id != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const I: &str = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/abc";

    fn hub() -> Arc<Hub> {
        Arc::new(Hub::new("ws://127.0.0.1:7430".into()))
    }

    fn issue(hub: &Hub) -> Issued {
        hub.issue(I, "arn:task", "app", vec!["sh".into()])
    }

    #[tokio::test(start_paused = true)]
    async fn an_opened_session_is_offered_to_its_agent_and_spliced_when_it_joins() {
        let hub = hub();
        let issued = issue(&hub);
        assert!(issued
            .stream_url
            .starts_with("ws://127.0.0.1:7430/exec/v1/sessions/ecs-execute-command-"));
        let poller = {
            let hub = hub.clone();
            tokio::spawn(async move { hub.poll(I, Duration::from_secs(20)).await })
        };
        tokio::task::yield_now().await;
        assert!(hub.listening(I));
        let opener = {
            let (hub, id, token) = (hub.clone(), issued.session_id.clone(), issued.token);
            tokio::spawn(async move { hub.open(&id, &token).await })
        };
        let offers = poller.await.unwrap();
        assert_eq!(offers.len(), 1);
        assert_eq!(offers[0].session_id, issued.session_id);
        assert_eq!(offers[0].command, vec!["sh".to_string()]);
        let agent_side = hub.join(&issued.session_id, I).unwrap();
        let (mut ours, theirs) = tokio::io::duplex(64);
        agent_side.send(Box::new(theirs)).ok().unwrap();
        let mut cli_view = opener.await.unwrap().unwrap().await.unwrap();
        ours.write_all(b"hi").await.unwrap();
        let mut got = [0u8; 2];
        cli_view.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hi");
        // Used once.
        assert!(matches!(
            hub.join(&issued.session_id, I),
            Err(SessionError::Unknown(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_whose_agent_never_joins_fails_after_the_limit() {
        let hub = hub();
        let issued = issue(&hub);
        let started = Instant::now();
        let err = hub
            .open(&issued.session_id, &issued.token)
            .await
            .err()
            .unwrap();
        assert_eq!(err, SessionError::AgentAbsent { instance: I.into() });
        assert_eq!(started.elapsed(), JOIN_WITHIN);
        // Forgotten, offer and all.
        assert!(hub.poll(I, Duration::from_secs(1)).await.is_empty());
        assert!(matches!(
            hub.open(&issued.session_id, &issued.token).await,
            Err(SessionError::Unknown(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn wrong_tokens_other_agents_and_stale_sessions_are_refused() {
        let hub = hub();
        let issued = issue(&hub);
        assert!(matches!(
            hub.open(&issued.session_id, "not-the-token").await,
            Err(SessionError::Unknown(_))
        ));
        let opener = {
            let (hub, id, token) = (hub.clone(), issued.session_id.clone(), issued.token.clone());
            tokio::spawn(async move { hub.open(&id, &token).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(
            hub.open(&issued.session_id, &issued.token)
                .await
                .err()
                .unwrap(),
            SessionError::AlreadyOpen(issued.session_id.clone())
        );
        assert!(matches!(
            hub.join(&issued.session_id, "arn:other-instance"),
            Err(SessionError::NotYours(_))
        ));
        opener.abort();
        let _ = opener.await;
        // The CLI went away: the session went with it.
        assert!(matches!(
            hub.join(&issued.session_id, I),
            Err(SessionError::Unknown(_))
        ));
        let late = issue(&hub);
        tokio::time::advance(OPEN_WITHIN + Duration::from_secs(1)).await;
        assert!(matches!(
            hub.open(&late.session_id, &late.token).await,
            Err(SessionError::Unknown(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn an_agent_listens_while_it_polls_and_briefly_after() {
        let hub = hub();
        assert!(!hub.listening(I));
        assert!(hub.poll(I, Duration::from_secs(5)).await.is_empty());
        assert!(hub.listening(I));
        tokio::time::advance(LISTENING_GRACE + Duration::from_secs(1)).await;
        assert!(!hub.listening(I));
    }
}
