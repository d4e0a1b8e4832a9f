//! IAM: users, roles and customer managed policies; creating a role that ECS tasks may
//! assume with AWS managed policies attached (what seed 001 does in the IAM console),
//! creating a policy from its JSON, and attaching a policy to a user or role. Each is
//! the signed-in principal's own IAM call (Query protocol, through
//! [`berth_server::protocol::call_query`], which IAM authorizes); answers are read with
//! [`crate::query`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use berth_api::error::ApiError;
use maud::{html, Markup};

use crate::query::{self, field, members};
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

async fn call(
    c: &Console,
    r: &SignedInRequest,
    params: &[(&str, &str)],
) -> Result<String, ApiError> {
    let mut all = vec![("Version", "2010-05-08")];
    all.extend_from_slice(params);
    query::call(&c.front, &r.caller, "iam", &all).await
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

/// What the policy forms were given.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct PolicyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    policy_name: String,
    #[serde(default)]
    document: String,
    #[serde(default)]
    policy_arn: String,
    /// `user` or `role`.
    #[serde(default)]
    attach_to: String,
    #[serde(default)]
    entity_name: String,
}

async fn view(
    c: &Console,
    r: &SignedInRequest,
    form: &RoleForm,
    policy: &PolicyForm,
) -> Result<Markup, ApiError> {
    let users = call(c, r, &[("Action", "ListUsers")]).await?;
    let roles = call(c, r, &[("Action", "ListRoles")]).await?;
    let policies = call(c, r, &[("Action", "ListPolicies"), ("Scope", "Local")]).await?;
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
        h2 { "Policies (customer managed)" }
        table id="policies" {
            thead { tr { th { "Policy" } th { "ARN" } th { "Attachments" } } }
            tbody {
                @for p in members(&policies) {
                    tr { td { (field(p, "PolicyName").unwrap_or_default()) } td { (field(p, "Arn").unwrap_or_default()) } td { (field(p, "AttachmentCount").unwrap_or_default()) } }
                }
            }
        }
        h3 { "Create a policy" }
        form method="post" action="/console/iam/policies" id="create-policy" {
            input type="hidden" name="csrf" value=(r.csrf);
            p { label { "Name " input name="policy_name" value=(policy.policy_name) required; } }
            p { label { "Document (JSON)" br; textarea name="document" rows="8" cols="80" { (policy.document) } } }
            button type="submit" { "Create policy" }
        }
        h3 { "Attach a policy" }
        form method="post" action="/console/iam/attach" id="attach-policy" {
            input type="hidden" name="csrf" value=(r.csrf);
            label { "Policy ARN " input name="policy_arn" value=(policy.policy_arn) size="60" required; }
            label { " to " select name="attach_to" {
                option value="role" selected[policy.attach_to != "user"] { "role" }
                option value="user" selected[policy.attach_to == "user"] { "user" }
            } }
            label { " named " input name="entity_name" value=(policy.entity_name) required; }
            " " button type="submit" { "Attach" }
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
pub(crate) async fn page(State(c): State<Arc<Console>>, r: SignedInRequest) -> Response {
    answer(
        &r,
        "IAM",
        view(&c, &r, &RoleForm::default(), &PolicyForm::default()).await,
        None,
    )
}

/// `POST /console/iam/roles`: CreateRole trusting ECS tasks, then AttachRolePolicy for
/// each ticked policy.
pub(crate) async fn create_role(
    State(c): State<Arc<Console>>,
    r: SignedInRequest,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
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
        Err(e) => answer(
            &r,
            "IAM",
            view(&c, &r, &form, &PolicyForm::default()).await,
            Some(&e),
        ),
    }
}

/// `POST /console/iam/policies`: CreatePolicy (IAM's MalformedPolicyDocument shows on
/// the page with the document as typed).
pub(crate) async fn create_policy(
    State(c): State<Arc<Console>>,
    r: SignedInRequest,
    Form(form): Form<PolicyForm>,
) -> Response {
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let params = [
        ("Action", "CreatePolicy"),
        ("PolicyName", form.policy_name.trim()),
        ("PolicyDocument", form.document.as_str()),
    ];
    match call(&c, &r, &params).await {
        Ok(_) => Redirect::to("/console/iam").into_response(),
        Err(e) => answer(
            &r,
            "IAM",
            view(&c, &r, &RoleForm::default(), &form).await,
            Some(&e),
        ),
    }
}

/// `POST /console/iam/attach`: AttachRolePolicy or AttachUserPolicy.
pub(crate) async fn attach_policy(
    State(c): State<Arc<Console>>,
    r: SignedInRequest,
    Form(form): Form<PolicyForm>,
) -> Response {
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let (action, member) = if form.attach_to == "user" {
        ("AttachUserPolicy", "UserName")
    } else {
        ("AttachRolePolicy", "RoleName")
    };
    let params = [
        ("Action", action),
        (member, form.entity_name.trim()),
        ("PolicyArn", form.policy_arn.trim()),
    ];
    match call(&c, &r, &params).await {
        Ok(_) => Redirect::to("/console/iam").into_response(),
        Err(e) => answer(
            &r,
            "IAM",
            view(&c, &r, &RoleForm::default(), &form).await,
            Some(&e),
        ),
    }
}
