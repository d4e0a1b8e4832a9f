//! ECR's API (`AmazonEC2ContainerRegistry_V20150921`, SigV4 service `ecr`) over Berth's
//! registry ([`berth_registry`]): repositories are the registry's, and
//! GetAuthorizationToken hands out the login tokens ([`crate::registry_token`]) the
//! registry's [`TokenAuthorizer`] accepts from `docker login --username AWS`.
//!
//! Repositories and tokens are here; image operations in [`images`], repository
//! settings (tag mutability, lifecycle policy, tags) in [`settings`], lifecycle rules in
//! [`lifecycle`], the background upkeep in [`maintenance`] and layer download URLs in
//! [`download`].
//!
//! `repositoryUri` is `HOST:PORT/NAME`, the registry on the API's own port, usable as a
//! task definition's image as it is. HOST is the address the server listens on, or
//! 127.0.0.1 when it listens on every address.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use berth_api::arn::Arn;
use berth_api::ecr::{
    AuthorizationData, CreateRepositoryRequest, CreateRepositoryResponse, DeleteRepositoryRequest,
    DeleteRepositoryResponse, DescribeRepositoriesRequest, DescribeRepositoriesResponse,
    EncryptionConfiguration, EncryptionType, GetAuthorizationTokenRequest,
    GetAuthorizationTokenResponse, ImageScanningConfiguration, ImageTagMutability, Operation,
    Repository, Timestamp, TARGET_PREFIX,
};
use berth_api::error::ApiError;
use berth_registry::metadata::{
    MetadataError, RepositoryRecord, RepositorySettings, TagMutability,
};
use berth_registry::{Action, AuthError, Authorizer, RepoName, Scope};

use crate::context::Ctx;
use crate::json::{parse, respond, unknown_operation, ApiResult};
use crate::pagination;
use crate::registry_token::{TokenKey, LIFETIME};

pub mod download;
mod images;
pub mod lifecycle;
pub mod maintenance;
pub mod repository_policy;
mod settings;

/// `HOST:PORT` of the registry for a server listening on `addr`: the advertised host
/// when there is one (what other hosts reach it by), else the listen address
/// (127.0.0.1 for an unspecified one).
pub fn registry_host(addr: SocketAddr, advertise: Option<&str>) -> String {
    match advertise {
        Some(host) if host.contains(':') && !host.starts_with('[') => {
            format!("[{host}]:{}", addr.port())
        }
        Some(host) => format!("{host}:{}", addr.port()),
        None if addr.ip().is_unspecified() => format!("127.0.0.1:{}", addr.port()),
        None => addr.to_string(),
    }
}

/// ECR's state: the registry behind it, the address clients name it by, the key its
/// login tokens and download grants are signed with, and its upkeep's settings.
pub struct Ecr {
    pub registry: Arc<berth_registry::Registry>,
    /// `HOST:PORT` of the registry as clients name it in image references.
    pub host: String,
    /// Served over HTTPS (the proxy endpoint logins name says so).
    pub https: bool,
    pub key: TokenKey,
    pub upkeep: maintenance::Upkeep,
}

/// One ECR call: the request's context and ECR's state (the context's methods are the
/// call's).
pub struct Call<'a> {
    pub ctx: &'a Ctx,
    pub ecr: &'a Ecr,
}

impl std::ops::Deref for Call<'_> {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        self.ctx
    }
}

/// Runs one ECR operation.
pub async fn dispatch(ctx: &Ctx, ecr: &Ecr, action: &str, body: &[u8]) -> ApiResult {
    let ctx = &Call { ctx, ecr };
    let Ok(op) = action.parse::<Operation>() else {
        return Err(unknown_operation(&format!("{TARGET_PREFIX}.{action}")));
    };
    match op {
        Operation::CreateRepository => respond(&create(ctx, parse(body)?).await?),
        Operation::DescribeRepositories => respond(&describe(ctx, parse(body)?).await?),
        Operation::DeleteRepository => respond(&delete(ctx, parse(body)?).await?),
        Operation::GetAuthorizationToken => respond(&token(ctx, parse(body)?)?),
        Operation::ListImages => respond(&images::list(ctx, parse(body)?).await?),
        Operation::DescribeImages => respond(&images::describe(ctx, parse(body)?).await?),
        Operation::BatchGetImage => respond(&images::batch_get(ctx, parse(body)?).await?),
        Operation::BatchDeleteImage => respond(&images::batch_delete(ctx, parse(body)?).await?),
        Operation::PutImageTagMutability => {
            respond(&settings::put_tag_mutability(ctx, parse(body)?).await?)
        }
        Operation::BatchCheckLayerAvailability => {
            respond(&images::check_layers(ctx, parse(body)?).await?)
        }
        Operation::PutImage => respond(&images::put(ctx, parse(body)?).await?),
        Operation::GetDownloadUrlForLayer => {
            respond(&images::download_url(ctx, parse(body)?).await?)
        }
        Operation::PutLifecyclePolicy => {
            respond(&settings::put_lifecycle_policy(ctx, parse(body)?).await?)
        }
        Operation::GetLifecyclePolicy => {
            respond(&settings::get_lifecycle_policy(ctx, parse(body)?).await?)
        }
        Operation::DeleteLifecyclePolicy => {
            respond(&settings::delete_lifecycle_policy(ctx, parse(body)?).await?)
        }
        Operation::SetRepositoryPolicy => {
            respond(&repository_policy::set(ctx, parse(body)?).await?)
        }
        Operation::GetRepositoryPolicy => {
            respond(&repository_policy::get(ctx, parse(body)?).await?)
        }
        Operation::DeleteRepositoryPolicy => {
            respond(&repository_policy::delete(ctx, parse(body)?).await?)
        }
        Operation::TagResource => respond(&settings::tag_resource(ctx, parse(body)?).await?),
        Operation::UntagResource => respond(&settings::untag_resource(ctx, parse(body)?).await?),
        Operation::ListTagsForResource => respond(&settings::list_tags(ctx, parse(body)?).await?),
    }
}

pub(crate) fn scope(ctx: &Ctx) -> Scope {
    Scope {
        account: ctx.caller.account.clone(),
        region: ctx.caller.region.clone(),
    }
}

/// The registry id a request names must be the caller's account.
pub(crate) fn check_registry(ctx: &Ctx, registry_id: Option<&str>) -> Result<(), ApiError> {
    match registry_id {
        Some(id) if id != ctx.caller.account => Err(ApiError::InvalidParameter(format!(
            "Invalid parameter at 'registryId' failed to satisfy constraint: the registry \
             '{id}' is not this account's ('{}')",
            ctx.caller.account
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn repo_name(name: &str) -> Result<RepoName, ApiError> {
    RepoName::parse(name).map_err(|e| {
        ApiError::InvalidParameter(format!(
            "Invalid parameter at 'repositoryName' failed to satisfy constraint: {e}"
        ))
    })
}

/// A repository of the caller's, or RepositoryNotFoundException.
pub(crate) async fn repository(
    ctx: &Call<'_>,
    name: &RepoName,
) -> Result<RepositoryRecord, ApiError> {
    let scope = scope(ctx);
    match ctx
        .ecr
        .registry
        .metadata()
        .repository(&scope, name)
        .await
        .map_err(metadata_error)?
    {
        Some(record) => Ok(record),
        None => Err(metadata_error(MetadataError::repository_not_found(
            &scope, name,
        ))),
    }
}

pub(crate) fn metadata_error(e: MetadataError) -> ApiError {
    let message = e.to_string();
    match e {
        MetadataError::RepositoryNotFound { .. } => ApiError::RepositoryNotFound(message),
        MetadataError::RepositoryAlreadyExists { .. } => ApiError::RepositoryAlreadyExists(message),
        MetadataError::RepositoryNotEmpty { .. } => ApiError::RepositoryNotEmpty(message),
        MetadataError::TagImmutable { .. } => ApiError::ImageTagAlreadyExists(message),
        _ => ApiError::Server(message),
    }
}

/// A listing's `maxResults`: 1 to 1000, 100 when not given.
pub(crate) fn max_results(max: Option<i32>) -> Result<usize, ApiError> {
    match max {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n as usize),
        Some(n) => Err(ApiError::InvalidParameter(format!(
            "Invalid parameter at 'maxResults' failed to satisfy constraint: {n} is not \
             between 1 and 1000"
        ))),
    }
}

fn wire(ctx: &Call<'_>, r: &RepositoryRecord) -> Repository {
    Repository {
        repository_arn: Some(
            Arn::new(
                "ecr",
                &ctx.caller.region,
                &ctx.caller.account,
                format!("repository/{}", r.name),
            )
            .to_string(),
        ),
        registry_id: Some(ctx.caller.account.clone()),
        repository_name: Some(r.name.clone()),
        repository_uri: Some(format!("{}/{}", ctx.ecr.host, r.name)),
        created_at: Some(Timestamp::from_millis(r.created_at as i64)),
        image_tag_mutability: Some(match r.settings.image_tag_mutability {
            TagMutability::Mutable => ImageTagMutability::Mutable,
            TagMutability::Immutable => ImageTagMutability::Immutable,
        }),
        image_tag_mutability_exclusion_filters: None,
        image_scanning_configuration: Some(ImageScanningConfiguration {
            scan_on_push: Some(r.settings.scan_on_push),
        }),
        encryption_configuration: Some(EncryptionConfiguration {
            encryption_type: EncryptionType::Aes256,
            kms_key: None,
        }),
    }
}

async fn create(
    ctx: &Call<'_>,
    req: CreateRepositoryRequest,
) -> Result<CreateRepositoryResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let image_tag_mutability = settings::tag_mutability(
        req.image_tag_mutability
            .unwrap_or(ImageTagMutability::Mutable),
    )?;
    if req
        .encryption_configuration
        .as_ref()
        .is_some_and(|e| e.encryption_type != EncryptionType::Aes256)
    {
        return Err(ApiError::InvalidParameter(
            "Berth stores images unencrypted at rest on its own disk; only encryptionType \
             AES256 is accepted"
                .into(),
        ));
    }
    let tags = settings::checked_tags(req.tags.unwrap_or_default(), &Default::default())?;
    let settings = RepositorySettings {
        image_tag_mutability,
        scan_on_push: req
            .image_scanning_configuration
            .and_then(|c| c.scan_on_push)
            .unwrap_or(false),
        tags,
        lifecycle_policy: None,
        repository_policy: None,
    };
    let record = ctx
        .ecr
        .registry
        .metadata()
        .create_repository(&scope(ctx), &name, settings)
        .await
        .map_err(metadata_error)?;
    Ok(CreateRepositoryResponse {
        repository: Some(wire(ctx, &record)),
    })
}

async fn describe(
    ctx: &Call<'_>,
    req: DescribeRepositoriesRequest,
) -> Result<DescribeRepositoriesResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let metadata = ctx.ecr.registry.metadata();
    let scope = scope(ctx);
    if let Some(names) = req.repository_names.filter(|n| !n.is_empty()) {
        let mut out = Vec::new();
        for name in names {
            out.push(wire(ctx, &repository(ctx, &repo_name(&name)?).await?));
        }
        return Ok(DescribeRepositoriesResponse {
            repositories: Some(out),
            next_token: None,
        });
    }
    let limit = max_results(req.max_results)?;
    let after = pagination::decode_token(req.next_token.as_deref(), "")?;
    let page = metadata
        .list_repositories(&scope, after.as_deref(), limit)
        .await
        .map_err(metadata_error)?;
    let next_token = match (page.more, page.repositories.last()) {
        (true, Some(last)) => Some(pagination::encode_token(&last.name)),
        _ => None,
    };
    Ok(DescribeRepositoriesResponse {
        repositories: Some(page.repositories.iter().map(|r| wire(ctx, r)).collect()),
        next_token,
    })
}

async fn delete(
    ctx: &Call<'_>,
    req: DeleteRepositoryRequest,
) -> Result<DeleteRepositoryResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let record = ctx
        .ecr
        .registry
        .metadata()
        .delete_repository(&scope(ctx), &name, req.force.unwrap_or(false))
        .await
        .map_err(metadata_error)?;
    Ok(DeleteRepositoryResponse {
        repository: Some(wire(ctx, &record)),
    })
}

fn token(
    ctx: &Call<'_>,
    req: GetAuthorizationTokenRequest,
) -> Result<GetAuthorizationTokenResponse, ApiError> {
    for id in req.registry_ids.iter().flatten() {
        check_registry(ctx, Some(id))?;
    }
    let now = ctx.core.clock.now().as_secs_f64() as i64;
    let expires = now + LIFETIME.as_secs() as i64;
    let password = ctx.ecr.key.mint(
        &ctx.caller.account,
        &ctx.caller.region,
        expires,
        &ctx.caller.principal,
    );
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    Ok(GetAuthorizationTokenResponse {
        authorization_data: Some(vec![AuthorizationData {
            authorization_token: Some(token),
            expires_at: Some(Timestamp::from_secs(expires)),
            proxy_endpoint: Some(format!(
                "{}://{}",
                if ctx.ecr.https { "https" } else { "http" },
                ctx.ecr.host
            )),
        }]),
    })
}

/// The registry's gatekeeper: HTTP basic auth with user `AWS` and a token from
/// GetAuthorizationToken, which names the account and region the request acts in and
/// the principal that asked for it; each request is then authorized as that principal,
/// with the ECR permissions its route needs (BatchGetImage for a manifest,
/// GetDownloadUrlForLayer for a layer, the upload actions and PutImage for a push: see
/// `authz::requested::registry`). Anonymous requests are refused.
pub struct TokenAuthorizer {
    key: TokenKey,
    directory: std::sync::Arc<crate::iam::directory::Directory>,
    /// The repositories' records, for their repository policies.
    metadata: berth_registry::metadata::Metadata,
}

impl TokenAuthorizer {
    pub fn new(
        key: TokenKey,
        directory: std::sync::Arc<crate::iam::directory::Directory>,
        store: std::sync::Arc<dyn berth_store::Store>,
    ) -> Self {
        TokenAuthorizer {
            key,
            directory,
            metadata: berth_registry::metadata::Metadata::new(store),
        }
    }
}

#[async_trait]
impl Authorizer for TokenAuthorizer {
    async fn authorize(
        &self,
        request: &berth_registry::RequestHead<'_>,
        repo: Option<&str>,
        _action: Action,
    ) -> Result<Scope, AuthError> {
        let Some((user, password)) = berth_registry::auth::basic_credentials(request.headers)
        else {
            return Err(AuthError::Unauthenticated(
                "authentication required: log in with `aws ecr get-login-password | docker \
                 login --username AWS --password-stdin HOST:PORT`"
                    .into(),
            ));
        };
        if user != "AWS" {
            return Err(AuthError::Unauthenticated(
                "the user name must be AWS, with a token from `aws ecr get-login-password`".into(),
            ));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let token = self
            .key
            .verify(&password, now)
            .map_err(|e| AuthError::Unauthenticated(e.to_string()))?;
        if !token.principal.is_root() {
            let at = crate::authz::requested::Place {
                account: &token.account,
                region: &token.region,
            };
            let path = request
                .uri
                .path_and_query()
                .map_or(request.uri.path(), |p| p.as_str());
            let asked = crate::authz::requested::registry(request.method, path, at);
            let caller = crate::context::Caller {
                account: token.account.clone(),
                region: token.region.clone(),
                access_key_id: String::new(),
                principal_arn: token.principal.arn(&token.account),
                principal: token.principal.clone(),
            };
            let now = berth_api::ecs::Timestamp::try_from_secs_f64(now as f64)
                .unwrap_or(berth_api::ecs::Timestamp::UNIX_EPOCH);
            // The repository's own policy may grant what the principal's do not.
            let scope = Scope {
                account: token.account.clone(),
                region: token.region.clone(),
            };
            let policy = match repo {
                Some(name) => repository_policy::for_repository(&self.metadata, &scope, name)
                    .await
                    .map(|p| (at.arn_of_repository(name), p)),
                None => None,
            };
            let on = policy.as_ref().map(|(arn, p)| (arn.as_str(), p));
            crate::authz::decide::decide_with(&self.directory, &caller, &asked, now, on)
                .map_err(|denied| AuthError::Denied(denied.0))?;
        }
        Ok(Scope {
            account: token.account,
            region: token.region,
        })
    }

    fn realm(&self) -> &str {
        "Berth ECR"
    }
}
