"""The network users have, end to end through `generate --backend openai`: a proxy from the
environment (plain HTTP forwarded, HTTPS tunnelled), a home server with its own certificate
(--ca-bundle, DREAMFLOW_CA_BUNDLE, SSL_CERT_FILE), and redirects, which never take the key to
another host. Everything listens on loopback; a proxied server is named by a made-up host only
the test proxy resolves, since dreamflow reaches loopback servers directly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dreamflow_cli.server import backend as server_backend
from tests.helpers.cli import invoke
from tests.helpers.testkit import PROXIED_HOST, Behaviour, ForwardingProxy, LocalCA, ScriptedServer
from tests.helpers.testkit import another_loopback_host
from tests.helpers.testkit.tls import self_signed_pair, server_context_from_pair

KEY = "sk-network-STAYS-HOME-5e2"
# No pictures and no book: what these tests check is the talk with the server (the book is
# tested in test_book.py; test_openai_cli.py keeps it, to check the key never reaches it).
FAST = ["--no-images", "--no-book", "--scenes", "1", "--seed", "4", "--candidates", "1"]
PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
              "ALL_PROXY", "REQUEST_METHOD", "SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def no_network_settings(monkeypatch):
    """The developer's proxy or certificate variables must not reach these tests."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def _generate(runner, url: str, *args: str, env: dict[str, str] | None = None):
    return invoke(runner, "generate", "a sleepy dragon", "--backend", "openai", "--base-url", url, *FAST, "--json",
                  "--out", "out", *args, env={"DREAMFLOW_API_KEY": KEY, "DREAMFLOW_SERVER_RETRIES": "0", **(env or {})})


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error: ")]


# --- proxies ----------------------------------------------------------------------------------

def test_http_proxy_from_the_environment_carries_every_request(runner):
    with ScriptedServer() as server, ForwardingProxy(hosts={PROXIED_HOST: server.host}) as proxy:
        url = f"http://{PROXIED_HOST}:{server.port}/v1"
        result = _generate(runner, url, env={"HTTP_PROXY": proxy.url})
    assert result.exit_code == 0, result.stderr
    assert [(s.method, s.target) for s in proxy.seen] == [("GET", url + "/models"), ("POST", url + "/chat/completions")]
    assert json.loads(result.stdout)["title"]


def test_https_goes_through_a_connect_tunnel_and_the_proxy_never_sees_the_key(runner, tmp_path):
    ca = LocalCA()
    bundle = ca.write_bundle(tmp_path / "home-ca.pem")
    with ScriptedServer(tls=ca.server_context()) as server, \
            ForwardingProxy(credentials="kid:bed time", hosts={PROXIED_HOST: server.host}) as proxy:
        url = f"https://{PROXIED_HOST}:{server.port}/v1"
        result = _generate(runner, url, "--ca-bundle", str(bundle),
                           env={"https_proxy": f"http://kid:bed%20time@127.0.0.1:{proxy.port}"})
        auth = {s.authorization for s in server.seen}
    assert result.exit_code == 0, result.stderr
    assert {(s.method, s.target, s.status) for s in proxy.seen} == {("CONNECT", f"{PROXIED_HOST}:{server.port}", 200)}
    assert all("authorization" not in s.headers for s in proxy.seen) and auth == {f"Bearer {KEY}"}
    assert "bed time" not in result.stdout + result.stderr


def test_no_proxy_and_loopback_go_direct(runner):
    with ScriptedServer() as server, ForwardingProxy(hosts={PROXIED_HOST: server.host}) as proxy:
        direct = _generate(runner, server.url, env={"HTTP_PROXY": proxy.url})  # 127.0.0.1: never proxied
        assert direct.exit_code == 0, direct.stderr
        assert proxy.seen == [] and len(server.seen) == 2


def test_a_proxy_that_refuses_is_one_line_naming_it_with_a_hint(runner):
    with ScriptedServer() as server, ForwardingProxy(credentials="kid:pw", hosts={PROXIED_HOST: server.host}) as proxy:
        result = _generate(runner, f"http://{PROXIED_HOST}:{server.port}/v1", env={"HTTP_PROXY": proxy.url})
        server_seen = list(server.seen)
    assert result.exit_code == 2 and result.stdout == "" and server_seen == []
    errors = _error_lines(result.stderr)
    assert len(errors) == 1 and f"the proxy {proxy.url} wants credentials (HTTP 407)" in errors[0]
    assert "http://user:password@host:port" in errors[0] and "NO_PROXY" in errors[0]


def test_a_tunnel_refused_names_the_proxy_and_says_what_to_check(runner, tmp_path):
    ca = LocalCA()
    bundle = str(ca.write_bundle(tmp_path / "ca.pem"))
    with ScriptedServer(tls=ca.server_context()) as server, \
            ForwardingProxy(credentials="kid:pw", hosts={PROXIED_HOST: server.host}) as proxy, \
            ForwardingProxy(refuse_connect=True) as broken:
        url = f"https://{PROXIED_HOST}:{server.port}/v1"
        no_credentials = _generate(runner, url, "--ca-bundle", bundle, env={"HTTPS_PROXY": proxy.url})
        refused = _generate(runner, url, "--ca-bundle", bundle, env={"HTTPS_PROXY": broken.url})
        server_seen = list(server.seen)
    assert server_seen == []
    assert no_credentials.exit_code == 2
    errors = _error_lines(no_credentials.stderr)
    assert len(errors) == 1 and f"the proxy {proxy.url} wants credentials (HTTP 407)" in errors[0]
    assert refused.exit_code == 3  # the proxy could not reach it: maybe later, maybe another server
    errors = _error_lines(refused.stderr)
    assert len(errors) == 1 and f"through the proxy {broken.url} failed" in errors[0] and "502" in errors[0]
    assert "NO_PROXY" in errors[0]


def test_an_unsupported_proxy_is_a_config_error(runner):
    with ScriptedServer() as server:
        result = _generate(runner, f"http://{PROXIED_HOST}:{server.port}/v1",
                           env={"HTTP_PROXY": "socks5://127.0.0.1:1080"})
    assert result.exit_code == 2
    assert "plain http://" in result.stderr and "NO_PROXY" in result.stderr


# --- TLS with a home-made certificate ------------------------------------------------------------

def test_a_self_signed_server_needs_its_certificate(runner, tmp_path, monkeypatch):
    cert, key = self_signed_pair("127.0.0.1")
    pem = tmp_path / "home.pem"
    pem.write_bytes(cert)
    with ScriptedServer(tls=server_context_from_pair(cert, key, tmp_path)) as server:
        refused = _generate(runner, server.url)
        with_flag = _generate(runner, server.url, "--ca-bundle", str(pem))
        with_env = _generate(runner, server.url, env={"DREAMFLOW_CA_BUNDLE": str(pem)})
        monkeypatch.setenv("SSL_CERT_FILE", str(pem))  # OpenSSL's own variable: honoured as it is
        with_openssl_var = _generate(runner, server.url)
    assert refused.exit_code == 3 and refused.stdout == ""
    errors = _error_lines(refused.stderr)
    assert len(errors) == 1 and "certificate check failed (self-signed certificate)" in errors[0] and "--ca-bundle" in errors[0]
    for result in (with_flag, with_env, with_openssl_var):
        assert result.exit_code == 0, result.stderr


def test_a_ca_bundle_that_cannot_be_read_is_exit_2(runner, tmp_path):
    with ScriptedServer() as server:
        missing = _generate(runner, server.url, "--ca-bundle", str(tmp_path / "nope.pem"))
        (tmp_path / "junk.pem").write_text("not a certificate", encoding="utf-8")
        junk = _generate(runner, server.url, "--ca-bundle", str(tmp_path / "junk.pem"))
    for result in (missing, junk):
        assert result.exit_code == 2 and result.stdout == ""
        errors = _error_lines(result.stderr)
        assert len(errors) == 1 and "cannot use the CA bundle" in errors[0] and "--ca-bundle" in result.stderr


# --- redirects ----------------------------------------------------------------------------------

@pytest.fixture
def other_host():
    host = another_loopback_host()
    if host is None:
        pytest.skip("no second loopback address here (macOS: ifconfig lo0 alias 127.0.0.2)")
    with ScriptedServer(host=host) as other:
        yield other


@pytest.mark.parametrize("where", ["models", "chat"])
def test_a_redirect_to_another_host_is_refused_and_the_key_stays_home(runner, other_host, where):
    if where == "models":
        behaviour = Behaviour(models_reply="redirect", redirect_to=other_host.origin, redirect_status=302)
    else:
        behaviour = Behaviour(reply="redirect", redirect_to=other_host.origin, redirect_status=307)
    with ScriptedServer(behaviour) as server:
        result = _generate(runner, server.url)
    assert result.exit_code == 2 and result.stdout == ""
    errors = _error_lines(result.stderr)
    assert len(errors) == 1 and f"another server (http://{other_host.host}:{other_host.port})" in errors[0]
    assert "--base-url" in errors[0]
    assert other_host.seen == []  # not one request, so never the key


def test_a_redirect_on_the_same_server_is_followed_with_the_key(runner):
    with ScriptedServer() as server:
        server.behaviour.reply, server.behaviour.fail_times = "redirect", 1
        server.behaviour.redirect_to, server.behaviour.redirect_status = server.origin + "/moved", 308
        result = _generate(runner, server.url)
        posts = server.chats()
    assert result.exit_code == 0, result.stderr
    assert [p.path for p in posts] == ["/v1/chat/completions", "/moved/v1/chat/completions"]
    assert {p.authorization for p in posts} == {f"Bearer {KEY}"} and posts[1].body == posts[0].body


def test_a_redirect_loop_ends_after_three_hops(runner):
    with ScriptedServer() as server:
        server.behaviour.models_reply, server.behaviour.redirect_to = "redirect", server.origin
        result = _generate(runner, server.url)
        hops = len(server.seen)
    assert result.exit_code == 2 and "redirected more than 3 times" in result.stderr and hops == 4


def test_a_post_redirected_with_302_is_not_turned_into_a_get(runner):
    with ScriptedServer() as server:
        server.behaviour.reply, server.behaviour.redirect_to = "redirect", server.origin + "/v2"
        server.behaviour.redirect_status = 302
        result = _generate(runner, server.url)
        posts = server.chats()
    assert result.exit_code == 2 and len(posts) == 1
    assert "HTTP 302 to a POST" in result.stderr and f"{server.origin}/v2/v1" in result.stderr


# --- the model list honours Retry-After ---------------------------------------------------------

@pytest.fixture
def probe_waits(monkeypatch) -> list[float]:
    """The waits the model list asks for (its Retry-After), recorded; each is then slept for
    20 ms only, so the asking again still comes after a real pause."""
    waits: list[float] = []
    real = server_backend.probe

    def wait(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(0.02)

    monkeypatch.setattr(server_backend, "probe", lambda client, endpoints: real(client, endpoints, sleep=wait))
    return waits


def test_the_model_list_waits_out_a_short_retry_after_once(runner, probe_waits):
    with ScriptedServer(Behaviour(models_reply="503", retry_after="1", models_fail_times=1)) as server:
        result = _generate(runner, server.url)
        gets = [s for s in server.seen if s.method == "GET"]
    assert result.exit_code == 0, result.stderr
    assert probe_waits == [1.0]  # the server's Retry-After, waited once
    assert len(gets) == 2 and gets[1].arrived - gets[0].arrived >= 0.015


def test_a_model_list_that_stays_busy_is_said_plainly(runner, probe_waits):
    with ScriptedServer(Behaviour(models_reply="429", retry_after="1")) as server:
        result = _generate(runner, server.url)
        gets = [s for s in server.seen if s.method == "GET"]
    assert result.exit_code == 3 and len(gets) == 2  # waited once, asked once more, no more
    assert probe_waits == [1.0]
    assert "HTTP 429" in result.stderr


def _no_story_written(isolated: Path) -> bool:
    return not list((isolated / "out").glob("*/story.json"))
