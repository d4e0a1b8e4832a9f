//! AWS Secrets Manager's API (`secretsmanager`): secrets with versions and staging
//! labels (AWSCURRENT, AWSPREVIOUS), deletion with a recovery window and its restore,
//! and tags, with AWS's errors and wording.
//!
//! A secret's ARN ends in `-` and six random characters, as on AWS; calls name a secret
//! by name, by that ARN, or by the ARN without the suffix. A deleted secret refuses
//! every call but DescribeSecret, ListSecrets (with `IncludePlannedDeletion`),
//! RestoreSecret and a forced DeleteSecret until it is restored; once its deletion
//! date has passed it is gone (removed by the first call that finds it so).
//! Versions that lose their last staging label are dropped.

use std::collections::BTreeMap;

use berth_api::error::ApiError;
use berth_api::secretsmanager::*;
use berth_model::secret::{SecretRecord, SecretVersion, AWSCURRENT};
use berth_store::{Compare, Op, Txn};
use rand::distributions::{Alphanumeric, DistString};

use super::{merge_tags, unreadable, Call, Secrets};
use crate::context::Ctx;
use crate::json::{parse, respond, unknown_operation, ApiResult};
use crate::keys::{Scope, SecretKeys};
use crate::records::{self, Record, Step};

/// Runs one Secrets Manager operation.
pub async fn dispatch(ctx: &Ctx, secrets: &Secrets, action: &str, body: &[u8]) -> ApiResult {
    let call = &Call { ctx, secrets };
    let Ok(op) = action.parse::<Operation>() else {
        return Err(unknown_operation(&format!("{TARGET_PREFIX}.{action}")));
    };
    match op {
        Operation::CreateSecret => respond(&create(call, parse(body)?).await?),
        Operation::GetSecretValue => respond(&get_value(call, parse(body)?).await?),
        Operation::PutSecretValue => respond(&put_value(call, parse(body)?).await?),
        Operation::UpdateSecret => respond(&update(call, parse(body)?).await?),
        Operation::DescribeSecret => respond(&describe(call, parse(body)?).await?),
        Operation::ListSecrets => respond(&list(call, parse(body)?).await?),
        Operation::DeleteSecret => respond(&delete(call, parse(body)?).await?),
        Operation::RestoreSecret => respond(&restore(call, parse(body)?).await?),
        Operation::TagResource => respond(&tag(call, parse(body)?).await?),
        Operation::UntagResource => respond(&untag(call, parse(body)?).await?),
    }
}

/// Secrets Manager's answer for a secret that is not there.
pub fn not_found() -> ApiError {
    ApiError::ResourceNotFound("Secrets Manager can't find the specified secret.".into())
}

/// Secrets Manager's answer for a call on a secret scheduled for deletion.
pub fn marked_for_deletion() -> ApiError {
    ApiError::InvalidRequest(
        "You can't perform this operation on the secret because it was marked for deletion.".into(),
    )
}

/// A secret's name as Secrets Manager allows it: 1 to 512 of letters, digits and
/// `/_+=.@-`.
fn check_name(name: &str) -> Result<(), ApiError> {
    let valid = (1..=512).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(ApiError::InvalidParameter(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of \
             the following: -/_+=.@!"
                .into(),
        ))
    }
}

/// The ARN prefix of the caller's secrets: `arn:aws:secretsmanager:REGION:ACCOUNT:secret:`.
fn arn_prefix(scope: &Scope) -> String {
    format!(
        "arn:aws:secretsmanager:{}:{}:secret:",
        scope.region, scope.account
    )
}

/// The secret `id` names (its name, its ARN, or its ARN without the suffix) in
/// `scope`, if it exists and its deletion date has not passed.
pub async fn find(
    store: &dyn berth_store::Store,
    scope: &Scope,
    id: &str,
    now: berth_api::ecs::Timestamp,
) -> Result<Option<Record<SecretRecord>>, ApiError> {
    let mut candidates = Vec::new();
    match id.strip_prefix(&arn_prefix(scope)) {
        Some(rest) => {
            candidates.push(rest.to_string());
            // NAME-XXXXXX: the full ARN.
            if let Some((name, suffix)) = rest.rsplit_once('-') {
                if suffix.len() == 6 {
                    candidates.push(name.to_string());
                }
            }
        }
        None if id.starts_with("arn:") => return Ok(None),
        None => candidates.push(id.to_string()),
    }
    for name in candidates {
        if check_name(&name).is_err() {
            continue;
        }
        let Some(r) = records::get::<SecretRecord>(store, &scope.secret(&name)).await? else {
            continue;
        };
        let names_it = r.value.name == id
            || r.value.arn == id
            || !id.starts_with("arn:")
            || format!("{}{}", arn_prefix(scope), r.value.name) == id;
        if !names_it {
            continue;
        }
        if r.value.deletion_date.is_some_and(|d| d <= now) {
            purge(store, &r).await?;
            return Ok(None);
        }
        return Ok(Some(r));
    }
    Ok(None)
}

/// Removes a secret whose recovery window has ended.
async fn purge(store: &dyn berth_store::Store, r: &Record<SecretRecord>) -> Result<(), ApiError> {
    let txn = Txn::new()
        .when(Compare::unchanged(&r.key, r.revision))
        .then(Op::delete(&r.key));
    records::commit(store, txn).await.map(|_| ())
}

async fn existing(call: &Call<'_>, id: &str) -> Result<Record<SecretRecord>, ApiError> {
    find(call.store(), &call.scope(), id, call.now())
        .await?
        .ok_or_else(not_found)
}

/// Read-modify-write of the secret `id` names: `change` edits a copy that is committed
/// if the secret is unchanged since read (else all again).
async fn change_secret<T>(
    call: &Call<'_>,
    id: &str,
    mut change: impl FnMut(&mut SecretRecord) -> Result<T, ApiError>,
) -> Result<(SecretRecord, T), ApiError> {
    let change = &std::sync::Mutex::new(&mut change);
    records::update(call.store(), "The secret", || async move {
        let r = existing(call, id).await?;
        let mut value = r.value.clone();
        let answer = (change.lock().expect("change lock"))(&mut value)?;
        let txn = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(records::put(&r.key, &value));
        Ok(Step::Commit(txn, (value, answer)))
    })
    .await
}

/// The value a request carries, as stored: `SecretString`, or `SecretBinary` (base64);
/// `None` when it carries neither.
fn given_value(
    string: Option<String>,
    binary: Option<String>,
) -> Result<Option<(String, bool)>, ApiError> {
    match (string, binary) {
        (Some(_), Some(_)) => Err(ApiError::InvalidParameter(
            "You can't specify both a binary secret value and a string secret value in the \
             same secret."
                .into(),
        )),
        (Some(s), None) => Ok(Some((s, false))),
        (None, Some(b)) => Ok(Some((b, true))),
        (None, None) => Ok(None),
    }
}

/// A version id: the client's request token (32 to 64 characters), or a new UUID.
fn version_id(token: Option<String>) -> Result<String, ApiError> {
    match token {
        Some(t) if (32..=64).contains(&t.len()) => Ok(t),
        Some(_) => Err(ApiError::InvalidParameter(
            "ClientRequestToken must be 32 to 64 characters long.".into(),
        )),
        None => Ok(uuid::Uuid::new_v4().to_string()),
    }
}

/// What the cipher binds a version's value to.
pub fn seal_context(arn: &str, version: &str) -> String {
    format!("secretsmanager:{arn}:{version}")
}

/// Adds a version with `value` (stages: `stages`, AWSCURRENT when empty) to
/// `secret`, unless a version of that id exists with the same value (an idempotent
/// retry); one with another value is AWS's ResourceExistsException.
fn add_version(
    secrets: &Secrets,
    secret: &mut SecretRecord,
    id: &str,
    (value, binary): (String, bool),
    stages: Vec<String>,
    now: berth_api::ecs::Timestamp,
) -> Result<(), ApiError> {
    if let Some(old) = secret.version(id) {
        let same = secrets
            .key
            .open(&old.value, &seal_context(&secret.arn, id))
            .is_ok_and(|plain| plain == value.as_bytes())
            && old.binary == binary;
        return if same {
            Ok(())
        } else {
            Err(ApiError::ResourceExists(
                "You can't modify an existing version, you can only create a new version.".into(),
            ))
        };
    }
    let sealed = secrets
        .key
        .seal(value.as_bytes(), &seal_context(&secret.arn, id));
    secret.add_version(SecretVersion {
        id: id.to_string(),
        stages,
        created: now,
        value: sealed,
        binary,
    });
    Ok(())
}

fn wire_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

fn tags_of(given: Vec<Tag>) -> Result<Vec<(String, String)>, ApiError> {
    given
        .into_iter()
        .map(|t| match (t.key, t.value) {
            (Some(k), v) if (1..=128).contains(&k.len()) => Ok((k, v.unwrap_or_default())),
            _ => Err(ApiError::InvalidParameter(
                "A tag key must be 1 to 128 characters long.".into(),
            )),
        })
        .collect()
}

async fn create(
    call: &Call<'_>,
    req: CreateSecretRequest,
) -> Result<CreateSecretResponse, ApiError> {
    check_name(&req.name)?;
    if req
        .add_replica_regions
        .as_ref()
        .is_some_and(|r| !r.is_empty())
    {
        return Err(ApiError::InvalidRequest(
            "Berth serves one region per secret; replica regions are not supported.".into(),
        ));
    }
    let value = given_value(req.secret_string, req.secret_binary)?;
    let version = value
        .is_some()
        .then(|| version_id(req.client_request_token))
        .transpose()?;
    let tags = tags_of(req.tags.unwrap_or_default())?;
    let scope = call.scope();
    let key = scope.secret(&req.name);
    let now = call.now();
    let secret = records::update(call.store(), "The secret", || async {
        let current = records::get::<SecretRecord>(call.store(), &key).await?;
        if let Some(c) = &current {
            if c.value.deletion_date.is_some_and(|d| d > now) {
                return Err(ApiError::InvalidRequest(
                    "You can't create this secret because a secret with this name is already \
                     scheduled for deletion."
                        .into(),
                ));
            }
            if c.value.deletion_date.is_none() {
                return Err(ApiError::ResourceExists(format!(
                    "The operation failed because the secret {} already exists.",
                    req.name
                )));
            }
        }
        let suffix = Alphanumeric.sample_string(&mut rand::thread_rng(), 6);
        let mut secret = SecretRecord {
            name: req.name.clone(),
            arn: format!("{}{}-{suffix}", arn_prefix(&scope), req.name),
            description: req.description.clone(),
            kms_key_id: req.kms_key_id.clone(),
            tags: tags.clone(),
            created: now,
            last_changed: now,
            last_accessed: None,
            deleted: None,
            deletion_date: None,
            versions: Vec::new(),
        };
        if let (Some(value), Some(id)) = (&value, &version) {
            add_version(call.secrets, &mut secret, id, value.clone(), vec![], now)?;
        }
        let txn = Txn::new()
            .when(Compare::unchanged(&key, current.map_or(0, |c| c.revision)))
            .then(records::put(&key, &secret));
        Ok(Step::Commit(txn, secret))
    })
    .await?;
    Ok(CreateSecretResponse {
        arn: Some(secret.arn),
        name: Some(secret.name),
        version_id: version,
        replication_status: None,
    })
}

/// The version a read asks for: by id, by stage, or AWSCURRENT; both must agree.
fn chosen_version<'s>(
    secret: &'s SecretRecord,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<&'s SecretVersion, ApiError> {
    let missing = |what: String| {
        ApiError::ResourceNotFound(format!(
            "Secrets Manager can't find the specified secret value for {what}"
        ))
    };
    match (version_id, stage) {
        (Some(id), stage) => {
            let v = secret
                .version(id)
                .ok_or_else(|| missing(format!("VersionId: {id}")))?;
            match stage {
                Some(s) if !v.stages.iter().any(|have| have == s) => {
                    Err(missing(format!("VersionId: {id} and staging label: {s}")))
                }
                _ => Ok(v),
            }
        }
        (None, stage) => {
            let stage = stage.unwrap_or(AWSCURRENT);
            secret
                .staged(stage)
                .ok_or_else(|| missing(format!("staging label: {stage}")))
        }
    }
}

/// A version's value, opened: the text of `SecretString`, or `SecretBinary`'s base64.
pub fn open_version(
    secrets: &Secrets,
    secret: &SecretRecord,
    version: &SecretVersion,
) -> Result<String, ApiError> {
    let plain = secrets
        .key
        .open(&version.value, &seal_context(&secret.arn, &version.id))
        .map_err(|e| unreadable("The secret's value", e))?;
    String::from_utf8(plain)
        .map_err(|_| ApiError::DecryptionFailure("The secret's value is not text.".into()))
}

/// Seconds of a day.
const DAY: i64 = 86_400;

async fn get_value(
    call: &Call<'_>,
    req: GetSecretValueRequest,
) -> Result<GetSecretValueResponse, ApiError> {
    let r = existing(call, &req.secret_id).await?;
    let secret = &r.value;
    if secret.deleted.is_some() {
        return Err(marked_for_deletion());
    }
    let version = chosen_version(
        secret,
        req.version_id.as_deref(),
        req.version_stage.as_deref(),
    )?;
    let value = open_version(call.secrets, secret, version)?;
    note_access(call.store(), call.now(), &r).await;
    Ok(GetSecretValueResponse {
        arn: Some(secret.arn.clone()),
        name: Some(secret.name.clone()),
        version_id: Some(version.id.clone()),
        secret_string: (!version.binary).then(|| value.clone()),
        secret_binary: version.binary.then_some(value),
        version_stages: Some(version.stages.clone()),
        created_date: Some(version.created),
    })
}

/// Records the day a secret was last read (`LastAccessedDate`, which AWS reports as a
/// day): one write a day at most, and a lost race costs nothing.
pub async fn note_access(
    store: &dyn berth_store::Store,
    now: berth_api::ecs::Timestamp,
    r: &Record<SecretRecord>,
) {
    let today = (now.as_secs_f64() as i64).div_euclid(DAY) * DAY;
    let today = berth_api::ecs::Timestamp::from_secs(today);
    if r.value.last_accessed == Some(today) {
        return;
    }
    let mut value = r.value.clone();
    value.last_accessed = Some(today);
    let txn = Txn::new()
        .when(Compare::unchanged(&r.key, r.revision))
        .then(records::put(&r.key, &value));
    let _ = records::commit(store, txn).await;
}

async fn put_value(
    call: &Call<'_>,
    req: PutSecretValueRequest,
) -> Result<PutSecretValueResponse, ApiError> {
    let value = given_value(req.secret_string, req.secret_binary)?.ok_or_else(|| {
        ApiError::InvalidRequest("You must provide either SecretString or SecretBinary.".into())
    })?;
    let id = version_id(req.client_request_token)?;
    let stages = req.version_stages.unwrap_or_default();
    if stages.len() > 20 {
        return Err(ApiError::InvalidParameter(
            "A version can have at most 20 staging labels.".into(),
        ));
    }
    let now = call.now();
    let (secret, ()) = change_secret(call, &req.secret_id, |secret| {
        if secret.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        add_version(
            call.secrets,
            secret,
            &id,
            value.clone(),
            stages.clone(),
            now,
        )
    })
    .await?;
    let stages = secret.version(&id).map(|v| v.stages.clone());
    Ok(PutSecretValueResponse {
        arn: Some(secret.arn),
        name: Some(secret.name),
        version_id: Some(id),
        version_stages: stages,
    })
}

async fn update(
    call: &Call<'_>,
    req: UpdateSecretRequest,
) -> Result<UpdateSecretResponse, ApiError> {
    let value = given_value(req.secret_string, req.secret_binary)?;
    let id = value
        .is_some()
        .then(|| version_id(req.client_request_token))
        .transpose()?;
    let now = call.now();
    let (secret, ()) = change_secret(call, &req.secret_id, |secret| {
        if secret.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        if let Some(d) = &req.description {
            secret.description = Some(d.clone());
            secret.last_changed = now;
        }
        if let Some(k) = &req.kms_key_id {
            secret.kms_key_id = Some(k.clone());
            secret.last_changed = now;
        }
        match (&value, &id) {
            (Some(value), Some(id)) => {
                add_version(call.secrets, secret, id, value.clone(), vec![], now)
            }
            _ => Ok(()),
        }
    })
    .await?;
    Ok(UpdateSecretResponse {
        arn: Some(secret.arn),
        name: Some(secret.name),
        version_id: id,
    })
}

fn versions_to_stages(secret: &SecretRecord) -> BTreeMap<String, Vec<String>> {
    secret
        .versions
        .iter()
        .map(|v| (v.id.clone(), v.stages.clone()))
        .collect()
}

async fn describe(
    call: &Call<'_>,
    req: DescribeSecretRequest,
) -> Result<DescribeSecretResponse, ApiError> {
    let s = existing(call, &req.secret_id).await?.value;
    Ok(DescribeSecretResponse {
        arn: Some(s.arn.clone()),
        name: Some(s.name.clone()),
        description: s.description.clone(),
        kms_key_id: s.kms_key_id.clone(),
        last_changed_date: Some(s.last_changed),
        last_accessed_date: s.last_accessed,
        deleted_date: s.deletion_date,
        tags: (!s.tags.is_empty()).then(|| wire_tags(&s.tags)),
        version_ids_to_stages: Some(versions_to_stages(&s)),
        created_date: Some(s.created),
        ..Default::default()
    })
}

/// Whether `secret` passes one ListSecrets filter: any of its values is a prefix of
/// the field it names (a value starting with `!` negates).
fn passes(secret: &SecretRecord, filter: &Filter) -> Result<bool, ApiError> {
    let key = filter
        .key
        .ok_or_else(|| ApiError::InvalidParameter("A filter needs a Key.".into()))?;
    let fields: Vec<&str> = match key {
        FilterNameStringType::Name => vec![&secret.name],
        FilterNameStringType::Description => {
            secret.description.iter().map(String::as_str).collect()
        }
        FilterNameStringType::TagKey => secret.tags.iter().map(|(k, _)| k.as_str()).collect(),
        FilterNameStringType::TagValue => secret.tags.iter().map(|(_, v)| v.as_str()).collect(),
        FilterNameStringType::PrimaryRegion | FilterNameStringType::OwningService => vec![],
        FilterNameStringType::All => std::iter::once(secret.name.as_str())
            .chain(secret.description.as_deref())
            .chain(
                secret
                    .tags
                    .iter()
                    .flat_map(|(k, v)| [k.as_str(), v.as_str()]),
            )
            .collect(),
    };
    let values = filter.values.as_deref().unwrap_or_default();
    Ok(values.iter().any(|value| match value.strip_prefix('!') {
        Some(negated) => !fields.iter().any(|f| f.starts_with(negated)),
        None => fields.iter().any(|f| f.starts_with(value.as_str())),
    }))
}

async fn list(call: &Call<'_>, req: ListSecretsRequest) -> Result<ListSecretsResponse, ApiError> {
    let max = match req.max_results {
        None => 100,
        Some(n @ 1..=100) => n as usize,
        Some(_) => {
            return Err(ApiError::InvalidParameter(
                "MaxResults must be between 1 and 100.".into(),
            ))
        }
    };
    let scope = call.scope();
    let prefix = scope.secrets();
    let after = crate::pagination::decode_token(req.next_token.as_deref(), "").map_err(|_| {
        ApiError::InvalidNextTokenException("The NextToken value is invalid.".into())
    })?;
    let now = call.now();
    let mut secrets = Vec::new();
    for r in records::list::<SecretRecord>(call.store(), &prefix).await? {
        if r.value.deletion_date.is_some_and(|d| d <= now) {
            purge(call.store(), &r).await?;
            continue;
        }
        if r.value.deleted.is_some() && req.include_planned_deletion != Some(true) {
            continue;
        }
        let mut keep = true;
        for f in req.filters.iter().flatten() {
            keep &= passes(&r.value, f)?;
        }
        if keep {
            secrets.push(r.value);
        }
    }
    let by = req.sort_by.unwrap_or(SortByType::CreatedDate);
    secrets.sort_by(|a, b| {
        let order = match by {
            SortByType::Name => a.name.cmp(&b.name),
            SortByType::CreatedDate => a
                .created
                .partial_cmp(&b.created)
                .unwrap_or(std::cmp::Ordering::Equal),
            SortByType::LastChangedDate => a
                .last_changed
                .partial_cmp(&b.last_changed)
                .unwrap_or(std::cmp::Ordering::Equal),
            SortByType::LastAccessedDate => a
                .last_accessed
                .partial_cmp(&b.last_accessed)
                .unwrap_or(std::cmp::Ordering::Equal),
        };
        order.then_with(|| a.arn.cmp(&b.arn))
    });
    if req.sort_order == Some(SortOrderType::Desc) {
        secrets.reverse();
    }
    // The token is the ARN of the last secret of the page before.
    let start = match &after {
        Some(arn) => secrets
            .iter()
            .position(|s| &s.arn == arn)
            .map(|i| i + 1)
            .ok_or_else(|| {
                ApiError::InvalidNextTokenException("The NextToken value is invalid.".into())
            })?,
        None => 0,
    };
    let page: Vec<SecretRecord> = secrets.iter().skip(start).take(max).cloned().collect();
    let next_token = (start + page.len() < secrets.len())
        .then(|| page.last().map(|s| crate::pagination::encode_token(&s.arn)))
        .flatten();
    Ok(ListSecretsResponse {
        secret_list: Some(
            page.into_iter()
                .map(|s| SecretListEntry {
                    secret_versions_to_stages: Some(versions_to_stages(&s)),
                    arn: Some(s.arn),
                    name: Some(s.name),
                    description: s.description,
                    kms_key_id: s.kms_key_id,
                    last_changed_date: Some(s.last_changed),
                    last_accessed_date: s.last_accessed,
                    deleted_date: s.deletion_date,
                    tags: (!s.tags.is_empty()).then(|| wire_tags(&s.tags)),
                    created_date: Some(s.created),
                    ..Default::default()
                })
                .collect(),
        ),
        next_token,
    })
}

async fn delete(
    call: &Call<'_>,
    req: DeleteSecretRequest,
) -> Result<DeleteSecretResponse, ApiError> {
    let force = req.force_delete_without_recovery == Some(true);
    if force && req.recovery_window_in_days.is_some() {
        return Err(ApiError::InvalidParameter(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
                .into(),
        ));
    }
    let days = req.recovery_window_in_days.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(ApiError::InvalidParameter(
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).".into(),
        ));
    }
    let now = call.now();
    if force {
        let r = existing(call, &req.secret_id).await?;
        let txn = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(Op::delete(&r.key));
        if let berth_store::TxnOutcome::Conflict { .. } = records::commit(call.store(), txn).await?
        {
            return Err(ApiError::InvalidRequest(
                "The secret changed while it was being deleted; retry.".into(),
            ));
        }
        return Ok(DeleteSecretResponse {
            arn: Some(r.value.arn),
            name: Some(r.value.name),
            deletion_date: Some(now),
        });
    }
    let when =
        berth_api::ecs::Timestamp::try_from_secs_f64(now.as_secs_f64() + (days * DAY) as f64)
            .unwrap_or(now);
    let (secret, ()) = change_secret(call, &req.secret_id, |secret| {
        if secret.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        secret.deleted = Some(now);
        secret.deletion_date = Some(when);
        Ok(())
    })
    .await?;
    Ok(DeleteSecretResponse {
        arn: Some(secret.arn),
        name: Some(secret.name),
        deletion_date: secret.deletion_date,
    })
}

async fn restore(
    call: &Call<'_>,
    req: RestoreSecretRequest,
) -> Result<RestoreSecretResponse, ApiError> {
    let (secret, ()) = change_secret(call, &req.secret_id, |secret| {
        secret.deleted = None;
        secret.deletion_date = None;
        Ok(())
    })
    .await?;
    Ok(RestoreSecretResponse {
        arn: Some(secret.arn),
        name: Some(secret.name),
    })
}

async fn tag(call: &Call<'_>, req: TagResourceRequest) -> Result<TagResourceResponse, ApiError> {
    let tags = tags_of(req.tags)?;
    change_secret(call, &req.secret_id, |secret| {
        if secret.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        merge_tags(&mut secret.tags, tags.clone());
        if secret.tags.len() > 50 {
            return Err(ApiError::InvalidParameter(
                "A secret can have at most 50 tags.".into(),
            ));
        }
        Ok(())
    })
    .await?;
    Ok(TagResourceResponse {})
}

async fn untag(
    call: &Call<'_>,
    req: UntagResourceRequest,
) -> Result<UntagResourceResponse, ApiError> {
    change_secret(call, &req.secret_id, |secret| {
        if secret.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        secret.tags.retain(|(k, _)| !req.tag_keys.contains(k));
        Ok(())
    })
    .await?;
    Ok(UntagResourceResponse {})
}

/// The ARN of the secret a call's body names (`SecretId`, or CreateSecret's `Name`),
/// for authorization: the stored secret's full ARN when it exists, else the ARN its
/// name would have with any suffix (`NAME-??????`, which a policy on `NAME-*` or `*`
/// matches, as AWS's advice to end secret ARNs in policies with `-??????` intends).
pub async fn arn_for_authz(ctx: &Ctx, body: &[u8]) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    let id = body
        .get("SecretId")
        .or_else(|| body.get("Name"))
        .and_then(|v| v.as_str())?;
    let scope = ctx.scope();
    if let Ok(Some(r)) = find(ctx.store(), &scope, id, ctx.now()).await {
        return Some(r.value.arn);
    }
    Some(match id.strip_prefix("arn:") {
        Some(_) => id.to_string(),
        None => format!("{}{id}-??????", arn_prefix(&scope)),
    })
}
