"""The web console in a real headless browser: Debian's Chromium driven through its
chromedriver (/usr/bin/chromedriver, named explicitly so selenium never fetches one),
against one `berth up` with a real `berth agent` on the suite's dockerd.

What a person does, through the pages only (the AWS CLI and boto3 set up IAM users and
verify): sign in with the `berth` profile's key (the session cookie is HttpOnly and
SameSite=Strict as the browser keeps it); seed 001's flow as far as the console has it
(a cluster from the form, a task definition from the form, a new revision from the JSON
editor that adds a command and stopTimeout, run it, watch it reach RUNNING without
reloading, stop it with a reason from its page and watch it stop, show stopped tasks);
an IAM user whose policy denies ecs:StopTask signs in with name and password, is refused
in words on the page and the task keeps running; markup in an environment value renders
as text and never runs. The rest of seed 001: a service behind a load balancer from the
create-service wizard (listener port, health check path, grace period) followed live to
one running task and one healthy target, its listener URL answering with the task's
httpd, a forced new deployment, a new revision and a scale to 0 each followed live, and
delete; a task's logs (its output, and new lines through the live tail). Seed 002's view:
the cluster page lists running awsvpc tasks with their private IPs. The repositories and
IAM pages. Every page visited is saved as a screenshot under
.berth-test/screenshots/ (the suite's artifacts; docs/console/ holds copies for README).

Chromium or chromedriver missing fails the module: scripts/test installs both.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ACCOUNT, REGION, REPO_ROOT, SECURITY_GROUPS, SUBNETS, Berth, eventually, free_port, unique
from docker_agent import IMAGE, AgentProcess
from elb_kit import FAST_CHECKS

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("BERTH_TEST_ARTIFACTS", REPO_ROOT / ".berth-test"))
SCREENSHOTS = ARTIFACTS / "screenshots"
# How long a page may take to show a change (a task starting on the real agent is the slowest).
WAIT_S = 60.0
MARKUP = "<img src=x onerror=window.__xss=1>"


# --------------------------------------------------------------------------- browser


class Browser:
    """One headless Chromium, with the waits and screenshots the tests share."""

    def __init__(self, driver: webdriver.Chrome, shots: Path) -> None:
        self.driver = driver
        self.shots = shots
        self.taken = 0

    def wait(self, what: str, check: Callable[[webdriver.Chrome], Any], timeout: float = WAIT_S) -> Any:
        """Polls `check` (short intervals) until it is truthy; fails naming `what` and the page."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(check)
        except TimeoutException:
            self.shot("timeout")
            pytest.fail(f"timed out after {timeout}s waiting for {what} on {self.driver.current_url}:\n"
                        f"{self.text('main')[-3000:]}")

    def open(self, url: str, name: str) -> None:
        """Goes to `url` and saves the page as screenshot `name`."""
        self.driver.get(url)
        self.shot(name)

    def at(self, path_re: str) -> str:
        """Waits until the browser is at a URL whose path (query aside) matches `path_re`."""
        pattern = re.compile(path_re)
        self.wait(f"a page at {path_re}", lambda d: pattern.fullmatch(self.path()))
        return self.path()

    def path(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.driver.current_url).split("?")[0]

    def submit(self, selector: str, name: str) -> None:
        """Clicks `selector`, waits for the page it leads to (a new document) to load and
        saves it as screenshot `name`."""
        self.driver.execute_script("window.__leaving = 1;")
        for attempt in range(3):
            try:
                self.css(selector).click()
                break
            except StaleElementReferenceException:  # replaced by a live update meanwhile
                if attempt == 2:
                    raise

        def loaded(d: Any) -> bool:
            try:
                return d.execute_script("return window.__leaving === undefined && document.readyState === 'complete';")
            except WebDriverException:  # between documents
                return False

        self.wait(f"the page after clicking {selector}", loaded)
        self.shot(name)

    def css(self, selector: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self, selector: str) -> str:
        """The text of the first element matching `selector` ("" if none), read in the page."""
        return self.driver.execute_script(
            "var e=document.querySelector(arguments[0]);return e?e.textContent.trim():'';", selector)

    def title(self) -> str:
        return self.text("main h1")

    def type(self, selector: str, value: str) -> None:
        field = self.css(selector)
        field.clear()
        field.send_keys(value)

    def choose(self, selector: str, value: str) -> None:
        Select(self.css(selector)).select_by_value(value)

    def mark(self) -> None:
        """Sets a marker on the window: it survives live updates, not a navigation."""
        self.driver.execute_script("window.__marker = 1;")

    def marked(self) -> bool:
        return self.driver.execute_script("return window.__marker === 1;")

    def shot(self, name: str) -> Path:
        """Saves the whole page as SCREENSHOTS/NN-name.png."""
        d = self.driver
        d.set_window_size(1280, 720)
        height, chrome = d.execute_script(
            "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight];")
        d.set_window_size(1280, min(max(720, int(height)), 4000) + int(chrome))
        d.execute_script("if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0);")
        self.taken += 1
        path = self.shots / f"{self.taken:02d}-{name}.png"
        assert self.driver.save_screenshot(str(path)), f"no screenshot saved at {path}"
        return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: install Debian's {package} (scripts/test does)")
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    profile = tempfile.mkdtemp(prefix="berth-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--window-size=1280,720", f"--user-data-dir={profile}", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions",
        # Nothing but this machine's loopback: every other address goes to a closed port
        # (Chromium never proxies loopback, where Berth listens).
        "--proxy-server=http://127.0.0.1:9",
    ):
        options.add_argument(arg)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(ARTIFACTS / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield Browser(driver, SCREENSHOTS)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# --------------------------------------------------------------------------- control plane


@dataclass
class Node:
    """A control plane and the one real agent that joins `cluster` once it exists."""

    berth: Berth
    cluster: str
    agent: AgentProcess

    def url(self, path: str) -> str:
        return f"{self.berth.endpoint}{path}"

    def join(self) -> None:
        """Starts the agent on `cluster` (made with the API if no test made it yet) and
        waits for its container instance."""
        ecs = self.berth.client()
        if self.agent.proc is None:
            if not ecs.describe_clusters(clusters=[self.cluster])["clusters"]:
                ecs.create_cluster(clusterName=self.cluster)
            self.agent.start()
        eventually(lambda: ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"],
                   timeout=30, what=f"the agent to join {self.cluster} (log: {self.agent.root / 'agent.log'})")

    @contextlib.contextmanager
    def agent_held(self) -> Iterator[None]:
        """The agent (our own process, by pid) stopped with SIGSTOP, and continued after."""
        assert self.agent.proc is not None and self.agent.proc.poll() is None, "the agent runs"
        os.kill(self.agent.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.agent.proc.pid, signal.SIGCONT)

    def task(self, task_id: str) -> dict:
        return self.berth.client().describe_tasks(cluster=self.cluster, tasks=[task_id])["tasks"][0]


@pytest.fixture(scope="module")
def node(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    berth = berth_factory(fake_agent=False)
    cluster = unique("console")
    # Samples every 2 s instead of a minute, so the charts have points within the test.
    n = Node(berth, cluster, AgentProcess(berth, cluster, tmp_path_factory.mktemp("console-browser"),
                                          extra_env={"BERTH_METRICS_INTERVAL": "2"}))
    try:
        yield n
    finally:
        if n.agent.proc is not None:
            # Stop what the tests left running while the agent is there to stop it.
            ecs = berth.client()
            arns = ecs.list_tasks(cluster=cluster)["taskArns"]
            for arn in arns:
                ecs.stop_task(cluster=cluster, task=arn, reason="test cleanup")
            if arns:
                eventually(lambda: all(t["lastStatus"] == "STOPPED" for t in ecs.describe_tasks(
                    cluster=cluster, tasks=arns)["tasks"]), timeout=30, what="the tests' tasks to stop")
        n.agent.stop()


# --------------------------------------------------------------------------- steps


def sign_in(b: Browser, node: Node, *, key: tuple[str, str] | None = None,
            user: tuple[str, str] | None = None, shot: str | None = None) -> None:
    """Signs in through the form, from a browser with no cookies of the console's."""
    b.driver.get(node.url("/console/login"))  # where the console's cookies can be deleted
    b.driver.delete_all_cookies()
    b.open(node.url("/console/login"), "sign-in-form")
    assert b.title() == "Sign in"
    if key is not None:
        b.type("input[name=access_key_id]", key[0])
        b.type("input[name=secret_access_key]", key[1])
        submit = "button[name=method][value=key]"
    else:
        assert user is not None
        b.type("input[name=user_name]", user[0])
        b.type("input[name=password]", user[1])
        submit = "button[name=method][value=password]"
    if shot:
        b.shot(shot)
    b.submit(submit, "clusters-signed-in")
    b.at("/console/clusters")
    assert b.title() == "Clusters", b.text("main")


def task_row_status(b: Browser, task_id: str) -> str | None:
    """The last status in the cluster page's row of `task_id` (None if no such row)."""
    return b.driver.execute_script(
        "var a=document.querySelector('#tasks a[href$=\"/tasks/'+arguments[0]+'\"]');"
        "return a?a.closest('tr').querySelector('td.status').textContent.trim():null;", task_id)


def new_task_id(b: Browser, family_revision: str) -> str:
    """Waits for the cluster page's tasks table to list a task of `family_revision`; its id."""
    def found(_: Any) -> str | None:
        return b.driver.execute_script(
            "var rows=document.querySelectorAll('#tasks tbody tr');"
            "for(var i=0;i<rows.length;i++){var c=rows[i].querySelectorAll('td');"
            "if(c[1].textContent.trim()===arguments[0])return c[0].textContent.trim();}return null;",
            family_revision)
    return b.wait(f"a task of {family_revision} in the tasks table", found)


def json_editor(b: Browser, definition: dict) -> None:
    """Replaces the JSON editor's text with `definition`, typed."""
    b.type("textarea[name=definition]", json.dumps(definition, indent=2))


def run_from_revision_page(b: Browser, node: Node, family: str, revision: int) -> None:
    """On a revision's page: run one task on the test cluster (EC2), to the cluster's page."""
    assert b.title() == f"Task definition {family}:{revision}"
    b.type("#run-task input[name=cluster]", node.cluster)
    assert Select(b.css("#run-task select[name=launch_type]")).first_selected_option.get_attribute("value") == "EC2", \
        "an EC2 task definition runs on EC2 by default"
    b.submit("#run-task button[type=submit]", "cluster-task-started")
    b.at(f"/console/clusters/{node.cluster}")


def no_markup_ran(b: Browser) -> None:
    assert b.driver.execute_script("return document.querySelectorAll('img').length;") == 0, \
        "markup from an API string became an element"
    assert b.driver.execute_script("return typeof window.__xss;") == "undefined", "markup from an API string ran"


def sleeper(family: str, **container: Any) -> dict:
    """A bridge-mode EC2 task definition whose one container sleeps and stops in 2 s."""
    return {
        "family": family,
        "requiresCompatibilities": ["EC2"],
        "networkMode": "bridge",
        "containerDefinitions": [{"name": "main", "image": IMAGE, "memory": 64, "essential": True,
                                  "command": ["sleep", "3600"], "stopTimeout": 2, **container}],
    }


# --------------------------------------------------------------------------- tests


def test_the_profiles_key_signs_in_and_the_session_cookie_is_httponly_and_strict(browser: Browser, node: Node) -> None:
    b = browser
    b.driver.get(node.url("/console/login"))
    b.driver.delete_all_cookies()
    b.open(node.url("/"), "sign-in")
    b.at("/console/login")
    assert b.title() == "Sign in", "Berth's address leads to the sign-in page without a session"
    key, secret = node.berth.credentials()
    sign_in(b, node, key=(key, secret))
    assert f"root ({ACCOUNT})" in b.text("header"), b.text("header")
    assert b.css("header button[type=submit]").text == "Sign out"

    cookies = {c["name"]: c for c in b.driver.get_cookies()}
    session = cookies.get("berth_console")
    assert session is not None, f"no session cookie in {list(cookies)}"
    assert session["httpOnly"] is True, session
    assert session.get("sameSite") == "Strict", session
    assert session["path"] == "/console", session
    assert session["secure"] is False, "plain HTTP: not Secure (under --tls it is)"
    assert "berth_console_sign_in" not in cookies, "the sign-in form's nonce is cleared once signed in"
    assert "berth_console=" not in b.driver.execute_script("return document.cookie;"), "scripts cannot read the session"


def test_seed_001_cluster_task_definition_run_watch_running_stop_in_the_browser(browser: Browser, node: Node) -> None:
    b, ecs = browser, node.berth.client()
    sign_in(b, node, key=node.berth.credentials())

    # A cluster from the form.
    assert not b.all(f'a[href="/console/clusters/{node.cluster}"]'), "the cluster is new"
    b.type("input[name=cluster_name]", node.cluster)
    b.submit("form[action='/console/clusters'] button[type=submit]", "cluster-created")
    b.at("/console/clusters")
    assert b.all(f'a[href="/console/clusters/{node.cluster}"]'), "the new cluster is listed"
    assert ecs.describe_clusters(clusters=[node.cluster])["clusters"][0]["status"] == "ACTIVE"
    node.join()
    b.submit(f'a[href="/console/clusters/{node.cluster}"]', "cluster")
    b.at(f"/console/clusters/{node.cluster}")
    assert b.title() == f"Cluster {node.cluster}"
    instances = b.driver.find_elements(By.XPATH, "//h2[.='Container instances']/following-sibling::table[1]/tbody/tr")
    assert len(instances) == 1 and "true" in instances[0].text, "the agent's container instance, connected"

    # A task definition from the form: EC2, bridge, .25 vCPU / 512 MiB, the test image, an
    # environment variable (awslogs left on, as the ECS console has it).
    family = unique("seed")
    b.submit("header a[href='/console/task-definitions']", "task-definitions")
    b.at("/console/task-definitions")
    b.submit("a[href='/console/task-definitions/new']", "new-task-definition")
    b.at("/console/task-definitions/new")
    b.type("#new-task-definition input[name=family]", family)
    b.choose("#new-task-definition select[name=compatibility]", "EC2")
    b.choose("#new-task-definition select[name=network_mode]", "bridge")
    b.choose("#new-task-definition select[name=cpu]", "256")
    b.type("#new-task-definition input[name=memory]", "512")
    b.type("#new-task-definition input[name=container_name]", "web")
    b.type("#new-task-definition input[name=image]", IMAGE)
    b.type("#new-task-definition textarea[name=environment]", "GREETING=hello from the console")
    assert b.css("#new-task-definition input[name=awslogs]").is_selected(), "awslogs is on by default"
    b.shot("task-definition-form")
    b.submit("#new-task-definition button[type=submit]", "task-definition-revision-1")
    b.at(f"/console/task-definitions/{family}/1")
    assert b.title() == f"Task definition {family}:1", b.text("main")
    assert "GREETING" in b.text("#definition-json")

    # The form has no command: a new revision from the JSON editor adds it (and stopTimeout).
    b.submit(f"a[href='/console/task-definitions/new?from={family}:1']", "new-revision")
    b.at("/console/task-definitions/new")
    start = json.loads(b.css("textarea[name=definition]").get_property("value"))
    assert start["family"] == family and "revision" not in start, start
    assert start["containerDefinitions"][0]["environment"] == [{"name": "GREETING", "value": "hello from the console"}]
    start["containerDefinitions"][0].update(command=["sleep", "3600"], stopTimeout=2)
    json_editor(b, start)
    b.shot("new-revision-json")
    b.submit("form[action='/console/task-definitions/json'] button[type=submit]", "task-definition-revision-2")
    b.at(f"/console/task-definitions/{family}/2")
    registered = ecs.describe_task_definition(taskDefinition=f"{family}:2")["taskDefinition"]
    main = registered["containerDefinitions"][0]
    assert (registered["networkMode"], registered["requiresCompatibilities"], registered["cpu"], registered["memory"]) == \
        ("bridge", ["EC2"], "256", "512"), registered
    assert (main["image"], main["command"], main["stopTimeout"]) == (IMAGE, ["sleep", "3600"], 2), main
    assert main["environment"] == [{"name": "GREETING", "value": "hello from the console"}]
    assert main["logConfiguration"]["logDriver"] == "awslogs"

    # Run it; the cluster's page follows the task to RUNNING without reloading. The agent
    # is held (SIGSTOP) until the page is open, so the page surely loads before the task
    # runs and RUNNING can only arrive as a live update.
    with node.agent_held():
        run_from_revision_page(b, node, family, 2)
        b.mark()
        task_id = new_task_id(b, f"{family}:2")
        first_seen = task_row_status(b, task_id)
    assert first_seen in ("PROVISIONING", "PENDING"), first_seen
    b.wait("the task to show RUNNING", lambda d: task_row_status(b, task_id) == "RUNNING")
    assert b.marked(), "the page was reloaded: the status must arrive as a live update"
    b.shot("cluster-running-task")
    assert node.task(task_id)["lastStatus"] == "RUNNING"

    # Its page, and a stop with a reason that arrives live.
    b.submit(f'#tasks a[href$="/tasks/{task_id}"]', "task")
    b.at(f"/console/clusters/{node.cluster}/tasks/{task_id}")
    assert b.text("#task td.status") == "RUNNING"
    assert b.driver.execute_script(
        "return [...document.querySelectorAll('#environment tbody tr')].map(r=>r.textContent.trim());"
    ) == ["webGREETINGhello from the console"]
    b.type("input[name=reason]", "Stopped from the browser test")
    # Held again, so the page surely shows the task still running when it loads.
    with node.agent_held():
        b.submit(f"form[action$='/tasks/{task_id}/stop'] button[type=submit]", "task-stopping")
        b.at(f"/console/clusters/{node.cluster}/tasks/{task_id}")
        b.mark()
        assert b.text("#task td.status") == "RUNNING"
        assert not b.all("input[name=reason]"), "a task being stopped has no Stop form"
    b.wait("the task to show STOPPED", lambda d: b.text("#task td.status") == "STOPPED")
    assert b.marked(), "the page was reloaded: the stop must arrive as a live update"
    assert "Stopped from the browser test" in b.text("#task"), b.text("#task")
    b.shot("task-stopped")
    stopped = node.task(task_id)
    assert (stopped["lastStatus"], stopped["stoppedReason"]) == ("STOPPED", "Stopped from the browser test")

    # Stopped tasks on the cluster's page.
    b.open(node.url(f"/console/clusters/{node.cluster}"), "cluster-after-stop")
    assert task_row_status(b, task_id) is None, "the running list leaves the stopped task out"
    b.submit("a[href$='?tasks=STOPPED']", "stopped-tasks")
    b.at(f"/console/clusters/{node.cluster}")
    assert "tasks=STOPPED" in b.driver.current_url
    assert task_row_status(b, task_id) == "STOPPED"
    row = b.css(f'#tasks a[href$="/tasks/{task_id}"]').find_element(By.XPATH, "ancestor::tr").text
    assert "Stopped from the browser test" in row, row


def test_a_user_denied_stop_task_sees_the_refusal_and_the_task_keeps_running(browser: Browser, node: Node) -> None:
    b, berth = browser, node.berth
    node.join()
    user, password = unique("console-user"), "Console-Pass-1!"
    berth.aws("iam", "create-user", "--user-name", user)
    berth.aws("iam", "create-login-profile", "--user-name", user, "--password", password)
    berth.aws("iam", "put-user-policy", "--user-name", user, "--policy-name", "ecs-but-stop",
              "--policy-document", json.dumps({"Version": "2012-10-17", "Statement": [
                  {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
                  {"Effect": "Deny", "Action": "ecs:StopTask", "Resource": "*"}]}))

    sign_in(b, node, user=(user, password), shot="sign-in-user")
    assert f"arn:aws:iam::{ACCOUNT}:user/{user}" in b.text("header")

    # The user registers a sleeper from the JSON editor and runs it.
    family = unique("denied")
    b.open(node.url("/console/task-definitions/new"), "new-task-definition-user")
    json_editor(b, sleeper(family))
    b.submit("form[action='/console/task-definitions/json'] button[type=submit]", "task-definition-user")
    b.at(f"/console/task-definitions/{family}/1")
    run_from_revision_page(b, node, family, 1)
    task_id = new_task_id(b, f"{family}:1")
    b.wait("the user's task to show RUNNING", lambda d: task_row_status(b, task_id) == "RUNNING")
    b.submit(f'#tasks a[href$="/tasks/{task_id}"]', "task-user")
    b.at(f"/console/clusters/{node.cluster}/tasks/{task_id}")
    assert b.text("#task td.status") == "RUNNING"

    b.submit(f"form[action$='/tasks/{task_id}/stop'] button[type=submit]", "stop-access-denied")
    refusal = b.text("div.error[role=alert]")
    assert refusal.startswith(
        f"AccessDeniedException: User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: ecs:StopTask"), refusal
    assert b.text("#task td.status") == "RUNNING"
    task = node.task(task_id)
    assert (task["desiredStatus"], task["lastStatus"]) == ("RUNNING", "RUNNING"), task
    assert "stoppedReason" not in task, task


def test_markup_in_an_environment_value_shows_as_text_in_the_browser(browser: Browser, node: Node) -> None:
    b = browser
    node.join()
    sign_in(b, node, key=node.berth.credentials())
    family = unique("markup")

    # The form keeps what was typed after an error, markup included, as text.
    b.open(node.url("/console/task-definitions/new"), "new-task-definition-markup")
    b.type("#new-task-definition input[name=family]", family)
    b.choose("#new-task-definition select[name=compatibility]", "EC2")
    b.choose("#new-task-definition select[name=network_mode]", "bridge")
    b.type("#new-task-definition input[name=container_name]", "main")
    b.type("#new-task-definition input[name=image]", IMAGE)
    b.type("#new-task-definition input[name=container_port]", "http")
    b.type("#new-task-definition textarea[name=environment]", f"MARKUP={MARKUP}")
    b.submit("#new-task-definition button[type=submit]", "task-definition-form-error")
    assert "container port" in b.text("div.error[role=alert]"), b.text("main")
    assert b.css("#new-task-definition textarea[name=environment]").get_property("value") == f"MARKUP={MARKUP}"
    no_markup_ran(b)

    # From the JSON editor, with a command; its JSON shows the value as written.
    json_editor(b, sleeper(family, environment=[{"name": "MARKUP", "value": MARKUP}]))
    b.submit("form[action='/console/task-definitions/json'] button[type=submit]", "task-definition-markup")
    b.at(f"/console/task-definitions/{family}/1")
    assert MARKUP in b.text("#definition-json")
    no_markup_ran(b)

    # The task's page (rendered, then replaced by the live update) shows it as text.
    run_from_revision_page(b, node, family, 1)
    task_id = new_task_id(b, f"{family}:1")
    b.submit(f'#tasks a[href$="/tasks/{task_id}"]', "task-markup")
    b.at(f"/console/clusters/{node.cluster}/tasks/{task_id}")
    b.wait("the task to show RUNNING", lambda d: b.text("#task td.status") == "RUNNING")
    cells = b.driver.execute_script(
        "return [...document.querySelectorAll('#environment tbody td')].map(c=>c.textContent);")
    assert cells == ["main", "MARKUP", MARKUP], cells
    no_markup_ran(b)
    b.shot("task-markup-running")


# --------------------------------------------------------------------------- seed 001's service, logs, seed 002


def awslogs(family: str) -> dict:
    """awslogs as the console's form writes it."""
    return {"logDriver": "awslogs", "options": {
        "awslogs-group": f"/ecs/{family}", "awslogs-region": REGION,
        "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true"}}


def iris(family: str, answer: str) -> dict:
    """Seed 001's inference container: busybox httpd on container port 8080 (a dynamic
    host port, bridge), answering `answer` at `/`, after a greeting on its output."""
    return {
        "family": family,
        "requiresCompatibilities": ["EC2"],
        "networkMode": "bridge",
        "containerDefinitions": [{
            "name": "web", "image": IMAGE, "memory": 64, "essential": True, "stopTimeout": 2,
            "command": ["sh", "-c", f"echo hello from iris; mkdir -p /www; echo {answer} > /www/index.html; "
                                    "exec httpd -f -p 8080 -h /www"],
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
            "logConfiguration": awslogs(family),
        }],
    }


def register_from_json(b: Browser, node: Node, definition: dict, shot: str, start: str | None = None) -> int:
    """Registers `definition` from the JSON editor (of a new revision of `start` when
    given); the revision's number, its page open."""
    url = "/console/task-definitions/new" + (f"?from={start}" if start else "")
    b.open(node.url(url), f"new-{shot}")
    assert b.title() == "New task definition"
    json_editor(b, definition)
    b.submit("form[action='/console/task-definitions/json'] button[type=submit]", shot)
    path = b.at(rf"/console/task-definitions/{definition['family']}/\d+")
    return int(path.rsplit("/", 1)[1])


def health_cell(b: Browser, selector: str) -> str:
    return b.text(f"#service-health {selector}")


def deployments(b: Browser) -> list[list[str]]:
    """The service page's deployments table, a list of cells per row."""
    return b.driver.execute_script(
        "return [...document.querySelectorAll('#deployments tbody tr')]"
        ".map(r=>[...r.querySelectorAll('td')].map(c=>c.textContent.trim()));")


def healthy_targets(b: Browser) -> str:
    return b.text("#load-balancers td.healthy")


def fetch(url: str) -> str | None:
    """The body at `url` (no proxy), or None if it does not answer 200 now."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=3) as r:
            return r.read().decode().strip() if r.status == 200 else None
    except OSError:
        return None


def update_service(b: Browser, shot: str, **fields: str) -> None:
    """Submits the service's update form with `fields` typed (force_new_deployment ticked
    when given), back to the service's page, marked."""
    for name, value in fields.items():
        if name == "force_new_deployment":
            box = b.css("#update-service input[name=force_new_deployment]")
            if not box.is_selected():
                box.click()
        else:
            b.type(f"#update-service input[name={name}]", value)
    path = b.path()
    b.submit("#update-service button[type=submit]", shot)
    b.at(re.escape(path))
    assert not b.all("div.error[role=alert]"), b.text("div.error")
    b.mark()


def test_seed_001_service_behind_a_load_balancer_from_the_wizard_deploy_update_scale_delete(
        browser: Browser, node: Node) -> None:
    b, berth = browser, node.berth
    ecs = berth.client()
    node.join()
    sign_in(b, node, key=berth.credentials())
    family, name, listener = unique("iris"), unique("iris"), free_port()
    assert register_from_json(b, node, iris(family, "ok"), "iris-revision-1") == 1

    # The wizard on the revision's page: a listener port, health check path, grace period,
    # the container and its port, one task.
    assert b.css("#create-service input[name=launch_type]").get_attribute("value") == "EC2"
    b.type("#create-service input[name=cluster]", node.cluster)
    b.type("#create-service input[name=service_name]", name)
    b.type("#create-service input[name=desired_count]", "1")
    b.type("#create-service input[name=listener_port]", str(listener))
    b.type("#create-service input[name=health_check_path]", "/")
    b.type("#create-service input[name=container_name]", "web")
    b.type("#create-service input[name=container_port]", "8080")
    b.type("#create-service input[name=grace_period]", "10")
    b.shot("create-service-form")
    # The agent is held until the service's page is open, so its task can only arrive live.
    with node.agent_held():
        b.submit("#create-service button[type=submit]", "service-created")
        service_page = b.at(f"/console/clusters/{node.cluster}/services/{name}")
        assert b.title() == f"Service {name}", b.text("main")
        b.mark()
        assert health_cell(b, "td.running") == "0"
        service = ecs.describe_services(cluster=node.cluster, services=[name])["services"][0]
        assert service["healthCheckGracePeriodSeconds"] == 10, service
        (lb,) = service["loadBalancers"]
        assert (lb["containerName"], lb["containerPort"]) == ("web", 8080), lb
        elbv2 = berth.client("elbv2")
        (tg,) = elbv2.describe_target_groups(TargetGroupArns=[lb["targetGroupArn"]])["TargetGroups"]
        assert (tg["HealthCheckPath"], tg["TargetType"], tg["Port"]) == ("/", "instance", 8080), tg
        # Setup, not the wizard's business: checks every 5 s (ELB's default takes 2.5
        # minutes to call a target healthy) and a 2 s deregistration delay.
        berth.aws("elbv2", "modify-target-group", "--target-group-arn", tg["TargetGroupArn"], *FAST_CHECKS)
        berth.aws("elbv2", "modify-target-group-attributes", "--target-group-arn", tg["TargetGroupArn"],
                  "--attributes", "Key=deregistration_delay.timeout_seconds,Value=2")
    assert lb["targetGroupArn"] in b.text("#load-balancers")
    b.wait("Running 1", lambda d: health_cell(b, "td.running") == "1")
    b.wait("one healthy target of one", lambda d: healthy_targets(b) == "1 of 1")
    assert b.marked(), "the page was reloaded: the service's progress must arrive live"
    b.wait("the rollout to complete", lambda d: deployments(b)[0][7].startswith("COMPLETED"))
    assert b.marked(), "the page was reloaded: the service's progress must arrive live"
    b.shot("service-running")
    (first,) = deployments(b)
    assert first[2] == f"{family}:1", first

    # Its task (bridge): the host port ECS picked, and no address of its own.
    (row,) = b.driver.execute_script(
        "return [...document.querySelectorAll('#service-view #tasks tbody tr')]"
        ".map(r=>[...r.querySelectorAll('td')].map(c=>c.textContent.trim()));")
    task = node.task(row[0])
    (binding,) = task["containers"][0]["networkBindings"]
    assert (row[2], row[6]) == ("RUNNING", f"{binding['hostPort']}->8080"), row
    assert row[5] == "" and not task.get("attachments") and not task["containers"][0].get("networkInterfaces"), \
        (row, task)

    # The load balancers page shows the listener's URL; it answers with the task's httpd.
    b.submit("header a[href='/console/load-balancers']", "load-balancers")
    b.at("/console/load-balancers")
    urls = [a.get_attribute("href") for a in b.all("table.listeners a") if a.get_attribute("href").endswith(f":{listener}/")]
    assert len(urls) == 1, b.text("main")
    url = urls[0]
    assert fetch(url) == "ok"
    assert name in b.text("main") and f"{name}-tg" in b.text("main")

    # The service's own page: the same listener URL, its one target healthy, and its
    # task's output among the service's log lines (marked with the task).
    b.open(node.url(service_page), "service")
    assert [a.get_attribute("href") for a in b.all("#load-balancers td.urls a")] == [url], b.text("#load-balancers")
    assert [c.text for c in b.all("table.targets td.state")] == ["healthy"], b.text("main")

    def logged(_: Any) -> bool:
        if f"{row[0]}/web hello from iris" in b.text("#service-log-lines"):
            return True
        time.sleep(1)  # the agent ships lines every second or so
        b.driver.get(node.url(service_page))
        return False
    b.wait("the task's greeting in the service's logs", logged, timeout=30)
    b.shot("service-networking-and-logs")

    # Force a new deployment: a second deployment, then one again (a new one), live.
    b.open(node.url(service_page), "service")
    update_service(b, "service-force-new-deployment", force_new_deployment="on")
    b.wait("a second deployment", lambda d: len(deployments(b)) == 2)
    b.shot("service-two-deployments")
    b.wait("the deployments to settle to one", lambda d: len(deployments(b)) == 1 and deployments(b)[0][0] != first[0])
    assert b.marked(), "the page was reloaded: the rollout must arrive live"
    b.wait("one healthy target of one after the deployment", lambda d: healthy_targets(b) == "1 of 1")
    b.shot("service-redeployed")
    assert fetch(url) == "ok"

    # Another revision (from "create new revision"), and the service moved to it.
    assert register_from_json(b, node, iris(family, "ok 2"), "iris-revision-2", start=f"{family}:1") == 2
    b.open(node.url(service_page), "service-before-revision")
    update_service(b, "service-new-revision", task_definition=f"{family}:2")
    b.wait("one deployment of revision 2, running",
           lambda d: [r[2] for r in deployments(b)] == [f"{family}:2"] and health_cell(b, "td.running") == "1")
    assert b.marked(), "the page was reloaded: the rollout must arrive live"
    b.wait("the listener to answer from revision 2", lambda d: fetch(url) == "ok 2")
    b.wait("the rollout to revision 2 to complete", lambda d: deployments(b)[0][7].startswith("COMPLETED"))
    assert b.marked(), "the page was reloaded: the rollout must arrive live"
    b.shot("service-revision-2")
    assert ecs.describe_services(cluster=node.cluster, services=[name])["services"][0]["taskDefinition"].endswith(f"{family}:2")

    # Scale to 0.
    update_service(b, "service-scaled-to-0", desired_count="0")
    b.wait("Running 0", lambda d: health_cell(b, "td.running") == "0")
    assert b.marked(), "the page was reloaded: scaling must arrive live"
    b.shot("service-at-0")
    service = ecs.describe_services(cluster=node.cluster, services=[name])["services"][0]
    assert (service["desiredCount"], service["runningCount"]) == (0, 0), service

    # Delete.
    b.submit("form[action$='/delete'] button[type=submit]", "service-deleted")
    b.at(f"/console/clusters/{node.cluster}")
    assert not b.all("div.error[role=alert]"), b.text("div.error")
    status = ecs.describe_services(cluster=node.cluster, services=[name])["services"][0]["status"]
    assert status in ("DRAINING", "INACTIVE"), status


def test_a_tasks_logs_show_its_output_and_tail_new_lines_live(browser: Browser, node: Node) -> None:
    b, berth = browser, node.berth
    node.join()
    sign_in(b, node, key=berth.credentials())
    family = unique("ticker")
    ticker = sleeper(family, name="main", command=[
        "sh", "-c", "echo hello from iris; i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done"],
        logConfiguration=awslogs(family))
    assert register_from_json(b, node, ticker, "ticker-revision") == 1
    run_from_revision_page(b, node, family, 1)
    task_id = new_task_id(b, f"{family}:1")
    b.wait("the ticker to show RUNNING", lambda d: task_row_status(b, task_id) == "RUNNING")

    # Verified with the Logs API first: the stream has the greeting and a tick.
    logs = berth.client("logs")

    def shipped(_: Any) -> bool:
        try:
            events = logs.get_log_events(logGroupName=f"/ecs/{family}", logStreamName=f"ecs/main/{task_id}",
                                         startFromHead=True)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return False
        messages = [e["message"] for e in events]
        return "hello from iris" in messages and "tick 1" in messages
    b.wait("the ticker's lines in CloudWatch Logs", shipped)

    b.submit(f'#tasks a[href$="/tasks/{task_id}"]', "task-logs")
    b.at(f"/console/clusters/{node.cluster}/tasks/{task_id}")
    b.mark()
    shown = b.text("#logs-main").splitlines()
    assert shown[0] == "hello from iris", shown
    ticks = [int(line.split()[1]) for line in shown if line.startswith("tick ")]
    assert ticks and ticks == list(range(1, len(ticks) + 1)), shown
    b.wait("a later tick to arrive through the live tail",
           lambda d: f"tick {ticks[-1] + 2}" in b.text("#logs-main").splitlines())
    assert b.marked(), "the page was reloaded: new lines must arrive through the tail"
    tailed = b.text("#logs-main").splitlines()
    assert tailed[:len(shown)] == shown and tailed.count(f"tick {ticks[-1] + 1}") == 1, tailed
    b.shot("task-logs-tailed")
    node.berth.client().stop_task(cluster=node.cluster, task=task_id, reason="test done")


def test_a_busy_tasks_page_charts_its_real_cpu_and_memory(browser: Browser, node: Node) -> None:
    """A container spinning on one core: the agent samples it from the real Docker engine,
    and its page charts the CPU it burns against the 256 units it reserved."""
    b, berth = browser, node.berth
    node.join()
    sign_in(b, node, key=berth.credentials())
    family = unique("spinner")
    spinner = sleeper(family, cpu=256, command=["sh", "-c", "while :; do :; done"])
    assert register_from_json(b, node, spinner, "spinner-revision") == 1
    run_from_revision_page(b, node, family, 1)
    task_id = new_task_id(b, f"{family}:1")
    b.wait("the spinner to show RUNNING", lambda d: task_row_status(b, task_id) == "RUNNING")
    page = node.url(f"/console/clusters/{node.cluster}/tasks/{task_id}")

    def charted(_: Any) -> float | None:
        b.driver.get(page)
        shown = b.driver.find_elements(By.CSS_SELECTOR, "#metrics .cpu-used")
        points = b.driver.find_elements(By.CSS_SELECTOR, '#metrics polyline[data-series="CPU used"]')
        if not shown or not points or int(points[0].get_attribute("data-points")) < 2:
            time.sleep(1)  # between reloads: samples come every 2 s
            return None
        return float(shown[0].text)
    cpu = b.wait("two CPU samples on the task's chart", charted, timeout=60)
    # A busy loop uses most of a core (1024 units); Docker's CPU shares only weigh
    # contention, so it is well above its 256 reserved on an idle-enough machine.
    assert cpu > 300, f"a spinning container used {cpu} CPU units"
    memory = float(b.text("#metrics .memory-used"))
    assert 0 < memory < 64, f"memory {memory} MiB"
    assert "of 256 units" in b.text("#metrics p.latest"), b.text("#metrics p.latest")
    b.shot("task-metrics")
    # The same samples through the Logs API, as Container Insights performance events.
    events = berth.client("logs").get_log_events(
        logGroupName=f"/aws/ecs/containerinsights/{node.cluster}/performance",
        logStreamName=f"TaskTelemetry-{task_id}", startFromHead=True)["events"]
    sample = json.loads(events[-1]["message"])
    assert sample["Type"] == "Task" and sample["TaskId"] == task_id and sample["CpuReserved"] == 256, sample
    node.berth.client().stop_task(cluster=node.cluster, task=task_id, reason="test done")


def test_seed_002_the_cluster_page_lists_running_tasks_with_their_private_ips(browser: Browser, node: Node) -> None:
    b, berth = browser, node.berth
    ecs = berth.client()
    node.join()
    sign_in(b, node, key=berth.credentials())
    # The fixture's agent offers no Fargate capacity: the seed's awsvpc workers run on its
    # container instance (EC2 launch type, awsvpc), two from the run form.
    family = unique("fossa")
    worker = dict(sleeper(family), networkMode="awsvpc")
    assert register_from_json(b, node, worker, "fossa-revision") == 1
    b.type("#run-task input[name=cluster]", node.cluster)
    b.choose("#run-task select[name=launch_type]", "EC2")
    b.type("#run-task input[name=count]", "2")
    b.type("#run-task input[name=subnets]", SUBNETS[0])
    b.type("#run-task input[name=security_groups]", SECURITY_GROUPS[0])
    b.submit("#run-task button[type=submit]", "cluster-fossa-started")
    b.at(f"/console/clusters/{node.cluster}")
    assert not b.all("div.error[role=alert]"), b.text("div.error")

    def rows(_: Any) -> list[dict] | None:
        found = b.driver.execute_script(
            "return [...document.querySelectorAll('#tasks tbody tr')].filter(r=>"
            "r.querySelectorAll('td')[1].textContent.trim()===arguments[0]).map(r=>({"
            "id:r.querySelector('td a').textContent.trim(),status:r.querySelector('td.status').textContent.trim(),"
            "ip:r.querySelector('td.ip').textContent.trim()}));", f"{family}:1")
        return found if len(found) == 2 and all(r["status"] == "RUNNING" and r["ip"] for r in found) else None
    shown = b.wait("both workers RUNNING with private IPs", rows)
    b.shot("cluster-private-ips")
    described = {t["taskArn"].rsplit("/", 1)[1]: t for t in ecs.describe_tasks(
        cluster=node.cluster, tasks=[r["id"] for r in shown])["tasks"]}
    subnet = os.environ.get("BERTH_TEST_TASK_SUBNET")
    for r in shown:
        details = {d["name"]: d["value"] for a in described[r["id"]]["attachments"] for d in a["details"]}
        assert r["ip"] == details["privateIPv4Address"], (r, details)
        if subnet:
            assert ipaddress.ip_address(r["ip"]) in ipaddress.ip_network(subnet), (r, subnet)
    assert len({r["ip"] for r in shown}) == 2, "each task has its own address"

    # A task's own page shows it too.
    b.submit(f'#tasks a[href$="/tasks/{shown[0]["id"]}"]', "task-private-ip")
    assert b.text("#task td.ip") == shown[0]["ip"]
    for r in shown:
        ecs.stop_task(cluster=node.cluster, task=r["id"], reason="test done")


def test_repositories_and_iam_pages(browser: Browser, node: Node) -> None:
    b, berth = browser, node.berth
    sign_in(b, node, key=berth.credentials())
    repo = unique("iris-inference")
    uri = berth.client("ecr").create_repository(repositoryName=repo)["repository"]["repositoryUri"]
    b.submit("header a[href='/console/repositories']", "repositories")
    b.at("/console/repositories")
    assert uri in b.text("#repositories"), b.text("main")
    b.submit(f"#repositories a[href='/console/repository?name={repo}']", "repository")
    b.at("/console/repository")
    assert b.title() == f"Repository {repo}", b.text("main")
    assert f"docker push {uri}" in b.text("#push-commands"), b.text("#push-commands")

    role = unique("ecs-iris-tasks")
    berth.aws("iam", "create-role", "--role-name", role, "--assume-role-policy-document", json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))
    b.submit("header a[href='/console/iam']", "iam")
    b.at("/console/iam")
    assert f"arn:aws:iam::{ACCOUNT}:role/{role}" in b.text("#roles"), b.text("#roles")
