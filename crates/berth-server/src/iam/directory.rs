//! Every replica's copy of IAM in memory: users, groups, roles, the account's managed
//! policies, access keys and STS sessions, mirrored from the store's watch
//! ([`berth_store::cache::mirror`]). Signatures are verified against it (a key made
//! inactive or deleted through any replica stops signing everywhere) and every request
//! is authorized from it, without a store read: the policies that apply to a principal
//! are parsed once and kept until anything in IAM changes.
//!
//! A key or session this replica has not seen yet (made a moment ago through another
//! replica) is read from the store once ([`Directory::fetch`]); an IAM write waits until
//! the copy holds it ([`Directory::wait_for`]), so the next request sees it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use berth_api::ecs::Timestamp;
use berth_iam::Policy;
use berth_model::iam::{
    name_key, AccessKeyRecord, GroupRecord, KeyStatus, ManagedPolicyRecord, RoleRecord, SessionOf,
    SessionRecord, UserRecord,
};
use berth_store::cache::{keep_mirrored, Mirror};
use berth_store::records::Stored;
use berth_store::{KeyValue, Revision, Store};
use tokio::sync::watch;

use super::store_keys;
use crate::context::Principal;

/// A key's secret and who it signs as.
#[derive(Clone)]
pub struct Credentials {
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub principal: Principal,
}

#[derive(Default)]
struct State {
    users: HashMap<String, Arc<UserRecord>>,
    groups: HashMap<String, Arc<GroupRecord>>,
    roles: HashMap<String, Arc<RoleRecord>>,
    /// The account's managed policies, by ARN.
    policies: HashMap<String, Arc<ManagedPolicyRecord>>,
    keys: HashMap<String, Arc<AccessKeyRecord>>,
    sessions: HashMap<String, Arc<SessionRecord>>,
    /// Each store key's revision, so an older delivery changes nothing.
    revisions: HashMap<String, Revision>,
    /// While a listing is under way (after the watch broke): the keys it has delivered.
    /// Whatever it did not deliver was deleted meanwhile and is dropped once it ends.
    relisting: Option<HashSet<String>>,
    /// Parsed documents by their text.
    parsed: HashMap<String, Arc<Policy>>,
    /// The identity policies of each principal (by ARN), until IAM changes.
    permissions: HashMap<String, Arc<Vec<Arc<Policy>>>>,
}

/// IAM in memory, for one account.
pub struct Directory {
    store: Arc<dyn Store>,
    account: String,
    prefix: String,
    state: RwLock<State>,
    seen: watch::Sender<Revision>,
}

/// AWS's managed policies, parsed once.
fn aws_managed(arn: &str) -> Option<Arc<Policy>> {
    static PARSED: OnceLock<HashMap<&'static str, Arc<Policy>>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            berth_iam::managed::MANAGED_POLICIES
                .iter()
                .filter_map(|m| Some((m.arn, Arc::new(m.policy().ok()?))))
                .collect()
        })
        .get(arn)
        .cloned()
}

impl Directory {
    /// Starts mirroring `account`'s IAM until `stop` turns true.
    pub fn start(
        store: Arc<dyn Store>,
        account: &str,
        stop: watch::Receiver<bool>,
    ) -> Arc<Directory> {
        let directory = Arc::new(Directory {
            store: store.clone(),
            account: account.to_string(),
            prefix: store_keys::account(account),
            state: RwLock::new(State::default()),
            seen: watch::channel(0).0,
        });
        keep_mirrored(
            store,
            directory.prefix.clone(),
            Arc::downgrade(&directory),
            stop,
        );
        directory
    }

    /// Who access key `id` signs as, and its secret: an active user key, or an
    /// unexpired session at `now`.
    pub fn credentials(&self, id: &str, now: Timestamp) -> Option<Credentials> {
        let state = self.state.read().expect("directory lock");
        if let Some(key) = state.keys.get(id) {
            if key.status != KeyStatus::Active {
                return None;
            }
            let user = state.users.get(&name_key(&key.user_name))?;
            return Some(Credentials {
                secret_access_key: key.secret_access_key.clone(),
                session_token: None,
                principal: Principal::User {
                    name: user.entity.name.clone(),
                    id: user.entity.id.clone(),
                    arn: user.entity.arn.clone(),
                },
            });
        }
        let session = state.sessions.get(id)?;
        if session.expires_at <= now {
            return None;
        }
        let principal = match &session.of {
            SessionOf::Root => Principal::Root,
            SessionOf::User { user_name } => {
                let user = state.users.get(&name_key(user_name))?;
                Principal::User {
                    name: user.entity.name.clone(),
                    id: user.entity.id.clone(),
                    arn: user.entity.arn.clone(),
                }
            }
            SessionOf::Role {
                role_name,
                role_id,
                role_arn,
                session_name,
            } => Principal::Role {
                role_name: role_name.clone(),
                role_id: role_id.clone(),
                role_arn: role_arn.clone(),
                session_name: session_name.clone(),
            },
        };
        Some(Credentials {
            secret_access_key: session.secret_access_key.clone(),
            session_token: Some(session.session_token.clone()),
            principal,
        })
    }

    /// Whether `id` is a session that had expired at `now`.
    pub fn expired(&self, id: &str, now: Timestamp) -> bool {
        let state = self.state.read().expect("directory lock");
        state.sessions.get(id).is_some_and(|s| s.expires_at <= now)
    }

    /// Whether the directory holds key or session `id` (active or not).
    pub fn knows(&self, id: &str) -> bool {
        let state = self.state.read().expect("directory lock");
        state.keys.contains_key(id) || state.sessions.contains_key(id)
    }

    /// Reads key or session `id` from the store into the copy, if it is there: a key
    /// made through another replica a moment ago signs here at once.
    pub async fn fetch(&self, id: &str) -> Result<(), berth_store::StoreError> {
        for key in [
            store_keys::access_key(&self.account, id),
            store_keys::session(&self.account, id),
        ] {
            if let Some(kv) = self.store.get(&key).await? {
                let revision = kv.mod_revision;
                self.apply(key, revision, Some(kv));
            }
        }
        Ok(())
    }

    /// The role named `name`.
    pub fn role(&self, name: &str) -> Option<Arc<RoleRecord>> {
        let state = self.state.read().expect("directory lock");
        state.roles.get(&name_key(name)).cloned()
    }

    /// The role whose ARN is `arn`.
    pub fn role_by_arn(&self, arn: &str) -> Option<Arc<RoleRecord>> {
        let name = arn.rsplit('/').next()?;
        self.role(name).filter(|r| r.entity.arn == arn)
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<Arc<UserRecord>> {
        let state = self.state.read().expect("directory lock");
        state.users.get(&name_key(name)).cloned()
    }

    /// The stored ARN (with its path) of the entity of `resource_type` (`user`, `role`,
    /// `group`, `instance-profile`) named `name`, if it exists.
    pub fn arn_of(&self, resource_type: &str, name: &str) -> Option<String> {
        let state = self.state.read().expect("directory lock");
        let key = name_key(name);
        match resource_type {
            "user" => state.users.get(&key).map(|u| u.entity.arn.clone()),
            "role" => state.roles.get(&key).map(|r| r.entity.arn.clone()),
            "group" => state.groups.get(&key).map(|g| g.entity.arn.clone()),
            _ => None,
        }
    }

    /// The identity policies that apply to `principal`: for a user its own (attached and
    /// inline) and its groups'; for a role session the role's. The root has none (it is
    /// allowed everything without them).
    pub fn identity_policies(&self, principal: &Principal) -> Arc<Vec<Arc<Policy>>> {
        let cache_key = match principal {
            Principal::Root => return Arc::new(Vec::new()),
            Principal::User { arn, .. } => arn.clone(),
            Principal::Role { role_arn, .. } => role_arn.clone(),
        };
        if let Some(held) = self
            .state
            .read()
            .expect("directory lock")
            .permissions
            .get(&cache_key)
        {
            return held.clone();
        }
        let mut state = self.state.write().expect("directory lock");
        let mut entities = Vec::new();
        match principal {
            Principal::Root => {}
            Principal::User { name, .. } => {
                if let Some(user) = state.users.get(&name_key(name)).cloned() {
                    entities.push(user.entity.clone());
                    for g in &user.groups {
                        if let Some(group) = state.groups.get(&name_key(g)) {
                            entities.push(group.entity.clone());
                        }
                    }
                }
            }
            Principal::Role { role_name, .. } => {
                if let Some(role) = state.roles.get(&name_key(role_name)) {
                    entities.push(role.entity.clone());
                }
            }
        }
        let mut documents: Vec<String> = Vec::new();
        let mut policies: Vec<Arc<Policy>> = Vec::new();
        for e in &entities {
            for arn in &e.attached {
                match state.policies.get(arn) {
                    Some(p) => documents.push(p.default_document().to_string()),
                    None => policies.extend(aws_managed(arn)),
                }
            }
            documents.extend(e.inline.values().cloned());
        }
        for text in documents {
            let parsed = match state.parsed.get(&text) {
                Some(p) => Some(p.clone()),
                // Stored documents were parsed when they were stored; one that no
                // longer parses (never expected) grants nothing.
                None => Policy::parse_identity(&text).ok().map(Arc::new),
            };
            if let Some(p) = parsed {
                state.parsed.insert(text, p.clone());
                policies.push(p);
            }
        }
        let policies = Arc::new(policies);
        state.permissions.insert(cache_key, policies.clone());
        policies
    }

    /// Waits (up to two seconds) until the copy has applied everything up to
    /// `revision`: an IAM write answers only once the next request will see it.
    pub async fn wait_for(&self, revision: Revision) {
        let mut seen = self.seen.subscribe();
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            seen.wait_for(|held| *held >= revision),
        )
        .await;
    }
}

/// Decodes `kv` as a `T`, or nothing (a record that does not decode is left out, as
/// it grants nothing).
fn decoded<T: Stored>(kv: &Option<KeyValue>) -> Option<Arc<T>> {
    kv.as_ref()
        .and_then(|kv| T::decode(&kv.value).ok())
        .map(Arc::new)
}

impl Mirror for Directory {
    fn reset(&self) {
        // A fresh listing follows; what is held stays usable meanwhile (each key's
        // revision keeps older deliveries out), and what it does not bring back is
        // dropped when it ends (a key deleted while the watch was broken).
        self.state.write().expect("directory lock").relisting = Some(HashSet::new());
    }

    fn apply(&self, key: String, revision: Revision, value: Option<KeyValue>) {
        let Some(rest) = key.strip_prefix(&self.prefix) else {
            return;
        };
        let Some((kind, id)) = rest.split_once('/') else {
            return;
        };
        let mut state = self.state.write().expect("directory lock");
        if let Some(listed) = state.relisting.as_mut() {
            listed.insert(key.clone());
        }
        if state
            .revisions
            .get(&key)
            .is_some_and(|held| *held >= revision)
        {
            return;
        }
        state.revisions.insert(key.clone(), revision);
        put_decoded(&mut state, kind, id.to_string(), &value);
    }

    fn seen(&self, revision: Revision) {
        {
            let mut state = self.state.write().expect("directory lock");
            if let Some(listed) = state.relisting.take() {
                let gone: Vec<String> = state
                    .revisions
                    .keys()
                    .filter(|k| !listed.contains(*k))
                    .cloned()
                    .collect();
                for key in gone {
                    state.revisions.remove(&key);
                    if let Some((kind, id)) = key
                        .strip_prefix(&self.prefix)
                        .and_then(|rest| rest.split_once('/'))
                    {
                        put_decoded(&mut state, kind, id.to_string(), &None);
                    }
                }
            }
        }
        self.seen.send_if_modified(|held| {
            let newer = revision > *held;
            if newer {
                *held = revision;
            }
            newer
        });
    }
}

/// Puts the record of `kind` (`users`, `roles`, …) named `id` into its map (`None`:
/// removes it), and forgets what was derived from the old state.
fn put_decoded(state: &mut State, kind: &str, id: String, value: &Option<KeyValue>) {
    match kind {
        "users" => put(&mut state.users, id, decoded(value)),
        "groups" => put(&mut state.groups, id, decoded(value)),
        "roles" => put(&mut state.roles, id, decoded(value)),
        "access-keys" => put(&mut state.keys, id, decoded(value)),
        "sessions" => put(&mut state.sessions, id, decoded(value)),
        "policies" => {
            let policy: Option<Arc<ManagedPolicyRecord>> = decoded(value);
            state.policies.retain(|_, p| name_key(&p.name) != id);
            if let Some(p) = policy {
                state.policies.insert(p.arn.clone(), p);
            }
        }
        _ => {}
    }
    state.permissions.clear();
    if state.parsed.len() > 10_000 {
        state.parsed.clear();
    }
}

fn put<T>(map: &mut HashMap<String, Arc<T>>, id: String, value: Option<Arc<T>>) {
    match value {
        Some(v) => {
            map.insert(id, v);
        }
        None => {
            map.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use berth_model::iam::{Entity, EntityKind};
    use berth_store::embedded::EmbeddedStore;

    use super::*;

    fn at(secs: f64) -> Timestamp {
        Timestamp::try_from_secs_f64(secs).unwrap()
    }

    fn kv(key: &str, value: Vec<u8>, revision: Revision) -> Option<KeyValue> {
        Some(KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: revision,
            mod_revision: revision,
        })
    }

    fn directory() -> (tempfile::TempDir, Directory) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let directory = Directory {
            store,
            account: "1".into(),
            prefix: store_keys::account("1"),
            state: RwLock::new(State::default()),
            seen: watch::channel(0).0,
        };
        (dir, directory)
    }

    #[test]
    fn a_key_deleted_while_the_watch_was_broken_stops_signing_after_the_relisting() {
        let (_dir, d) = directory();
        let user = UserRecord {
            entity: Entity {
                kind: EntityKind::User,
                name: "ana".into(),
                path: "/".into(),
                id: "AIDA".into(),
                arn: "arn:aws:iam::1:user/ana".into(),
                created_at: at(1.0),
                attached: Default::default(),
                inline: Default::default(),
                tags: Default::default(),
            },
            groups: Default::default(),
            login_profile: None,
        };
        let key = AccessKeyRecord {
            access_key_id: "AKIAANA".into(),
            secret_access_key: "s".into(),
            user_name: "ana".into(),
            status: KeyStatus::Active,
            created_at: at(1.0),
        };
        let user_key = store_keys::entity("1", EntityKind::User, "ana");
        let key_key = store_keys::access_key("1", "AKIAANA");
        d.apply(user_key.clone(), 1, kv(&user_key, user.encode(), 1));
        d.apply(key_key.clone(), 2, kv(&key_key, key.encode(), 2));
        d.seen(2);
        let signer = d.credentials("AKIAANA", at(5.0)).expect("the key signs");
        assert_eq!(signer.principal.user_name(), Some("ana"));

        // The watch broke; the key was deleted meanwhile; the listing brings the user
        // only. Until the listing ends the key still signs; after, it does not.
        d.reset();
        d.apply(user_key.clone(), 1, kv(&user_key, user.encode(), 1));
        assert!(d.credentials("AKIAANA", at(5.0)).is_some());
        d.seen(3);
        assert!(d.credentials("AKIAANA", at(5.0)).is_none());
        assert!(d.user("ana").is_some(), "what the listing brought stays");
    }

    #[test]
    fn a_session_signs_until_it_expires_and_then_says_so() {
        let (_dir, d) = directory();
        let session = SessionRecord {
            access_key_id: "ASIAX".into(),
            secret_access_key: "s".into(),
            session_token: "t".into(),
            of: SessionOf::Root,
            expires_at: at(100.0),
        };
        let key = store_keys::session("1", "ASIAX");
        d.apply(key.clone(), 1, kv(&key, session.encode(), 1));
        let c = d.credentials("ASIAX", at(99.0)).expect("unexpired");
        assert_eq!(c.session_token.as_deref(), Some("t"));
        assert_eq!(c.principal, Principal::Root);
        assert!(d.credentials("ASIAX", at(100.0)).is_none());
        assert!(d.expired("ASIAX", at(100.0)));
        assert!(!d.expired("ASIANOPE", at(100.0)));
    }
}
