//! ECR repositories: each with its URI, and a repository's images (tags, digest, size,
//! push time) with the exact commands that push to it from this Berth, as ECR's console
//! shows them.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use berth_api::error::ApiError;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::pages::{number, text};
use crate::web::*;
use crate::{api, Console};

/// Every page of DescribeRepositories or DescribeImages (`key` lists), following
/// `nextToken`.
async fn all(
    c: &Console,
    r: &SignedInRequest,
    action: &str,
    mut body: Value,
    key: &str,
) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    loop {
        let page = api::ecr(&c.front, &r.caller, action, body.clone()).await?;
        out.extend(api::objects(&page, key).iter().cloned());
        match page["nextToken"].as_str() {
            Some(token) => body["nextToken"] = json!(token),
            None => return Ok(out),
        }
    }
}

fn when(v: &Value, key: &str) -> String {
    v[key]
        .as_f64()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs as i64).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn list_view(c: &Console, r: &SignedInRequest) -> Result<Markup, ApiError> {
    let repositories = all(c, r, "DescribeRepositories", json!({}), "repositories").await?;
    Ok(html! {
        table id="repositories" {
            thead { tr { th { "Repository" } th { "URI" } th { "Created" } th { "Tag mutability" } } }
            tbody {
                @for repo in &repositories {
                    tr {
                        td { a href={ "/console/repository?name=" (text(repo, "repositoryName")) } { (text(repo, "repositoryName")) } }
                        td { code { (text(repo, "repositoryUri")) } }
                        td { (when(repo, "createdAt")) }
                        td { (text(repo, "imageTagMutability")) }
                    }
                }
            }
        }
    })
}

/// `GET /console/repositories`.
pub(crate) async fn list_page(State(c): State<Arc<Console>>, r: SignedInRequest) -> Response {
    answer(&r, "Repositories", list_view(&c, &r).await, None)
}

/// The commands that push an image to `uri` from a machine with the `berth` profile.
pub fn push_commands(uri: &str, region: &str) -> Vec<String> {
    let registry = uri.split('/').next().unwrap_or(uri);
    let name = uri.split_once('/').map_or(uri, |(_, n)| n);
    vec![
        format!(
            "aws --profile berth ecr get-login-password --region {region} | docker login --username AWS --password-stdin {registry}"
        ),
        format!("docker build -t {name} ."),
        format!("docker tag {name}:latest {uri}:latest"),
        format!("docker push {uri}:latest"),
    ]
}

#[derive(Debug, Deserialize)]
pub(crate) struct RepositoryQuery {
    #[serde(default)]
    name: String,
}

async fn repository_view(c: &Console, r: &SignedInRequest, name: &str) -> Result<Markup, ApiError> {
    let found = api::ecr(
        &c.front,
        &r.caller,
        "DescribeRepositories",
        json!({ "repositoryNames": [name] }),
    )
    .await?;
    let Some(repo) = api::objects(&found, "repositories").first().cloned() else {
        return Err(ApiError::RepositoryNotFound(format!(
            "The repository {name} does not exist."
        )));
    };
    let images = all(
        c,
        r,
        "DescribeImages",
        json!({ "repositoryName": name }),
        "imageDetails",
    )
    .await?;
    Ok(html! {
        p { a href="/console/repositories" { "All repositories" } }
        h2 { "Push commands" }
        pre id="push-commands" {
            @for line in push_commands(text(&repo, "repositoryUri"), &r.session.region) { (line) "\n" }
        }
        h2 { "Images" }
        table id="images" {
            thead { tr { th { "Tags" } th { "Digest" } th { "Size (bytes)" } th { "Pushed" } } }
            tbody {
                @for image in &images {
                    tr {
                        td { (api::strings(image, "imageTags").join(", ")) }
                        td { code { (text(image, "imageDigest")) } }
                        td { (number(image, "imageSizeInBytes")) }
                        td { (when(image, "imagePushedAt")) }
                    }
                }
            }
        }
    })
}

/// `GET /console/repository?name=NAME` (names hold `/`, so the name is a query).
pub(crate) async fn repository_page(
    State(c): State<Arc<Console>>,
    Query(query): Query<RepositoryQuery>,
    r: SignedInRequest,
) -> Response {
    answer(
        &r,
        &format!("Repository {}", query.name),
        repository_view(&c, &r, &query.name).await,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_commands_name_this_registry_and_region() {
        let lines = push_commands("127.0.0.1:7430/team/web", "eu-west-1");
        assert_eq!(
            lines[0],
            "aws --profile berth ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin 127.0.0.1:7430"
        );
        assert_eq!(
            lines[2],
            "docker tag team/web:latest 127.0.0.1:7430/team/web:latest"
        );
        assert_eq!(lines[3], "docker push 127.0.0.1:7430/team/web:latest");
    }
}
