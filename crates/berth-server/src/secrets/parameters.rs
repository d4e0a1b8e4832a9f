//! SSM Parameter Store's API (`AmazonSSM`, SigV4 service `ssm`): String, StringList and
//! SecureString parameters with versions (up to 100 kept) and labels, hierarchies read
//! by path, and AWS's errors and wording.
//!
//! Names are `NAME`, or a path `/a/b/c` (at most 15 levels); a name with a `/` must
//! start with one. Reads name a version with `NAME:VERSION` or a label with
//! `NAME:LABEL`. SecureString values are sealed at rest and returned in the clear only
//! `WithDecryption`; without it the sealed form is returned, as SSM returns the KMS
//! ciphertext.

use std::str::FromStr;

use berth_api::error::ApiError;
use berth_api::ssm::*;
use berth_model::secret::{
    split_selector, ParameterRecord, ParameterValue, ParameterVersion, Selector,
    MAX_PARAMETER_VERSIONS,
};
use berth_store::{Compare, Op, Txn};

use super::{unreadable, Call, Secrets};
use crate::context::Ctx;
use crate::json::{parse, respond, unknown_operation, ApiResult};
use crate::keys::{Scope, SecretKeys};
use crate::records::{self, Record, Step};

/// The KMS key SecureString parameters name when none is given.
const DEFAULT_KEY_ID: &str = "alias/aws/ssm";
/// The deepest a parameter hierarchy goes.
const MAX_LEVELS: usize = 15;
/// The most labels one version carries.
const MAX_LABELS: usize = 10;

/// Runs one SSM operation.
pub async fn dispatch(ctx: &Ctx, secrets: &Secrets, action: &str, body: &[u8]) -> ApiResult {
    let call = &Call { ctx, secrets };
    let Ok(op) = action.parse::<Operation>() else {
        return Err(unknown_operation(&format!("{TARGET_PREFIX}.{action}")));
    };
    match op {
        Operation::PutParameter => respond(&put(call, parse(body)?).await?),
        Operation::GetParameter => respond(&get_one(call, parse(body)?).await?),
        Operation::GetParameters => respond(&get_many(call, parse(body)?).await?),
        Operation::GetParametersByPath => respond(&by_path(call, parse(body)?).await?),
        Operation::DeleteParameter => respond(&delete_one(call, parse(body)?).await?),
        Operation::DeleteParameters => respond(&delete_many(call, parse(body)?).await?),
        Operation::DescribeParameters => respond(&describe(call, parse(body)?).await?),
        Operation::GetParameterHistory => respond(&history(call, parse(body)?).await?),
        Operation::LabelParameterVersion => respond(&label(call, parse(body)?).await?),
    }
}

/// A parameter's ARN: `arn:aws:ssm:REGION:ACCOUNT:parameter/NAME` (without doubling
/// the leading `/` of a path).
pub fn arn(scope: &Scope, name: &str) -> String {
    format!(
        "arn:aws:ssm:{}:{}:parameter/{}",
        scope.region,
        scope.account,
        name.strip_prefix('/').unwrap_or(name)
    )
}

/// The name `given` (a name or an ARN of the caller's) stands for.
fn name_of<'a>(scope: &Scope, given: &'a str) -> &'a str {
    let prefix = arn(scope, "");
    match given.strip_prefix(prefix.as_str()) {
        // A path's ARN drops its leading `/`; give it back.
        Some(rest) if rest.contains('/') => &given[prefix.len() - 1..],
        Some(rest) => rest,
        None => given,
    }
}

/// A parameter name as SSM allows it.
fn check_name(name: &str) -> Result<(), ApiError> {
    let invalid = |why: &str| ApiError::Validation(format!("Parameter name: {why}"));
    if name.is_empty() || name.len() > 2048 {
        return Err(ApiError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy \
             constraint: Member must have length between 1 and 2048"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
    {
        return Err(invalid(
            "can only contain letters, numbers and the symbols . - _ / (a path's levels are \
             separated by /)",
        ));
    }
    let bare = name.trim_start_matches('/').to_ascii_lowercase();
    if bare.starts_with("aws") || bare.starts_with("ssm") {
        return Err(invalid(
            "can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).",
        ));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(ApiError::Validation(
            "Parameter name must be a fully qualified name.".into(),
        ));
    }
    if name.ends_with('/') || name.contains("//") {
        return Err(invalid("a path's levels cannot be empty."));
    }
    if name.matches('/').count() > MAX_LEVELS {
        return Err(ApiError::HierarchyLevelLimitExceeded(format!(
            "A hierarchy can have a maximum of {MAX_LEVELS} levels."
        )));
    }
    Ok(())
}

fn not_found(name: &str) -> ApiError {
    ApiError::ParameterNotFound(format!("Parameter {name} not found."))
}

/// What the cipher binds a SecureString version to.
fn seal_context(scope: &Scope, name: &str, version: i64) -> String {
    format!("ssm:{}:{version}", arn(scope, name))
}

async fn load(call: &Ctx, name: &str) -> Result<Option<Record<ParameterRecord>>, ApiError> {
    let scope = call.scope();
    let name = name_of(&scope, name);
    if check_name(name).is_err() {
        return Ok(None);
    }
    Ok(records::get::<ParameterRecord>(call.store(), &scope.parameter(name)).await?)
}

/// A version's value as a read returns it: opened when `decrypt` asks (or the value
/// is not secure), else the sealed form.
pub fn value_of(
    secrets: &Secrets,
    scope: &Scope,
    name: &str,
    v: &ParameterVersion,
    decrypt: bool,
) -> Result<String, ApiError> {
    match &v.value {
        ParameterValue::Plain(text) => Ok(text.clone()),
        ParameterValue::Sealed(sealed) if !decrypt => Ok(sealed.0.clone()),
        ParameterValue::Sealed(sealed) => {
            let plain = secrets
                .key
                .open(sealed, &seal_context(scope, name, v.version))
                .map_err(|e| unreadable("The parameter's value", e))?;
            String::from_utf8(plain).map_err(|_| {
                ApiError::DecryptionFailure("The parameter's value is not text.".into())
            })
        }
    }
}

fn kind(v: &ParameterVersion) -> Option<ParameterType> {
    ParameterType::from_str(&v.kind).ok()
}

fn wire(
    call: &Call<'_>,
    p: &ParameterRecord,
    v: &ParameterVersion,
    selector: Option<String>,
    decrypt: bool,
) -> Result<Parameter, ApiError> {
    let scope = call.scope();
    Ok(Parameter {
        name: Some(p.name.clone()),
        r#type: kind(v),
        value: Some(value_of(call.secrets, &scope, &p.name, v, decrypt)?),
        version: Some(v.version),
        selector,
        source_result: None,
        last_modified_date: Some(v.modified),
        arn: Some(arn(&scope, &p.name)),
        data_type: Some(v.data_type.clone()),
    })
}

async fn put(call: &Call<'_>, req: PutParameterRequest) -> Result<PutParameterResult, ApiError> {
    let scope = call.scope();
    let name = name_of(&scope, &req.name).to_string();
    check_name(&name)?;
    if req.value.is_empty() || req.value.len() > 4096 {
        return Err(ApiError::Validation(
            "1 validation error detected: Value at 'value' failed to satisfy constraint: \
             Member must have length between 1 and 4096 (a Standard parameter's limit)"
                .into(),
        ));
    }
    if matches!(
        req.tier,
        Some(ParameterTier::Advanced | ParameterTier::IntelligentTiering)
    ) {
        return Err(ApiError::Validation(
            "Berth keeps Standard parameters only; leave Tier out or give Standard.".into(),
        ));
    }
    if req.policies.is_some() {
        return Err(ApiError::Validation(
            "Parameter policies belong to the Advanced tier, which Berth does not keep.".into(),
        ));
    }
    let overwrite = req.overwrite == Some(true);
    let tags: Vec<(String, String)> = req
        .tags
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    if overwrite && !tags.is_empty() {
        return Err(ApiError::Validation(
            "Invalid request: tags and overwrite can't be used together. To create a parameter \
             with tags, please remove overwrite flag. To update tags for an existing parameter, \
             please use AddTagsToResource or RemoveTagsFromResource."
                .into(),
        ));
    }
    if let Some(pattern) = &req.allowed_pattern {
        let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            ApiError::Validation(format!("The allowed pattern {pattern} is not valid: {e}"))
        })?;
        if !re.is_match(&req.value) {
            return Err(ApiError::Validation(format!(
                "Parameter value, cannot be validated against allowedPattern: {pattern}"
            )));
        }
    }
    let data_type = req.data_type.clone().unwrap_or_else(|| "text".into());
    if data_type != "text" {
        return Err(ApiError::Validation(format!(
            "The data type {data_type} is not supported by Berth; use text."
        )));
    }
    let key = scope.parameter(&name);
    let user = call.caller.principal_arn.clone();
    let now = call.now();
    let (req, name) = (&req, &name);
    let version = records::update(call.store(), "The parameter", || {
        let (key, tags, scope, user, data_type) = (&key, &tags, &scope, &user, &data_type);
        async move {
            let current = records::get::<ParameterRecord>(call.store(), key).await?;
            if current.is_some() && !overwrite {
                return Err(ApiError::ParameterAlreadyExists(
                    "The parameter already exists. To overwrite this value, set the overwrite \
                     option in the request to true."
                        .into(),
                ));
            }
            let previous = current.as_ref().map(|c| c.value.latest().clone());
            let kind = match (req.r#type, &previous) {
                (Some(t), _) => t,
                (None, Some(p)) => {
                    ParameterType::from_str(&p.kind).unwrap_or(ParameterType::String)
                }
                (None, None) => {
                    return Err(ApiError::Validation(
                        "A parameter type is required when you create a parameter.".into(),
                    ))
                }
            };
            let number = previous.as_ref().map_or(1, |p| p.version + 1);
            let value = match kind {
                ParameterType::SecureString => ParameterValue::Sealed(
                    call.secrets
                        .key
                        .seal(req.value.as_bytes(), &seal_context(scope, name, number)),
                ),
                _ => ParameterValue::Plain(req.value.clone()),
            };
            let key_id = (kind == ParameterType::SecureString).then(|| {
                req.key_id
                    .clone()
                    .or_else(|| previous.as_ref().and_then(|p| p.key_id.clone()))
                    .unwrap_or_else(|| DEFAULT_KEY_ID.into())
            });
            if kind != ParameterType::SecureString && req.key_id.is_some() {
                return Err(ApiError::Validation(
                    "KeyId is only for SecureString parameters.".into(),
                ));
            }
            let version = ParameterVersion {
                version: number,
                kind: kind.as_str().to_string(),
                value,
                description: req
                    .description
                    .clone()
                    .or_else(|| previous.as_ref().and_then(|p| p.description.clone())),
                allowed_pattern: req
                    .allowed_pattern
                    .clone()
                    .or_else(|| previous.as_ref().and_then(|p| p.allowed_pattern.clone())),
                key_id,
                data_type: data_type.clone(),
                labels: Vec::new(),
                modified: now,
                modified_user: user.clone(),
            };
            let mut record = match &current {
                Some(c) => c.value.clone(),
                None => ParameterRecord {
                    name: name.clone(),
                    tags: tags.clone(),
                    versions: Vec::new(),
                },
            };
            record.versions.push(version);
            if record.versions.len() > MAX_PARAMETER_VERSIONS {
                record.versions.remove(0);
            }
            let txn = Txn::new()
                .when(Compare::unchanged(key, current.map_or(0, |c| c.revision)))
                .then(records::put(key, &record));
            Ok(Step::Commit(txn, number))
        }
    })
    .await?;
    Ok(PutParameterResult {
        version: Some(version),
        tier: Some(ParameterTier::Standard),
    })
}

/// A name with an optional selector, resolved: the parameter and the version it asks
/// for, or the error GetParameter gives.
async fn resolve(
    call: &Call<'_>,
    given: &str,
) -> Result<(ParameterRecord, ParameterVersion, Option<String>), ApiError> {
    let (name, selector) = split_selector(given).ok_or_else(|| {
        ApiError::Validation(format!(
            "Invalid label or version in the parameter name {given}: give NAME:VERSION (a \
             positive number) or NAME:LABEL."
        ))
    })?;
    let record = load(call, name)
        .await?
        .ok_or_else(|| not_found(given))?
        .value;
    let version = record.select(&selector).cloned().ok_or_else(|| {
        let what = match &selector {
            Selector::Version(n) => format!("version {n}"),
            Selector::Label(l) => format!("label {l}"),
            Selector::Latest => "a version".into(),
        };
        ApiError::ParameterVersionNotFound(format!(
            "Systems Manager could not find {what} of {name}. Verify the version and try again."
        ))
    })?;
    let shown = match selector {
        Selector::Latest => None,
        _ => given.find(':').map(|i| given[i..].to_string()),
    };
    Ok((record, version, shown))
}

async fn get_one(
    call: &Call<'_>,
    req: GetParameterRequest,
) -> Result<GetParameterResult, ApiError> {
    let (record, version, selector) = resolve(call, &req.name).await?;
    Ok(GetParameterResult {
        parameter: Some(wire(
            call,
            &record,
            &version,
            selector,
            req.with_decryption == Some(true),
        )?),
    })
}

async fn get_many(
    call: &Call<'_>,
    req: GetParametersRequest,
) -> Result<GetParametersResult, ApiError> {
    if req.names.is_empty() || req.names.len() > 10 {
        return Err(ApiError::Validation(
            "1 validation error detected: Value at 'names' failed to satisfy constraint: \
             Member must have length between 1 and 10"
                .into(),
        ));
    }
    let mut parameters = Vec::new();
    let mut invalid = Vec::new();
    for given in &req.names {
        match resolve(call, given).await {
            Ok((record, version, selector)) => parameters.push(wire(
                call,
                &record,
                &version,
                selector,
                req.with_decryption == Some(true),
            )?),
            Err(
                ApiError::ParameterNotFound(_)
                | ApiError::ParameterVersionNotFound(_)
                | ApiError::Validation(_),
            ) => invalid.push(given.clone()),
            Err(e) => return Err(e),
        }
    }
    Ok(GetParametersResult {
        parameters: Some(parameters),
        invalid_parameters: Some(invalid),
    })
}

/// One page of `items` after the token's name, `max` long, and the next token.
fn page<T: Clone>(
    items: &[(String, T)],
    token: Option<&str>,
    max: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let after = crate::pagination::decode_token(token, "")
        .map_err(|_| ApiError::InvalidNextToken("The specified token is not valid.".into()))?;
    let start = match after {
        Some(name) => items.partition_point(|(n, _)| *n <= name),
        None => 0,
    };
    let chosen: Vec<&(String, T)> = items.iter().skip(start).take(max).collect();
    let next = (start + chosen.len() < items.len())
        .then(|| {
            chosen
                .last()
                .map(|(n, _)| crate::pagination::encode_token(n))
        })
        .flatten();
    Ok((chosen.into_iter().map(|(_, t)| t.clone()).collect(), next))
}

fn max_results(given: Option<i32>, max: i32) -> Result<usize, ApiError> {
    match given {
        None => Ok(max as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::Validation(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy \
             constraint: Member must have value less than or equal to {max}"
        ))),
    }
}

/// Every parameter of the caller's scope, by name.
async fn all(call: &Ctx) -> Result<Vec<ParameterRecord>, ApiError> {
    let mut all: Vec<ParameterRecord> =
        records::list::<ParameterRecord>(call.store(), &call.scope().parameters())
            .await?
            .into_iter()
            .map(|r| r.value)
            .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// Whether `name` lies under `path` (`/a` holds `/a/b`; `/a/b/c` too when recursive).
fn under(path: &str, name: &str, recursive: bool) -> bool {
    let base = path.trim_end_matches('/');
    let Some(rest) = name.strip_prefix(base).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    !rest.is_empty() && (recursive || !rest.contains('/'))
}

/// The parameter filters Berth applies: `Type` and `KeyId` (`Equals`), `Name`
/// (`Equals`, `BeginsWith`, `Contains`), `Label` (`Equals`), `Path` (`OneLevel`,
/// `Recursive`), `tag:KEY`; anything else is refused.
fn filter_passes(
    f: &ParameterStringFilter,
    p: &ParameterRecord,
    allow_path: bool,
) -> Result<bool, ApiError> {
    let values = f.values.as_deref().unwrap_or_default();
    let option = f.option.as_deref().unwrap_or("Equals");
    let latest = p.latest();
    let any = |field: &str| -> bool {
        values.iter().any(|v| match option {
            "BeginsWith" => field.starts_with(v.as_str()),
            "Contains" => field.contains(v.as_str()),
            _ => field == v,
        })
    };
    let bad_option = || {
        ApiError::InvalidFilterValue(format!(
            "The option {option} is not valid for the filter key {}.",
            f.key
        ))
    };
    Ok(match f.key.as_str() {
        "Type" if option == "Equals" => any(&latest.kind),
        "KeyId" if option == "Equals" => any(latest.key_id.as_deref().unwrap_or_default()),
        "Name" if ["Equals", "BeginsWith", "Contains"].contains(&option) => {
            any(&p.name) || (option == "BeginsWith" && any(&format!("/{}", p.name)))
        }
        "Label" if option == "Equals" => p
            .versions
            .iter()
            .any(|v| v.labels.iter().any(|l| values.contains(l))),
        "Path" if allow_path && ["OneLevel", "Recursive"].contains(&option) => values
            .iter()
            .any(|v| under(v, &p.name, option == "Recursive")),
        "Type" | "KeyId" | "Name" | "Label" | "Path" if f.key != "Path" || allow_path => {
            return Err(bad_option())
        }
        key if key.starts_with("tag:") => {
            let tag = &key[4..];
            p.tags
                .iter()
                .any(|(k, v)| k == tag && (values.is_empty() || values.contains(v)))
        }
        other => {
            return Err(ApiError::InvalidFilterKey(format!(
                "The filter key {other} is not valid here."
            )))
        }
    })
}

async fn by_path(
    call: &Call<'_>,
    req: GetParametersByPathRequest,
) -> Result<GetParametersByPathResult, ApiError> {
    let max = max_results(req.max_results, 10)?;
    if !req.path.starts_with('/') {
        return Err(ApiError::Validation(
            "The parameter doesn't meet the parameter name requirements. The parameter name \
             must begin with a forward slash \"/\"."
                .into(),
        ));
    }
    let recursive = req.recursive == Some(true);
    let mut matching = Vec::new();
    for p in all(call).await? {
        if !under(&req.path, &p.name, recursive) {
            continue;
        }
        let mut keep = true;
        for f in req.parameter_filters.iter().flatten() {
            keep &= filter_passes(f, &p, false)?;
        }
        if keep {
            matching.push((p.name.clone(), p));
        }
    }
    let (chosen, next_token) = page(&matching, req.next_token.as_deref(), max)?;
    let decrypt = req.with_decryption == Some(true);
    let parameters = chosen
        .iter()
        .map(|p| wire(call, p, p.latest(), None, decrypt))
        .collect::<Result<_, _>>()?;
    Ok(GetParametersByPathResult {
        parameters: Some(parameters),
        next_token,
    })
}

async fn remove(call: &Ctx, given: &str) -> Result<bool, ApiError> {
    let Some(r) = load(call, given).await? else {
        return Ok(false);
    };
    let txn = Txn::new()
        .when(Compare::unchanged(&r.key, r.revision))
        .then(Op::delete(&r.key));
    records::commit(call.store(), txn).await?;
    Ok(true)
}

async fn delete_one(
    call: &Call<'_>,
    req: DeleteParameterRequest,
) -> Result<DeleteParameterResult, ApiError> {
    if !remove(call, &req.name).await? {
        return Err(not_found(&req.name));
    }
    Ok(DeleteParameterResult {})
}

async fn delete_many(
    call: &Call<'_>,
    req: DeleteParametersRequest,
) -> Result<DeleteParametersResult, ApiError> {
    if req.names.is_empty() || req.names.len() > 10 {
        return Err(ApiError::Validation(
            "1 validation error detected: Value at 'names' failed to satisfy constraint: \
             Member must have length between 1 and 10"
                .into(),
        ));
    }
    let (mut deleted, mut invalid) = (Vec::new(), Vec::new());
    for name in req.names {
        if remove(call, &name).await? {
            deleted.push(name);
        } else {
            invalid.push(name);
        }
    }
    Ok(DeleteParametersResult {
        deleted_parameters: Some(deleted),
        invalid_parameters: Some(invalid),
    })
}

async fn describe(
    call: &Call<'_>,
    req: DescribeParametersRequest,
) -> Result<DescribeParametersResult, ApiError> {
    let max = max_results(req.max_results, 50)?;
    if req.shared == Some(true) {
        return Err(ApiError::Validation(
            "Berth shares no parameters between accounts; leave Shared out.".into(),
        ));
    }
    let scope = call.scope();
    let mut matching = Vec::new();
    for p in all(call).await? {
        let latest = p.latest();
        let mut keep = true;
        for f in req.filters.iter().flatten() {
            let field = match f.key {
                ParametersFilterKey::Name => p.name.clone(),
                ParametersFilterKey::Type => latest.kind.clone(),
                ParametersFilterKey::KeyId => latest.key_id.clone().unwrap_or_default(),
            };
            keep &= f.values.iter().any(|v| match f.key {
                ParametersFilterKey::Name => field.starts_with(v.as_str()),
                _ => field == *v,
            });
        }
        for f in req.parameter_filters.iter().flatten() {
            keep &= filter_passes(f, &p, true)?;
        }
        if keep {
            let metadata = ParameterMetadata {
                name: Some(p.name.clone()),
                arn: Some(arn(&scope, &p.name)),
                r#type: kind(latest),
                key_id: latest.key_id.clone(),
                last_modified_date: Some(latest.modified),
                last_modified_user: Some(latest.modified_user.clone()),
                description: latest.description.clone(),
                allowed_pattern: latest.allowed_pattern.clone(),
                version: Some(latest.version),
                tier: Some(ParameterTier::Standard),
                policies: Some(vec![]),
                data_type: Some(latest.data_type.clone()),
            };
            matching.push((p.name.clone(), metadata));
        }
    }
    let (parameters, next_token) = page(&matching, req.next_token.as_deref(), max)?;
    Ok(DescribeParametersResult {
        parameters: Some(parameters),
        next_token,
    })
}

async fn history(
    call: &Call<'_>,
    req: GetParameterHistoryRequest,
) -> Result<GetParameterHistoryResult, ApiError> {
    let max = max_results(req.max_results, 50)?;
    let record = load(call, &req.name)
        .await?
        .ok_or_else(|| not_found(&req.name))?
        .value;
    let scope = call.scope();
    let decrypt = req.with_decryption == Some(true);
    let entries: Vec<(String, ParameterHistory)> = record
        .versions
        .iter()
        .map(|v| {
            Ok((
                format!("{:020}", v.version),
                ParameterHistory {
                    name: Some(record.name.clone()),
                    r#type: kind(v),
                    key_id: v.key_id.clone(),
                    last_modified_date: Some(v.modified),
                    last_modified_user: Some(v.modified_user.clone()),
                    description: v.description.clone(),
                    value: Some(value_of(call.secrets, &scope, &record.name, v, decrypt)?),
                    allowed_pattern: v.allowed_pattern.clone(),
                    version: Some(v.version),
                    labels: Some(v.labels.clone()),
                    tier: Some(ParameterTier::Standard),
                    policies: Some(vec![]),
                    data_type: Some(v.data_type.clone()),
                },
            ))
        })
        .collect::<Result<_, ApiError>>()?;
    let (parameters, next_token) = page(&entries, req.next_token.as_deref(), max)?;
    Ok(GetParameterHistoryResult {
        parameters: Some(parameters),
        next_token,
    })
}

/// Whether a label is one SSM accepts: up to 100 of letters, digits, `.-_`, not
/// starting with a digit or with `aws`/`ssm`.
fn valid_label(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    (1..=100).contains(&label.len())
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !label.starts_with(|c: char| c.is_ascii_digit())
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
}

async fn label(
    call: &Call<'_>,
    req: LabelParameterVersionRequest,
) -> Result<LabelParameterVersionResult, ApiError> {
    if req.labels.is_empty() || req.labels.len() > MAX_LABELS {
        return Err(ApiError::Validation(
            "1 validation error detected: Value at 'labels' failed to satisfy constraint: \
             Member must have length between 1 and 10"
                .into(),
        ));
    }
    let scope = call.scope();
    let name = name_of(&scope, &req.name).to_string();
    check_name(&name).map_err(|_| not_found(&req.name))?;
    let key = scope.parameter(&name);
    let (valid, invalid): (Vec<String>, Vec<String>) =
        req.labels.iter().cloned().partition(|l| valid_label(l));
    let version = records::modify(
        call.store(),
        &key,
        "The parameter",
        || not_found(&req.name),
        |p: &mut ParameterRecord| {
            let number = req.parameter_version.unwrap_or(p.latest().version);
            let Some(at) = p.versions.iter().position(|v| v.version == number) else {
                return Err(ApiError::ParameterVersionNotFound(format!(
                    "Systems Manager could not find version {number} of {name}. Verify the \
                     version and try again."
                )));
            };
            for v in &mut p.versions {
                v.labels.retain(|l| !valid.contains(l));
            }
            let target = &mut p.versions[at];
            for l in &valid {
                target.labels.push(l.clone());
            }
            if target.labels.len() > MAX_LABELS {
                return Err(ApiError::ParameterVersionLabelLimitExceeded(format!(
                    "A parameter version can have maximum {MAX_LABELS} labels. Move one or \
                     more labels to another version and try again."
                )));
            }
            Ok(())
        },
    )
    .await?;
    let number = req.parameter_version.unwrap_or(version.latest().version);
    Ok(LabelParameterVersionResult {
        invalid_labels: Some(invalid),
        parameter_version: Some(number),
    })
}

/// The ARN of the parameter a call names (its `Name`), for authorization.
pub fn arn_for_authz(scope: &Scope, given: &str) -> String {
    let name = split_selector(given).map_or(given, |(name, _)| name);
    arn(scope, name_of(scope, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_ssm_allows_them() {
        assert!(check_name("db").is_ok());
        assert!(check_name("/app/prod/db.url").is_ok());
        assert_eq!(
            check_name("app/db").unwrap_err().code(),
            "ValidationException"
        );
        assert!(check_name("/aws/x").is_err());
        assert!(check_name("SSM-thing").is_err());
        assert!(check_name("/a//b").is_err());
        assert!(check_name("bad name").is_err());
        let deep = "/l".repeat(16);
        assert_eq!(
            check_name(&deep).unwrap_err().code(),
            "HierarchyLevelLimitExceededException"
        );
    }

    #[test]
    fn arns_and_paths() {
        let scope = Scope::new("000000000000", "us-east-1");
        assert_eq!(
            arn(&scope, "/app/db"),
            "arn:aws:ssm:us-east-1:000000000000:parameter/app/db"
        );
        assert_eq!(
            arn(&scope, "db"),
            "arn:aws:ssm:us-east-1:000000000000:parameter/db"
        );
        assert_eq!(name_of(&scope, &arn(&scope, "/app/db")), "/app/db");
        assert_eq!(name_of(&scope, &arn(&scope, "db")), "db");
        assert_eq!(
            arn_for_authz(&scope, "/app/db:prod"),
            "arn:aws:ssm:us-east-1:000000000000:parameter/app/db"
        );
        assert!(under("/app", "/app/db", false));
        assert!(under("/app/", "/app/db", false));
        assert!(!under("/app", "/app/prod/db", false));
        assert!(under("/app", "/app/prod/db", true));
        assert!(!under("/app", "/application/db", true));
    }

    #[test]
    fn labels() {
        assert!(valid_label("prod"));
        assert!(valid_label("release-1.2"));
        assert!(!valid_label("1st"));
        assert!(!valid_label("awsy"));
        assert!(!valid_label("has space"));
    }

    #[test]
    fn pages_continue_after_the_token() {
        let items: Vec<(String, u32)> = (1..=5).map(|i| (format!("/p/{i}"), i)).collect();
        let (first, token) = page(&items, None, 2).unwrap();
        assert_eq!(first, vec![1, 2]);
        let (second, token) = page(&items, token.as_deref(), 2).unwrap();
        assert_eq!(second, vec![3, 4]);
        let (last, token) = page(&items, token.as_deref(), 2).unwrap();
        assert_eq!((last, token), (vec![5], None));
        assert_eq!(
            page(&items, Some("!!"), 2).unwrap_err().code(),
            "InvalidNextToken"
        );
    }
}
