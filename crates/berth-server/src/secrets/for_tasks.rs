//! What a task's containers read from Secrets Manager and Parameter Store as ECS reads
//! it for them: each `secrets[].valueFrom` and the `repositoryCredentials` secret,
//! read with a session of the task's execution role just before the container is
//! created, so the role's permissions decide (`secretsmanager:GetSecretValue` on the
//! secret, `ssm:GetParameters` on the parameter), and answered to the agent only. The
//! values are never written to the task's record.
//!
//! A refusal is the reason the task stops with, after the agent's
//! `ResourceInitializationError: unable to pull secrets or registry auth: `, in the
//! words of ECS's: which secret and why (IAM's AccessDenied message, Secrets Manager's
//! or SSM's not-found).

use berth_api::agent::TaskSecrets;
use berth_api::ecs::TaskDefinition;
use berth_model::secret::{split_selector, ParameterRecord, SecretSource};

use super::Secrets;
use crate::authz::requested::Requested;
use crate::context::{Core, Principal};
use crate::keys::{Scope, SecretKeys};
use crate::records;

/// The values container `container` of a task (in `task_scope`, run with
/// `principal`, a session of its execution role) reads, or why it cannot.
pub async fn read(
    core: &Core,
    secrets: &Secrets,
    task_scope: &Scope,
    principal: Option<&Principal>,
    def: &TaskDefinition,
    container: &str,
) -> Result<TaskSecrets, String> {
    let c = def
        .container_definitions
        .iter()
        .flatten()
        .find(|c| c.name.as_deref() == Some(container))
        .ok_or_else(|| format!("the task definition has no container {container}"))?;
    let wanted = c.secrets.as_deref().unwrap_or_default();
    let registry = c.repository_credentials.as_ref();
    if wanted.is_empty() && registry.is_none() {
        return Ok(TaskSecrets::default());
    }
    let principal = principal.ok_or(
        "the task has no execution role: ECS reads secrets and registry credentials with the \
         task execution role (executionRoleArn)",
    )?;
    let reader = Reader {
        core,
        secrets,
        task_scope,
        principal,
    };
    let mut answer = TaskSecrets::default();
    for s in wanted {
        let value = match SecretSource::parse(&s.value_from)? {
            source @ SecretSource::SecretsManager { .. } => reader.secret(&source).await?,
            SecretSource::Parameter {
                region,
                account,
                names,
            } => {
                reader
                    .parameter(region.as_deref(), account.as_deref(), &names)
                    .await?
            }
        };
        answer.environment.push((s.name.clone(), value));
    }
    if let Some(r) = registry {
        let source = SecretSource::parse(&r.credentials_parameter)?;
        if !matches!(source, SecretSource::SecretsManager { .. }) {
            return Err(format!(
                "repositoryCredentials {} is not a Secrets Manager secret ARN",
                r.credentials_parameter
            ));
        }
        let text = reader.secret(&source).await?;
        answer.repository_credentials = Some(login_of(&r.credentials_parameter, &text)?);
    }
    Ok(answer)
}

/// A registry login from a secret's JSON: its `username` and `password`.
fn login_of(arn: &str, text: &str) -> Result<(String, String), String> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|_| {
        format!("the secret {arn} of repositoryCredentials is not JSON with username and password")
    })?;
    match (json.get("username"), json.get("password")) {
        (Some(serde_json::Value::String(u)), Some(serde_json::Value::String(p))) => {
            Ok((u.clone(), p.clone()))
        }
        _ => Err(format!(
            "the secret {arn} of repositoryCredentials has no string username and password"
        )),
    }
}

struct Reader<'a> {
    core: &'a Core,
    secrets: &'a Secrets,
    task_scope: &'a Scope,
    principal: &'a Principal,
}

impl Reader<'_> {
    /// Checks that the execution role may take `action` on `resource`.
    fn authorize(&self, action: &str, resource: &str) -> Result<(), String> {
        crate::task_roles::authorize(
            &self.core.iam,
            &self.task_scope.account,
            &self.task_scope.region,
            self.principal,
            &[Requested::new(action, resource)],
            self.core.clock.now(),
        )
        .map_err(|denied| format!("AccessDeniedException: {denied}"))
    }

    /// The scope a secret of `region` and `account` lives in: the task's account only.
    fn scope(&self, region: &str, account: &str) -> Result<Scope, String> {
        if account != self.task_scope.account {
            return Err(format!(
                "account {account}'s secrets are not the task's account's ({}); Berth reads \
                 secrets of the task's own account",
                self.task_scope.account
            ));
        }
        Ok(Scope::new(account, region))
    }

    async fn secret(&self, source: &SecretSource) -> Result<String, String> {
        let SecretSource::SecretsManager {
            region,
            account,
            secret,
            json_key,
            version_stage,
            version_id,
        } = source
        else {
            unreachable!("called with a Secrets Manager source")
        };
        let fail = |why: String| {
            format!(
                "execution resource retrieval failed: unable to retrieve secret from asm: \
                 failed to fetch secret {secret} from secrets manager: {why}"
            )
        };
        let scope = self.scope(region, account)?;
        let found = super::manager::find(&*self.core.store, &scope, secret, self.core.clock.now())
            .await
            .map_err(|e| fail(format!("{}: {}", e.code(), e.message())))?;
        let resource = found
            .as_ref()
            .map_or(secret.as_str(), |r| r.value.arn.as_str());
        self.authorize("secretsmanager:GetSecretValue", resource)
            .map_err(fail)?;
        let r = found.ok_or_else(|| {
            let e = super::manager::not_found();
            fail(format!("{}: {}", e.code(), e.message()))
        })?;
        if r.value.deleted.is_some() {
            let e = super::manager::marked_for_deletion();
            return Err(fail(format!("{}: {}", e.code(), e.message())));
        }
        let version = match (version_id, version_stage) {
            (Some(id), _) => r.value.version(id),
            (None, stage) => r
                .value
                .staged(stage.as_deref().unwrap_or(berth_model::secret::AWSCURRENT)),
        }
        .ok_or_else(|| {
            fail(format!(
                "ResourceNotFoundException: Secrets Manager can't find the specified secret \
                 value for {}",
                match (version_id, version_stage) {
                    (Some(id), _) => format!("VersionId: {id}"),
                    (None, stage) => format!(
                        "staging label: {}",
                        stage.as_deref().unwrap_or(berth_model::secret::AWSCURRENT)
                    ),
                }
            ))
        })?;
        if version.binary {
            return Err(fail(
                "the secret's value is SecretBinary; ECS passes SecretString values only".into(),
            ));
        }
        let text = super::manager::open_version(self.secrets, &r.value, version)
            .map_err(|e| fail(format!("{}: {}", e.code(), e.message())))?;
        super::manager::note_access(&*self.core.store, self.core.clock.now(), &r).await;
        let Some(key) = json_key else {
            return Ok(text);
        };
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            format!(
                "retrieved secret from Secrets Manager did not contain json key {key}: the \
                 secret {} is not JSON",
                r.value.arn
            )
        })?;
        match json.get(key) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(other) => Ok(other.to_string()),
            None => Err(format!(
                "retrieved secret from Secrets Manager did not contain json key {key}"
            )),
        }
    }

    async fn parameter(
        &self,
        region: Option<&str>,
        account: Option<&str>,
        names: &[String],
    ) -> Result<String, String> {
        let scope = self.scope(
            region.unwrap_or(&self.task_scope.region),
            account.unwrap_or(&self.task_scope.account),
        )?;
        let shown = names.last().cloned().unwrap_or_default();
        let fail = |why: String| {
            format!(
                "execution resource retrieval failed: unable to retrieve secrets from ssm: {why}"
            )
        };
        let (name, selector) = split_selector(&names[0])
            .ok_or_else(|| fail(format!("invalid parameters: {shown}")))?;
        self.authorize("ssm:GetParameters", &super::parameters::arn(&scope, name))
            .map_err(fail)?;
        for candidate in names {
            let bare = split_selector(candidate).map_or(candidate.as_str(), |(n, _)| n);
            let Some(r) =
                records::get::<ParameterRecord>(&*self.core.store, &scope.parameter(bare))
                    .await
                    .map_err(|e| fail(e.to_string()))?
            else {
                continue;
            };
            let version = r
                .value
                .select(&selector)
                .ok_or_else(|| fail(format!("invalid parameters: {candidate}")))?;
            return super::parameters::value_of(self.secrets, &scope, bare, version, true)
                .map_err(|e| fail(format!("{}: {}", e.code(), e.message())));
        }
        Err(fail(format!("invalid parameters: {shown}")))
    }
}
