"""The web console served by `berth up` itself, over plain HTTP as a browser speaks it
(the in-process tests in crates/berth-console cover its rules in depth): the sign-in
page, signing in with the key pair `berth up` wrote to the `berth` profile, the
clusters page listing a cluster the AWS CLI made, and the session ending at sign-out
(a copy of its cookie included)."""

from __future__ import annotations

import http.client
import re
import urllib.parse

from conftest import Berth, unique


def exchange(berth: Berth, method: str, path: str, cookie: str = "", form: dict[str, str] | None = None) -> tuple[int, dict[str, list[str]], str]:
    """One request without following redirects: status, headers (lists) and body."""
    conn = http.client.HTTPConnection("127.0.0.1", berth.port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    out: dict[str, list[str]] = {}
    for k, v in resp.getheaders():
        out.setdefault(k.lower(), []).append(v)
    text = resp.read().decode()
    conn.close()
    return resp.status, out, text


def cookie_named(headers: dict[str, list[str]], name: str) -> str:
    found = [c for c in headers.get("set-cookie", []) if c.startswith(f"{name}=")]
    assert found, f"no {name} cookie in {headers}"
    return found[0]


def csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, page
    return m.group(1)


def test_berth_up_serves_the_console_and_the_profiles_key_signs_in(berth: Berth) -> None:
    cluster = unique("console")
    berth.aws("ecs", "create-cluster", "--cluster-name", cluster)
    status, headers, _ = exchange(berth, "GET", "/")
    assert (status, headers["location"]) == (303, ["/console"]), "Berth's address leads to the console"
    status, headers, _ = exchange(berth, "GET", "/console/clusters")
    assert (status, headers["location"]) == (303, ["/console/login"]), "nothing without a session"

    status, headers, page = exchange(berth, "GET", "/console/login")
    assert status == 200 and "Sign in" in page
    nonce = cookie_named(headers, "berth_console_sign_in").split(";")[0]
    key, secret = berth.credentials()
    status, headers, _ = exchange(berth, "POST", "/console/login", nonce, {
        "csrf": csrf(page), "method": "key", "access_key_id": key, "secret_access_key": secret})
    assert status == 303 and headers["location"] == ["/console/clusters"]
    session = cookie_named(headers, "berth_console")
    assert "HttpOnly" in session and "SameSite=Strict" in session
    cookie = session.split(";")[0]

    status, _, page = exchange(berth, "GET", "/console/clusters", cookie)
    assert status == 200
    assert f'href="/console/clusters/{cluster}"' in page
    status, _, page = exchange(berth, "GET", f"/console/clusters/{cluster}", cookie)
    assert status == 200 and f"Cluster {cluster}" in page

    status, headers, _ = exchange(berth, "POST", "/console/logout", cookie, {"csrf": csrf(page)})
    assert status == 303
    cleared = cookie_named(headers, "berth_console")
    assert "Max-Age=0" in cleared
    status, headers, _ = exchange(berth, "GET", "/console/clusters", cookie)
    assert (status, headers["location"]) == (303, ["/console/login"]), "the old cookie is signed out"
