//! The console over HTTP against an in-process control plane (the fake agent runs the
//! tasks): nothing without a session, sign-in with the root key and with an IAM user's
//! password, cookie flags, CSRF refusals that change nothing, escaping of user-supplied
//! strings, and an IAM user whose policy denies ecs:StopTask seeing the refusal while
//! the task keeps running.

use berth_testkit::cluster::TestCluster;
use berth_testkit::fake_agent::{FakeAgent, FakeAgentConfig};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A browser-like client that does not follow redirects, so each answer is seen.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The value of `name=` in a response's Set-Cookie headers.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// The CSRF token of the first form in a page.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf token")
        + 19;
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

fn cookie_value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

/// Signs in through the form; returns the session's `Cookie` header.
async fn sign_in(c: &TestCluster, fields: &[(&str, &str)]) -> Result<String, (StatusCode, String)> {
    let web = browser();
    let page = web
        .get(format!("{}/console/login", c.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let nonce = set_cookie(&page, "berth_console_sign_in").expect("a sign-in nonce cookie");
    let csrf = csrf_of(&page.text().await.unwrap());
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    form.push(("csrf", &csrf));
    let resp = web
        .post(format!("{}/console/login", c.endpoint()))
        .header("cookie", cookie_value(&nonce))
        .form(&form)
        .send()
        .await
        .unwrap();
    if resp.status() != StatusCode::SEE_OTHER {
        return Err((resp.status(), resp.text().await.unwrap()));
    }
    let session = set_cookie(&resp, "berth_console").expect("a session cookie");
    Ok(session)
}

async fn get(c: &TestCluster, path: &str, session: Option<&str>) -> (StatusCode, String) {
    let mut req = browser().get(format!("{}{path}", c.endpoint()));
    if let Some(s) = session {
        req = req.header("cookie", cookie_value(s));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let location = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    let body = resp.text().await.unwrap();
    (status, location.unwrap_or(body))
}

async fn post(
    c: &TestCluster,
    path: &str,
    session: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let resp = browser()
        .post(format!("{}{path}", c.endpoint()))
        .header("cookie", cookie_value(session))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn root_session(c: &TestCluster) -> String {
    sign_in(
        c,
        &[
            ("method", "key"),
            ("access_key_id", &c.identity.access_key_id),
            ("secret_access_key", &c.identity.secret_access_key),
        ],
    )
    .await
    .expect("the root key signs in")
}

/// Runs one EC2 task whose environment holds markup; returns its id.
async fn run_markup_task(c: &TestCluster) -> String {
    c.client
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "markup", "containerDefinitions": [{
                "name": "app", "image": "busybox", "memory": 16,
                "environment": [{"name": "GREETING", "value": "<script>alert('x')</script>"}]}]}),
        )
        .await;
    let run = c
        .client
        .ok(
            "RunTask",
            json!({"taskDefinition": "markup", "launchType": "EC2"}),
        )
        .await;
    let arn = run["tasks"][0]["taskArn"]
        .as_str()
        .expect("a task placed")
        .to_string();
    arn.rsplit('/').next().unwrap().to_string()
}

async fn last_status(c: &TestCluster, id: &str) -> (String, String) {
    let t = &c.client.ok("DescribeTasks", json!({"tasks": [id]})).await["tasks"][0];
    (
        t["lastStatus"].as_str().unwrap().to_string(),
        t["desiredStatus"].as_str().unwrap().to_string(),
    )
}

async fn until_running(c: &TestCluster, id: &str) {
    for _ in 0..100 {
        if last_status(c, id).await.0 == "RUNNING" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("task {id} never reached RUNNING");
}

async fn start() -> (TestCluster, FakeAgent) {
    let c = TestCluster::start_mounted(vec![berth_console::routes]).await;
    c.client.ok("CreateCluster", json!({})).await;
    let agent = FakeAgent::start(
        &c.endpoint(),
        &c.agent_token(),
        FakeAgentConfig::ec2("default"),
    )
    .await;
    (c, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_readable_or_done_without_a_session() {
    let (c, agent) = start().await;
    let id = run_markup_task(&c).await;
    until_running(&c, &id).await;
    for path in [
        "/console/clusters",
        "/console/clusters/default",
        &format!("/console/clusters/default/tasks/{id}"),
    ] {
        assert_eq!(
            get(&c, path, None).await,
            (StatusCode::SEE_OTHER, "/console/login".to_string()),
            "{path}"
        );
    }
    let forged = "berth_console=eyJ3aG8iOnt9fQ.AAAA";
    assert_eq!(
        get(&c, "/console/clusters", Some(forged)).await.0,
        StatusCode::SEE_OTHER
    );
    let (status, _) = post(
        &c,
        &format!("/console/clusters/default/tasks/{id}/stop"),
        forged,
        &[("csrf", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        last_status(&c, &id).await.1,
        "RUNNING",
        "nothing was stopped"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_key_signs_in_with_flagged_cookies_and_sees_clusters_and_tasks() {
    let (c, agent) = start().await;
    let id = run_markup_task(&c).await;
    until_running(&c, &id).await;

    let wrong = sign_in(
        &c,
        &[
            ("method", "key"),
            ("access_key_id", &c.identity.access_key_id),
            ("secret_access_key", "not-it"),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.1.contains("The sign-in details are not correct."),
        "{}",
        wrong.1
    );
    assert!(
        wrong.1.contains(&c.identity.access_key_id),
        "the form keeps the key id"
    );
    assert!(!wrong.1.contains("not-it"), "never the secret");

    let session = root_session(&c).await;
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=43200",
    ] {
        assert!(session.contains(flag), "{session} lacks {flag}");
    }
    assert!(!session.contains("Secure"), "plain HTTP: no Secure flag");

    let (status, page) = get(&c, "/console/clusters", Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("href=\"/console/clusters/default\""),
        "{page}"
    );
    // Services, running tasks, pending tasks, container instances.
    assert!(
        page.contains("<td>0</td><td>1</td><td>0</td><td>1</td>"),
        "one running task and one instance are counted: {page}"
    );

    let (status, page) = get(&c, "/console/clusters/default", Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("/console/clusters/default/tasks/{id}")),
        "{page}"
    );
    assert!(page.contains("RUNNING") && page.contains("EC2"), "{page}");

    // The environment value is shown as text, never as markup.
    let (status, page) = get(
        &c,
        &format!("/console/clusters/default/tasks/{id}"),
        Some(&session),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("&lt;script&gt;alert('x')&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"), "{page}");

    // Stopping from the page stops the task, with the reason given.
    let csrf = csrf_of(&page[page.find("/stop\"").unwrap()..]);
    let resp = browser()
        .post(format!(
            "{}/console/clusters/default/tasks/{id}/stop",
            c.endpoint()
        ))
        .header("cookie", cookie_value(&session))
        .form(&[("csrf", csrf.as_str()), ("reason", "bye from the console")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let t = &c.client.ok("DescribeTasks", json!({"tasks": [id]})).await["tasks"][0];
    assert_eq!(t["desiredStatus"], "STOPPED");
    assert_eq!(t["stoppedReason"], "bye from the console");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_sessions_csrf_token_is_refused_and_changes_nothing() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    let other = root_session(&c).await;
    let (_, page) = get(&c, "/console/clusters", Some(&other)).await;
    let others_token = csrf_of(&page);
    for token in ["", "00", others_token.as_str()] {
        let (status, body) = post(
            &c,
            "/console/clusters",
            &session,
            &[("csrf", token), ("cluster_name", "sneaky")],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "token {token:?}");
        assert!(body.contains("CSRF"), "{body}");
    }
    let clusters: Value = c.client.ok("ListClusters", json!({})).await;
    assert!(!clusters["clusterArns"].to_string().contains("sneaky"));

    // With its own token the same form works.
    let (_, page) = get(&c, "/console/clusters", Some(&session)).await;
    let (status, _) = post(
        &c,
        "/console/clusters",
        &session,
        &[("csrf", &csrf_of(&page)), ("cluster_name", "made-here")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let clusters: Value = c.client.ok("ListClusters", json!({})).await;
    assert!(clusters["clusterArns"]
        .to_string()
        .contains("cluster/made-here"));

    // A bad name is the API's error on the page.
    let (status, body) = post(
        &c,
        "/console/clusters",
        &session,
        &[("csrf", &csrf_of(&page)), ("cluster_name", "no spaces")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("role=\"alert\""), "{body}");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_denied_stop_task_sees_the_refusal_and_the_task_keeps_running() {
    let (c, agent) = start().await;
    let id = run_markup_task(&c).await;
    until_running(&c, &id).await;
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ecs:StopTask", "Resource": "*"}]})
    .to_string();
    for pairs in [
        vec![("Action", "CreateUser"), ("UserName", "viewer")],
        vec![
            ("Action", "PutUserPolicy"),
            ("UserName", "viewer"),
            ("PolicyName", "no-stop"),
            ("PolicyDocument", policy.as_str()),
        ],
        vec![
            ("Action", "CreateLoginProfile"),
            ("UserName", "viewer"),
            ("Password", "Console-Pass-1"),
        ],
    ] {
        let (status, body) = c
            .client
            .query("iam", &[&[("Version", "2010-05-08")][..], &pairs].concat())
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let wrong = sign_in(
        &c,
        &[
            ("method", "password"),
            ("user_name", "viewer"),
            ("password", "nope"),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.1.contains("value=\"viewer\""),
        "the form keeps the user name"
    );

    let session = sign_in(
        &c,
        &[
            ("method", "password"),
            ("user_name", "viewer"),
            ("password", "Console-Pass-1"),
        ],
    )
    .await
    .expect("the user signs in");
    let (status, page) = get(
        &c,
        &format!("/console/clusters/default/tasks/{id}"),
        Some(&session),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(":user/viewer"),
        "the header names the user: {page}"
    );
    let csrf = csrf_of(&page[page.find("/stop\"").unwrap()..]);
    let (status, body) = post(
        &c,
        &format!("/console/clusters/default/tasks/{id}/stop"),
        &session,
        &[("csrf", &csrf), ("reason", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("AccessDeniedException: User: arn:aws:iam::000000000000:user/viewer is not authorized to perform: ecs:StopTask"),
        "{body}"
    );
    assert!(body.contains("with an explicit deny"), "{body}");
    assert_eq!(
        last_status(&c, &id).await,
        ("RUNNING".into(), "RUNNING".into())
    );

    // Deleting the user ends the session at once.
    for pairs in [
        vec![
            ("Action", "DeleteUserPolicy"),
            ("UserName", "viewer"),
            ("PolicyName", "no-stop"),
        ],
        vec![("Action", "DeleteLoginProfile"), ("UserName", "viewer")],
    ] {
        let (status, body) = c
            .client
            .query("iam", &[&[("Version", "2010-05-08")][..], &pairs].concat())
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, location) = get(&c, "/console/clusters", Some(&session)).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/login")
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_session_even_for_a_copy_of_its_cookie() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    let (status, page) = get(&c, "/console/clusters", Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(&c, "/console/logout", &session, &[("csrf", "wrong")]).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "sign-out needs its token too"
    );
    assert_eq!(
        get(&c, "/console/clusters", Some(&session)).await.0,
        StatusCode::OK
    );
    let resp = browser()
        .post(format!("{}/console/logout", c.endpoint()))
        .header("cookie", cookie_value(&session))
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&resp, "berth_console")
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(
        get(&c, "/console/clusters", Some(&session)).await,
        (StatusCode::SEE_OTHER, "/console/login".to_string()),
        "the old cookie no longer works"
    );
    let again = root_session(&c).await;
    assert_eq!(
        get(&c, "/console/clusters", Some(&again)).await.0,
        StatusCode::OK
    );
    agent.stop().await;
}

/// The location a POST redirected to, or the page it answered with.
async fn post_full(
    c: &TestCluster,
    path: &str,
    session: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let resp = browser()
        .post(format!("{}{path}", c.endpoint()))
        .header("cookie", cookie_value(session))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    match resp.headers().get("location") {
        Some(l) => (status, l.to_str().unwrap().to_string()),
        None => (status, resp.text().await.unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_definition_from_the_form_runs_gets_a_new_revision_and_is_deregistered() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    let (status, page) = get(&c, "/console/task-definitions/new", Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&page);
    let form = [
        ("csrf", csrf.as_str()),
        ("family", "iris"),
        ("compatibility", "EC2"),
        ("network_mode", "bridge"),
        ("cpu", "256"),
        ("memory", "512"),
        ("container_name", "app"),
        ("image", "busybox"),
        ("container_port", "8080"),
        ("environment", "MODEL=iris\nBANNER=<b>hi</b>"),
        // The box is ticked on the page, so a browser sends it.
        ("awslogs", "on"),
    ];
    // A bad line keeps what was typed and says why.
    let mut bad = form.to_vec();
    bad[9] = ("environment", "NOEQUALS");
    let (status, body) = post_full(&c, "/console/task-definitions", &session, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("NOEQUALS") && body.contains("not NAME=VALUE"),
        "{body}"
    );
    assert!(
        body.contains("value=\"iris\""),
        "the family is kept: {body}"
    );

    let (status, location) = post_full(&c, "/console/task-definitions", &session, &form).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/task-definitions/iris/1")
    );
    let described = c
        .client
        .ok(
            "DescribeTaskDefinition",
            json!({"taskDefinition": "iris:1"}),
        )
        .await;
    let container = &described["taskDefinition"]["containerDefinitions"][0];
    assert_eq!(
        container["logConfiguration"]["logDriver"], "awslogs",
        "awslogs on by default"
    );
    assert_eq!(container["environment"][1]["value"], "<b>hi</b>");
    let (status, page) = get(&c, "/console/task-definitions/iris/1", Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("&lt;b&gt;hi&lt;/b&gt;") && !page.contains("<b>hi</b>"),
        "{page}"
    );

    // Run it: the cluster's page follows, with the task on it.
    let csrf = csrf_of(&page[page.find("id=\"run-task\"").unwrap()..]);
    let (status, location) = post_full(
        &c,
        "/console/task-definitions/iris/1/run",
        &session,
        &[
            ("csrf", &csrf),
            ("cluster", "default"),
            ("launch_type", "EC2"),
            ("count", "1"),
        ],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/clusters/default")
    );
    let tasks = c.client.ok("ListTasks", json!({"family": "iris"})).await;
    assert_eq!(tasks["taskArns"].as_array().unwrap().len(), 1);

    // A new revision from the JSON editor, starting from revision 1.
    let (status, page) = get(
        &c,
        "/console/task-definitions/new?from=iris:1",
        Some(&session),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let start = page.find("name=\"definition\"").unwrap();
    let text_start = page[start..].find('>').unwrap() + start + 1;
    let text_end = page[text_start..].find("</textarea>").unwrap() + text_start;
    let shown = page[text_start..text_end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let mut definition: Value =
        serde_json::from_str(&shown).expect("the editor holds the revision's JSON");
    assert!(definition.get("revision").is_none() && definition.get("status").is_none());
    definition["containerDefinitions"][0]["image"] = json!("busybox:2");
    let (_, body) = post_full(
        &c,
        "/console/task-definitions/json",
        &session,
        &[("csrf", &csrf_of(&page)), ("definition", "{not json")],
    )
    .await;
    assert!(
        body.contains("not valid JSON") && body.contains("{not json"),
        "{body}"
    );
    let (status, location) = post_full(
        &c,
        "/console/task-definitions/json",
        &session,
        &[
            ("csrf", &csrf_of(&page)),
            ("definition", &definition.to_string()),
        ],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/task-definitions/iris/2")
    );

    // Deregister revision 1.
    let (_, page) = get(&c, "/console/task-definitions/iris/1", Some(&session)).await;
    let (status, _) = post_full(
        &c,
        "/console/task-definitions/iris/1/deregister",
        &session,
        &[("csrf", &csrf_of(&page))],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let described = c
        .client
        .ok(
            "DescribeTaskDefinition",
            json!({"taskDefinition": "iris:1"}),
        )
        .await;
    assert_eq!(described["taskDefinition"]["status"], "INACTIVE");
    let (_, page) = get(&c, "/console/task-definitions/iris", Some(&session)).await;
    assert!(
        page.contains("/console/task-definitions/iris/2")
            && !page.contains("/console/task-definitions/iris/1\""),
        "{page}"
    );
    agent.stop().await;
}

/// Reads server-sent events from `resp` until one's data contains `needle`; returns it.
async fn event_containing(
    resp: &mut reqwest::Response,
    buffer: &mut String,
    needle: &str,
) -> String {
    let read = async {
        loop {
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
                    .collect::<Vec<_>>()
                    .join("\n");
                if event.contains("event: update") && data.contains(needle) {
                    return data;
                }
            }
            let chunk = resp.chunk().await.unwrap().expect("the stream stays open");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read)
        .await
        .unwrap_or_else(|_| panic!("no update containing {needle:?} within 5 s; so far: {buffer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_pages_get_task_changes_without_reloading() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    let (_, page) = get(&c, "/console/clusters/default", Some(&session)).await;
    assert!(
        page.contains("new EventSource(\"/console/clusters/default/tasks/stream?tasks=RUNNING\")"),
        "{page}"
    );
    let mut cluster_stream = browser()
        .get(format!(
            "{}/console/clusters/default/tasks/stream?tasks=RUNNING",
            c.endpoint()
        ))
        .header("cookie", cookie_value(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(cluster_stream.status(), StatusCode::OK);
    assert_eq!(
        cluster_stream.headers()["content-type"],
        "text/event-stream"
    );
    let mut cluster_buffer = String::new();
    event_containing(&mut cluster_stream, &mut cluster_buffer, "id=\"tasks\"").await;

    // A task started elsewhere shows up on the open cluster page, then as RUNNING.
    let id = run_markup_task(&c).await;
    event_containing(&mut cluster_stream, &mut cluster_buffer, &id).await;
    until_running(&c, &id).await;

    let mut task_stream = browser()
        .get(format!(
            "{}/console/clusters/default/tasks/{id}/stream",
            c.endpoint()
        ))
        .header("cookie", cookie_value(&session))
        .send()
        .await
        .unwrap();
    let mut task_buffer = String::new();
    event_containing(&mut task_stream, &mut task_buffer, "RUNNING").await;
    c.client
        .ok("StopTask", json!({"task": id, "reason": "watched"}))
        .await;
    let update = event_containing(&mut task_stream, &mut task_buffer, "watched").await;
    assert!(update.starts_with("<div id=\"task-view\">"), "{update}");

    // Without a session there is no stream.
    let resp = browser()
        .get(format!(
            "{}/console/clusters/default/tasks/stream",
            c.endpoint()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_from_a_revision_scales_redeploys_and_is_deleted() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    c.client
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "svc", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 16}]}),
        )
        .await;
    let (_, page) = get(&c, "/console/task-definitions/svc/1", Some(&session)).await;
    let form_at = page
        .find("id=\"create-service\"")
        .expect("a create-service form");
    let csrf = csrf_of(&page[form_at..]);
    let (status, body) = post_full(
        &c,
        "/console/task-definitions/svc/1/create-service",
        &session,
        &[
            ("csrf", &csrf),
            ("cluster", "default"),
            ("service_name", "web"),
            ("desired_count", "two"),
            ("launch_type", "EC2"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("desired count must be a whole number") && body.contains("value=\"web\""),
        "{body}"
    );
    let (status, location) = post_full(
        &c,
        "/console/task-definitions/svc/1/create-service",
        &session,
        &[
            ("csrf", &csrf),
            ("cluster", "default"),
            ("service_name", "web"),
            ("desired_count", "2"),
            ("launch_type", "EC2"),
        ],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/console/clusters/default/services/web"
        )
    );

    let mut page = String::new();
    for _ in 0..100 {
        page = get(&c, "/console/clusters/default/services/web", Some(&session))
            .await
            .1;
        if page.contains("<td class=\"running\">2</td>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        page.contains("<td class=\"running\">2</td>"),
        "two tasks run: {page}"
    );
    assert!(
        page.contains("id=\"deployments\"") && page.contains("PRIMARY"),
        "{page}"
    );
    assert!(
        page.contains("/console/clusters/default/services/web/stream"),
        "the page follows the service"
    );

    // Force a new deployment and scale to 1 in one update.
    let csrf = csrf_of(&page[page.find("id=\"update-service\"").unwrap()..]);
    let (status, _) = post_full(
        &c,
        "/console/clusters/default/services/web/update",
        &session,
        &[
            ("csrf", &csrf),
            ("desired_count", "1"),
            ("task_definition", "svc:1"),
            ("force_new_deployment", "on"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let s = &c
        .client
        .ok("DescribeServices", json!({"services": ["web"]}))
        .await["services"][0];
    assert_eq!(s["desiredCount"], 1);
    assert_eq!(
        s["deployments"].as_array().unwrap().len(),
        2,
        "a new deployment: {s}"
    );

    let (status, _) = post_full(
        &c,
        "/console/clusters/default/services/web/delete",
        &session,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let s = &c
        .client
        .ok("DescribeServices", json!({"services": ["web"]}))
        .await["services"][0];
    assert_ne!(s["status"], "ACTIVE");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tasks_page_shows_its_logs_pages_back_and_tails_new_lines() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    c.client
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "talker", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 16,
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/ecs/talker", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}}]}),
        )
        .await;
    let run = c
        .client
        .ok(
            "RunTask",
            json!({"taskDefinition": "talker", "launchType": "EC2"}),
        )
        .await;
    let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let id = arn.rsplit('/').next().unwrap().to_string();
    let stream = format!("ecs/app/{id}");
    // Before its stream exists, the page says so and tails it from its first line.
    let (_, early) = get(
        &c,
        &format!("/console/clusters/default/tasks/{id}"),
        Some(&session),
    )
    .await;
    assert!(early.contains("No log stream yet."), "{early}");
    let early_tail = format!("/console/clusters/default/tasks/{id}/logs/stream?container=app\"");
    assert!(early.contains(&early_tail), "{early}");
    let mut early_stream = browser()
        .get(format!(
            "{}{}",
            c.endpoint(),
            early_tail.trim_end_matches('"')
        ))
        .header("cookie", cookie_value(&session))
        .send()
        .await
        .unwrap();
    // 150 lines: the page shows the latest 100, older ones a page back.
    let _ = c
        .client
        .logs("CreateLogGroup", json!({"logGroupName": "/ecs/talker"}))
        .await;
    c.client
        .logs(
            "CreateLogStream",
            json!({"logGroupName": "/ecs/talker", "logStreamName": stream}),
        )
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000;
    let events: Vec<Value> = (0..150)
        .map(|i| json!({"timestamp": now + i, "message": format!("line {i:03} <i>")}))
        .collect();
    c.client
        .logs(
            "PutLogEvents",
            json!({"logGroupName": "/ecs/talker", "logStreamName": stream, "logEvents": events}),
        )
        .await
        .unwrap();
    let mut early_buffer = String::new();
    let first_lines = async {
        while !early_buffer.contains("line 000") {
            let chunk = early_stream.chunk().await.unwrap().expect("open");
            early_buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), first_lines)
        .await
        .expect("the early page's tail gets the stream's first lines");
    let (status, page) = get(
        &c,
        &format!("/console/clusters/default/tasks/{id}"),
        Some(&session),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("line 149 &lt;i&gt;")
            && page.contains("line 050")
            && !page.contains("line 049"),
        "{page}"
    );
    let older = page
        .find("?container=app&amp;before=")
        .expect("an older-lines link");
    let href_start = page[..older].rfind("href=\"").unwrap() + 6;
    let href = page[href_start..older + page[older..].find('"').unwrap()].replace("&amp;", "&");
    let (_, older_page) = get(&c, &href, Some(&session)).await;
    assert!(
        older_page.contains("line 049") && older_page.contains("line 000"),
        "{older_page}"
    );

    // The tail sends lines written after the page was rendered.
    let tail_at = page
        .find("/logs/stream?container=app")
        .expect("a tail stream");
    let tail_start = page[..tail_at].rfind('"').unwrap() + 1;
    let tail = &page[tail_start..tail_at + page[tail_at..].find('"').unwrap()];
    let mut resp = browser()
        .get(format!("{}{tail}", c.endpoint()))
        .header("cookie", cookie_value(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    c.client
        .logs(
            "PutLogEvents",
            json!({"logGroupName": "/ecs/talker", "logStreamName": stream,
                   "logEvents": [{"timestamp": now + 500, "message": "fresh line"}]}),
        )
        .await
        .unwrap();
    let mut buffer = String::new();
    let read = async {
        loop {
            if buffer.contains("event: lines") && buffer.contains("fresh line") {
                return;
            }
            let chunk = resp.chunk().await.unwrap().expect("open");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read)
        .await
        .expect("the new line is tailed");
    assert!(
        !buffer.contains("line 149"),
        "only new lines are sent: {buffer}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_pages_its_tasks_and_drains_and_activates_instances() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    c.client
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "many", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 6}]}),
        )
        .await;
    let mut placed = 0;
    while placed < 105 {
        let run = c
            .client
            .ok(
                "RunTask",
                json!({"taskDefinition": "many", "launchType": "EC2", "count": 10}),
            )
            .await;
        placed += run["tasks"].as_array().unwrap().len();
        assert!(run["failures"].as_array().unwrap().is_empty(), "{run}");
    }
    let rows = |page: &str| {
        page.matches("<td><a href=\"/console/clusters/default/tasks/")
            .count()
    };
    let (_, first) = get(&c, "/console/clusters/default", Some(&session)).await;
    assert_eq!(rows(&first), 100, "one page of 100");
    let next_at = first.find("&amp;page=").expect("a next-page link");
    let href_start = first[..next_at].rfind("href=\"").unwrap() + 6;
    let href =
        first[href_start..next_at + first[next_at..].find('"').unwrap()].replace("&amp;", "&");
    let (status, second) = get(&c, &href, Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&second), placed - 100, "the rest on the next page");
    assert!(
        second.contains("First page") && !second.contains("Next page"),
        "{second}"
    );

    // Drain the instance, then activate it again, from the page.
    let instance = c.client.ok("ListContainerInstances", json!({})).await["containerInstanceArns"]
        [0]
    .as_str()
    .unwrap()
    .to_string();
    let instance_id = instance.rsplit('/').next().unwrap();
    let action = format!("/console/clusters/default/instances/{instance_id}/state");
    let form_at = first.find(&action).expect("an instance state form");
    let csrf = csrf_of(&first[form_at..]);
    let status_of = |c: &TestCluster| {
        let client = c.client.clone();
        let instance = instance.clone();
        async move {
            client
                .ok(
                    "DescribeContainerInstances",
                    json!({"containerInstances": [instance]}),
                )
                .await["containerInstances"][0]["status"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (status, _) = post_full(
        &c,
        &action,
        &session,
        &[("csrf", &csrf), ("status", "DRAINING")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&c).await, "DRAINING");
    let (_, page) = get(&c, "/console/clusters/default", Some(&session)).await;
    assert!(
        page.contains(">Activate</button>"),
        "a draining instance offers Activate"
    );
    let (status, _) = post_full(
        &c,
        &action,
        &session,
        &[("csrf", &csrf), ("status", "ACTIVE")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&c).await, "ACTIVE");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repositories_show_their_uri_and_push_commands() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    let created = c
        .client
        .ecr("CreateRepository", json!({"repositoryName": "team/web"}))
        .await
        .unwrap();
    let uri = created["repository"]["repositoryUri"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, page) = get(&c, "/console/repositories", Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("href=\"/console/repository?name=team/web\"") && page.contains(&uri),
        "{page}"
    );
    let (status, page) = get(&c, "/console/repository?name=team/web", Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("docker push {uri}:latest")),
        "{page}"
    );
    assert!(
        page.contains("get-login-password --region us-east-1 | docker login"),
        "{page}"
    );
    let (status, page) = get(&c, "/console/repository?name=team/none", Some(&session)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("RepositoryNotFoundException"), "{page}");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_for_ecs_tasks_is_created_from_the_iam_page_as_seed_001_does() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    let (status, page) = get(&c, "/console/iam", Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("ecsTaskExecutionRole"),
        "the default role is listed: {page}"
    );
    let csrf = csrf_of(&page[page.find("id=\"create-role\"").unwrap()..]);
    let form = [
        ("csrf", csrf.as_str()),
        ("role_name", "ecs-iris-tasks"),
        (
            "description",
            "Allows ECS tasks to call AWS services on your behalf.",
        ),
        ("policy.0", "AmazonS3FullAccess"),
    ];
    let (status, location) = post_full(&c, "/console/iam/roles", &session, &form).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/iam")
    );
    let (status, xml) = c
        .client
        .query(
            "iam",
            &[
                ("Version", "2010-05-08"),
                ("Action", "ListAttachedRolePolicies"),
                ("RoleName", "ecs-iris-tasks"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    assert!(
        xml.contains("arn:aws:iam::aws:policy/AmazonS3FullAccess"),
        "{xml}"
    );
    let (_, xml) = c
        .client
        .query(
            "iam",
            &[
                ("Version", "2010-05-08"),
                ("Action", "GetRole"),
                ("RoleName", "ecs-iris-tasks"),
            ],
        )
        .await;
    assert!(
        xml.contains("ecs-tasks.amazonaws.com"),
        "trusts ECS tasks: {xml}"
    );
    let (_, page) = get(&c, "/console/iam", Some(&session)).await;
    assert!(
        page.contains("arn:aws:iam::000000000000:role/ecs-iris-tasks"),
        "{page}"
    );

    // The same name again is IAM's error on the page, the form as typed.
    let (status, body) = post_full(&c, "/console/iam/roles", &session, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("EntityAlreadyExists") && body.contains("value=\"ecs-iris-tasks\""),
        "{body}"
    );
    assert!(
        body.contains("value=\"AmazonS3FullAccess\" checked"),
        "the ticked policy stays ticked: {body}"
    );
    agent.stop().await;
}

/// The text of `<tag>` in an ELBv2 answer.
fn xml_field(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no {tag} in {xml}"))
        + open.len();
    xml[start..start + xml[start..].find('<').unwrap()].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancers_show_listener_urls_and_target_health() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    let elb = |pairs: Vec<(&'static str, String)>| {
        let client = c.client.clone();
        async move {
            let mut all: Vec<(&str, &str)> = vec![("Version", "2015-12-01")];
            all.extend(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            let (status, xml) = client.query("elasticloadbalancing", &all).await;
            assert_eq!(status, 200, "{xml}");
            xml
        }
    };
    let lb = elb(vec![
        ("Action", "CreateLoadBalancer".into()),
        ("Name", "iris-lb".into()),
    ])
    .await;
    let tg = elb(vec![
        ("Action", "CreateTargetGroup".into()),
        ("Name", "iris-tg".into()),
        ("Protocol", "HTTP".into()),
        ("Port", "80".into()),
        ("TargetType", "ip".into()),
        ("HealthCheckPath", "/healthz".into()),
    ])
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    elb(vec![
        ("Action", "CreateListener".into()),
        ("LoadBalancerArn", xml_field(&lb, "LoadBalancerArn")),
        ("Protocol", "HTTP".into()),
        ("Port", port.clone()),
        ("DefaultActions.member.1.Type", "forward".into()),
        (
            "DefaultActions.member.1.TargetGroupArn",
            xml_field(&tg, "TargetGroupArn"),
        ),
    ])
    .await;
    elb(vec![
        ("Action", "RegisterTargets".into()),
        ("TargetGroupArn", xml_field(&tg, "TargetGroupArn")),
        ("Targets.member.1.Id", "10.9.8.7".into()),
        ("Targets.member.1.Port", "8080".into()),
    ])
    .await;
    let (status, page) = get(&c, "/console/load-balancers", Some(&session)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let dns = xml_field(&lb, "DNSName");
    assert!(
        page.contains("iris-lb") && page.contains(&format!("http://{dns}:{port}/")),
        "{page}"
    );
    assert!(
        page.contains("iris-tg") && page.contains("/healthz"),
        "{page}"
    );
    assert!(
        page.contains("<td>10.9.8.7</td>") && page.contains("<td>8080</td>"),
        "{page}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_wizard_makes_its_load_balancer_target_group_and_listener() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    c.client
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "iris-app", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 16,
                "portMappings": [{"containerPort": 8080, "hostPort": 0}]}]}),
        )
        .await;
    let (_, page) = get(&c, "/console/task-definitions/iris-app/1", Some(&session)).await;
    let csrf = csrf_of(&page[page.find("id=\"create-service\"").unwrap()..]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let (status, location) = post_full(
        &c,
        "/console/task-definitions/iris-app/1/create-service",
        &session,
        &[
            ("csrf", csrf.as_str()),
            ("cluster", "default"),
            ("service_name", "iris"),
            ("desired_count", "1"),
            ("launch_type", "EC2"),
            ("listener_port", port.as_str()),
            ("health_check_path", "/"),
            ("container_name", "app"),
            ("container_port", "8080"),
            ("grace_period", "10"),
        ],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/console/clusters/default/services/iris"
        ),
        "{location}"
    );
    let s = &c
        .client
        .ok("DescribeServices", json!({"services": ["iris"]}))
        .await["services"][0];
    let tg = s["loadBalancers"][0]["targetGroupArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(tg.contains(":targetgroup/iris-tg/"), "{s}");
    assert_eq!(s["healthCheckGracePeriodSeconds"], 10);
    let (_, xml) = c
        .client
        .query(
            "elasticloadbalancing",
            &[
                ("Version", "2015-12-01"),
                ("Action", "DescribeTargetGroups"),
                ("TargetGroupArns.member.1", &tg),
            ],
        )
        .await;
    assert!(
        xml.contains("<TargetType>instance</TargetType>") && xml.contains("<Port>8080</Port>"),
        "{xml}"
    );
    let (_, page) = get(&c, "/console/load-balancers", Some(&session)).await;
    assert!(
        page.contains(&format!(":{port}/")) && page.contains("iris-tg"),
        "{page}"
    );
    // The service's networking counts its group's targets (nothing answers their health
    // checks here, so none is healthy).
    let (_, page) = get(
        &c,
        "/console/clusters/default/services/iris",
        Some(&session),
    )
    .await;
    let at = page
        .find("<td class=\"healthy\">")
        .expect("a healthy-targets cell")
        + 20;
    let cell = &page[at..at + page[at..].find('<').unwrap()];
    assert!(cell.starts_with("0 of "), "{cell}");
    // ... and shows the listener's URL and each target with its state.
    let at = page
        .find("<td class=\"urls\">")
        .expect("a listener URLs cell");
    let urls = &page[at..at + page[at..].find("</td>").unwrap()];
    assert!(
        urls.contains("http://") && urls.contains(&format!(":{port}/")),
        "{urls}"
    );
    assert!(page.contains("Targets of iris-tg"), "{page}");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_is_created_from_its_json_and_attached_to_a_role() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    let (_, page) = get(&c, "/console/iam", Some(&session)).await;
    let csrf = csrf_of(&page[page.find("id=\"create-policy\"").unwrap()..]);
    let bad = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}"#;
    let (status, body) = post_full(
        &c,
        "/console/iam/policies",
        &session,
        &[
            ("csrf", &csrf),
            ("policy_name", "logs-one"),
            ("document", bad),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("MalformedPolicyDocument") && body.contains("Maybe"),
        "the document is kept: {body}"
    );
    let good = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]}"#;
    let (status, _) = post_full(
        &c,
        "/console/iam/policies",
        &session,
        &[
            ("csrf", &csrf),
            ("policy_name", "logs-one"),
            ("document", good),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let arn = "arn:aws:iam::000000000000:policy/logs-one";
    let (status, _) = post_full(
        &c,
        "/console/iam/attach",
        &session,
        &[
            ("csrf", &csrf),
            ("policy_arn", arn),
            ("attach_to", "role"),
            ("entity_name", "ecsTaskExecutionRole"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, xml) = c
        .client
        .query(
            "iam",
            &[
                ("Version", "2010-05-08"),
                ("Action", "ListAttachedRolePolicies"),
                ("RoleName", "ecsTaskExecutionRole"),
            ],
        )
        .await;
    assert!(xml.contains(arn), "{xml}");
    let (_, page) = get(&c, "/console/iam", Some(&session)).await;
    assert!(page.contains(arn), "{page}");
    agent.stop().await;
}

/// Registers `definition` and a service of two EC2 tasks of it named after its family;
/// the ARNs of the two tasks once placed.
async fn two_task_service(c: &TestCluster, definition: Value) -> Vec<String> {
    let family = definition["family"].as_str().unwrap().to_string();
    c.client.ok("RegisterTaskDefinition", definition).await;
    c.client
        .ok(
            "CreateService",
            json!({"serviceName": family, "taskDefinition": family, "desiredCount": 2,
                   "launchType": "EC2"}),
        )
        .await;
    for _ in 0..200 {
        let listed = c
            .client
            .ok("ListTasks", json!({"serviceName": family}))
            .await;
        let arns = berth_console::api::strings(&listed, "taskArns");
        if arns.len() == 2 {
            return arns;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the service {family} did not place its two tasks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_and_service_pages_chart_the_cpu_and_memory_agents_report() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    let arns = two_task_service(
        &c,
        json!({"family": "busy", "cpu": "256", "memory": "512",
               "containerDefinitions": [{"name": "app", "image": "busybox"}]}),
    )
    .await;
    let ids: Vec<String> = arns
        .iter()
        .map(|a| a.rsplit('/').next().unwrap().to_string())
        .collect();
    for id in &ids {
        until_running(&c, id).await;
    }
    let (_, before) = get(
        &c,
        &format!("/console/clusters/default/tasks/{}", ids[0]),
        Some(&session),
    )
    .await;
    assert!(before.contains("No CPU or memory samples"), "{before}");

    // Three samples a task, 2 s apart, ending now; and one of a task not on this agent.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut samples = Vec::new();
    for (n, arn) in arns.iter().enumerate() {
        for step in 0..3 {
            samples.push(berth_api::agent::TaskMetricsSample {
                task_arn: arn.clone(),
                timestamp: now - 4_000 + step * 2_000,
                cpu_utilized: 100.0 * (n as f64 + 1.0) + step as f64,
                memory_utilized: 10.0 * (n as f64 + 1.0),
            });
        }
    }
    samples.push(berth_api::agent::TaskMetricsSample {
        task_arn: arns[0].replace(&ids[0], "0123456789abcdef0123456789abcdef"),
        timestamp: now,
        cpu_utilized: 1.0,
        memory_utilized: 1.0,
    });
    let answer = agent.report_metrics(samples).await;
    assert_eq!(
        answer.recorded, 6,
        "a task not placed on the agent's instance is not kept"
    );

    // The task's page: its own samples, its reservation as the limit.
    let (status, page) = get(
        &c,
        &format!("/console/clusters/default/tasks/{}", ids[0]),
        Some(&session),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<svg"), "{page}");
    assert!(
        page.contains("data-series=\"CPU used\" data-points=\"3\""),
        "{page}"
    );
    assert!(
        page.contains("Latest: CPU <span class=\"cpu-used\">102.0</span> of 256 units (39.8%)")
            && page.contains("memory <span class=\"memory-used\">10.0</span> of 512 MiB"),
        "{page}"
    );
    // The service's page: both tasks added up per sampling interval.
    let (status, page) = get(
        &c,
        "/console/clusters/default/services/busy",
        Some(&session),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("data-series=\"Memory used\" data-points=\"3\""),
        "{page}"
    );
    assert!(
        page.contains("Latest: CPU <span class=\"cpu-used\">304.0</span> of 512 units")
            && page.contains("memory <span class=\"memory-used\">30.0</span> of 1024 MiB"),
        "{page}"
    );
    // The samples are CloudWatch Logs events the AWS CLI reads too.
    let events = c
        .client
        .logs(
            "GetLogEvents",
            json!({"logGroupName": "/aws/ecs/containerinsights/default/performance",
                   "logStreamName": format!("TaskTelemetry-{}", ids[1])}),
        )
        .await
        .expect("the task's performance stream");
    let first: Value =
        serde_json::from_str(events["events"][0]["message"].as_str().unwrap()).unwrap();
    assert_eq!(first["Type"], "Task");
    assert_eq!(first["ServiceName"], "busy");
    assert_eq!(first["CpuUtilized"], 200.0);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_services_page_shows_the_latest_lines_of_its_tasks_merged_by_time() {
    let (c, agent) = start().await;
    let session = root_session(&c).await;
    let arns = two_task_service(
        &c,
        json!({"family": "talker", "containerDefinitions": [{"name": "app",
            "image": "busybox", "memory": 16, "logConfiguration": {"logDriver": "awslogs",
            "options": {"awslogs-group": "/ecs/talker", "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "ecs"}}}]}),
    )
    .await;
    let ids: Vec<&str> = arns.iter().map(|a| a.rsplit('/').next().unwrap()).collect();
    // Each task's stream, as the awslogs driver names it, with lines that interleave
    // in time.
    c.client
        .logs("CreateLogGroup", json!({"logGroupName": "/ecs/talker"}))
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (n, id) in ids.iter().enumerate() {
        let stream = format!("ecs/app/{id}");
        c.client
            .logs(
                "CreateLogStream",
                json!({"logGroupName": "/ecs/talker", "logStreamName": stream}),
            )
            .await
            .unwrap();
        let events: Vec<Value> = (0..3)
            .map(|i| {
                json!({"timestamp": now - 10_000 + (i * 2 + n as i64) * 1000,
                       "message": format!("line {} <b>of</b> {n}", i * 2 + n as i64)})
            })
            .collect();
        c.client
            .logs(
                "PutLogEvents",
                json!({"logGroupName": "/ecs/talker", "logStreamName": stream,
                       "logEvents": events}),
            )
            .await
            .unwrap();
    }
    let (status, page) = get(
        &c,
        "/console/clusters/default/services/talker",
        Some(&session),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let at = page
        .find("id=\"service-log-lines\"")
        .expect("the service's log lines");
    let shown = &page[at..at + page[at..].find("</pre>").unwrap()];
    let order: Vec<usize> = (0..6)
        .map(|k| {
            shown
                .find(&format!("line {k} &lt;b&gt;of&lt;/b&gt;"))
                .expect("each line, escaped")
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "in time order: {shown}"
    );
    assert!(
        shown.contains(&format!("{}/app</span> line 0", ids[0]))
            && shown.contains(&format!("{}/app</span> line 1", ids[1])),
        "each line marked with its task: {shown}"
    );
    agent.stop().await;
}
