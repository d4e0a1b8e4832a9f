//! IAM: users and roles, and creating a role that ECS tasks may assume with AWS managed
//! policies attached (what seed 001 does in the IAM console). Each is the signed-in
//! principal's own IAM call (Query protocol, through [`protocol::call_query`], which IAM
//! authorizes); answers are Berth's own XML, read with [`members`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use berth_api::error::ApiError;
use berth_server::protocol;
use maud::{html, Markup};

use crate::web::*;
use crate::Console;

/// The trust policy of a role for ECS tasks.
const ECS_TASKS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// AWS managed policies the form offers, as seed 001 and the ECS guides attach them.
const OFFERED: [&str; 5] = [
    "AmazonS3FullAccess",
    "AmazonECSTaskExecutionRolePolicy",
    "CloudWatchLogsFullAccess",
    "AmazonEC2ContainerRegistryReadOnly",
    "ReadOnlyAccess",
];

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text of the first `<tag>` in `xml`.
pub fn field(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(unescape(&xml[start..end]))
}

/// The `<member>` elements at the first level found in `xml` (a member's own nested
/// members stay inside it).
pub fn members(xml: &str) -> Vec<&str> {
    const OPEN: &str = "<member>";
    const CLOSE: &str = "</member>";
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = xml[at..].find(OPEN).map(|i| i + at) {
        let inner = start + OPEN.len();
        let (mut depth, mut cursor) = (1usize, inner);
        loop {
            let next_open = xml[cursor..].find(OPEN).map(|i| i + cursor);
            let Some(next_close) = xml[cursor..].find(CLOSE).map(|i| i + cursor) else {
                return out;
            };
            match next_open {
                Some(open) if open < next_close => {
                    depth += 1;
                    cursor = open + OPEN.len();
                }
                _ => {
                    depth -= 1;
                    cursor = next_close + CLOSE.len();
                    if depth == 0 {
                        out.push(&xml[inner..next_close]);
                        break;
                    }
                }
            }
        }
        at = cursor;
    }
    out
}

/// One IAM call; the XML answer, or the error it carried.
async fn call(
    c: &Console,
    r: &SignedInRequest,
    params: &[(&str, &str)],
) -> Result<String, ApiError> {
    let mut all = vec![("Version", "2010-05-08")];
    all.extend_from_slice(params);
    let body = berth_query::Params::encode(all);
    let answer = protocol::call_query(&c.front, r.caller.clone(), "iam", body.as_bytes()).await;
    if answer.status == 200 {
        return Ok(answer.body);
    }
    let code = field(&answer.body, "Code").unwrap_or_default();
    let message = field(&answer.body, "Message").unwrap_or_default();
    Err(match code.as_str() {
        "AccessDenied" => ApiError::AccessDenied(message),
        _ => ApiError::InvalidParameter(format!("{code}: {message}")),
    })
}

/// What the role form was given.
#[derive(Debug, Default)]
pub(crate) struct RoleForm {
    csrf: String,
    role_name: String,
    description: String,
    /// The AWS managed policies ticked (boxes `policy.N`, one per offered policy).
    policy: Vec<String>,
}

impl RoleForm {
    fn from_fields(mut fields: HashMap<String, String>) -> RoleForm {
        let mut take = |k: &str| fields.remove(k).unwrap_or_default();
        let (csrf, role_name, description) = (take("csrf"), take("role_name"), take("description"));
        let policy = OFFERED
            .iter()
            .enumerate()
            .filter(|(i, name)| {
                fields
                    .get(&format!("policy.{i}"))
                    .is_some_and(|v| v == *name)
            })
            .map(|(_, name)| name.to_string())
            .collect();
        RoleForm {
            csrf,
            role_name,
            description,
            policy,
        }
    }
}

async fn view(c: &Console, r: &SignedInRequest, form: &RoleForm) -> Result<Markup, ApiError> {
    let users = call(c, r, &[("Action", "ListUsers")]).await?;
    let roles = call(c, r, &[("Action", "ListRoles")]).await?;
    Ok(html! {
        h2 { "Users" }
        table id="users" {
            thead { tr { th { "User" } th { "ARN" } th { "Created" } } }
            tbody {
                @for u in members(&users) {
                    tr { td { (field(u, "UserName").unwrap_or_default()) } td { (field(u, "Arn").unwrap_or_default()) } td { (field(u, "CreateDate").unwrap_or_default()) } }
                }
            }
        }
        h2 { "Roles" }
        table id="roles" {
            thead { tr { th { "Role" } th { "ARN" } th { "Description" } } }
            tbody {
                @for role in members(&roles) {
                    tr { td { (field(role, "RoleName").unwrap_or_default()) } td { (field(role, "Arn").unwrap_or_default()) } td { (field(role, "Description").unwrap_or_default()) } }
                }
            }
        }
        h2 { "Create a role for ECS tasks" }
        form method="post" action="/console/iam/roles" id="create-role" {
            input type="hidden" name="csrf" value=(r.csrf);
            p { label { "Role name " input name="role_name" value=(form.role_name) required; } }
            p { label { "Description " input name="description" value=(form.description) size="60"; } }
            p { "Trusted entity: Elastic Container Service Task (ecs-tasks.amazonaws.com)" }
            fieldset {
                legend { "Permissions policies (AWS managed)" }
                @for (i, name) in OFFERED.iter().enumerate() {
                    label { input type="checkbox" name={ "policy." (i) } value=(name) checked[form.policy.iter().any(|p| p == name)]; " " (name) } br;
                }
            }
            button type="submit" { "Create role" }
        }
    })
}

/// `GET /console/iam`.
pub(crate) async fn page(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Response {
    match signed_in(&c, &headers, &extensions).await {
        Ok(r) => answer(&r, "IAM", view(&c, &r, &RoleForm::default()).await, None),
        Err(refused) => refused.into_response(),
    }
}

/// `POST /console/iam/roles`: CreateRole trusting ECS tasks, then AttachRolePolicy for
/// each ticked policy.
pub(crate) async fn create_role(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let r = match signed_in(&c, &headers, &extensions).await {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    let form = RoleForm::from_fields(fields);
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let name = form.role_name.trim().to_string();
    let mut outcome = call(
        &c,
        &r,
        &[
            ("Action", "CreateRole"),
            ("RoleName", &name),
            ("Description", form.description.trim()),
            ("AssumeRolePolicyDocument", ECS_TASKS_TRUST),
        ],
    )
    .await
    .map(|_| ());
    for policy in form.policy.iter().filter(|p| OFFERED.contains(&p.as_str())) {
        if outcome.is_err() {
            break;
        }
        let arn = format!("arn:aws:iam::aws:policy/{policy}");
        outcome = call(
            &c,
            &r,
            &[
                ("Action", "AttachRolePolicy"),
                ("RoleName", &name),
                ("PolicyArn", &arn),
            ],
        )
        .await
        .map(|_| ());
    }
    match outcome {
        Ok(()) => Redirect::to("/console/iam").into_response(),
        Err(e) => answer(&r, "IAM", view(&c, &r, &form).await, Some(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_whole_with_their_nested_lists() {
        let xml = "<ListRolesResult><Roles><member><RoleName>a&amp;b</RoleName><Tags><member><Key>k</Key></member></Tags></member><member><RoleName>c</RoleName></member></Roles></ListRolesResult>";
        let found = members(xml);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(field(found[0], "RoleName").as_deref(), Some("a&b"));
        assert!(found[0].contains("<Key>k</Key>"));
        assert_eq!(field(found[1], "RoleName").as_deref(), Some("c"));
        assert!(members("<x/>").is_empty());
    }
}
