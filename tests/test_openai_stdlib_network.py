"""What Python's standard library does with proxies, redirects and CA bundles: the facts the
backend's network code is designed on (docs/model-servers.md), pinned as tests so a Python upgrade that
changes one is noticed. Everything runs against the testkit servers on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.helpers.testkit import Behaviour, ForwardingProxy, LocalCA, ScriptedServer, another_loopback_host

KEY = "sk-test-NEVER-LEAVE-HOME-41"
PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
              "ALL_PROXY", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def clean_proxy_env(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def _post(url: str, opener: urllib.request.OpenerDirector, *, unredirected: bool = False):
    req = urllib.request.Request(url, data=json.dumps({"model": "tiny-story", "stream": True}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    if unredirected:
        req.add_unredirected_header("Authorization", f"Bearer {KEY}")
    else:
        req.add_header("Authorization", f"Bearer {KEY}")
    return opener.open(req, timeout=5)


# --- proxies from the environment ----------------------------------------------------------

def test_urllib_sends_http_through_http_proxy_with_the_key_in_view(monkeypatch):
    with ScriptedServer() as s, ForwardingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        opener = urllib.request.build_opener()  # ProxyHandler() reads the environment here
        with _post(s.url + "/chat/completions", opener) as reply:
            assert b'"finish_reason": "stop"' in reply.read()
        assert proxy.targets() == [s.url + "/chat/completions"]
        assert proxy.seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_loopback_is_proxied_unless_no_proxy_says_otherwise(monkeypatch):
    """urllib (like curl and requests) has no built-in exception for localhost / 127.0.0.1."""
    with ScriptedServer() as s, ForwardingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost")  # does NOT cover 127.0.0.1
        urllib.request.build_opener().open(s.url + "/models", timeout=5).read()
        assert len(proxy.seen) == 1
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        urllib.request.build_opener().open(s.url + "/models", timeout=5).read()
        assert len(proxy.seen) == 1 and len(s.seen) == 2


def test_https_goes_through_connect_and_the_proxy_never_sees_the_key(monkeypatch, tmp_path):
    ca = LocalCA()
    with ScriptedServer(tls=ca.server_context()) as s, ForwardingProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        import ssl
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(
            context=ssl.create_default_context(cadata=ca.pem.decode())))
        with _post(s.url + "/chat/completions", opener) as reply:
            assert b'"finish_reason": "stop"' in reply.read()
        assert [(x.method, x.target) for x in proxy.seen] == [("CONNECT", f"127.0.0.1:{s.port}")]
        assert "authorization" not in proxy.seen[0].headers
        assert s.chats()[0].authorization == f"Bearer {KEY}"


def test_no_proxy_matching_rules():
    from urllib.request import proxy_bypass_environment as bypass

    env = {"http": "http://proxy:3128"}
    assert bypass("127.0.0.1", {**env, "no": "127.0.0.1"})
    assert bypass("127.0.0.1:8080", {**env, "no": "127.0.0.1"})  # the port is ignored…
    assert bypass("127.0.0.1:8080", {**env, "no": "127.0.0.1:8080"})  # …or matched whole
    assert bypass("api.home.lan", {**env, "no": ".home.lan"}) and bypass("api.home.lan", {**env, "no": "home.lan"})
    assert bypass("anything", {**env, "no": "*"})
    assert not bypass("127.0.0.1", {**env, "no": "127.0.0.0/8"})  # no CIDR ranges
    assert not bypass("127.0.0.1", {**env, "no": "localhost"})  # names are not resolved
    assert bypass("10.0.0.1", {**env, "no": "0.0.1"})  # plain suffix match, even on IPs (a quirk)
    assert not bypass("127.0.0.1", env)  # no no_proxy: nothing bypassed


def test_lower_case_variables_win_and_an_empty_one_unsets(monkeypatch):
    from urllib.request import getproxies_environment

    monkeypatch.setenv("HTTP_PROXY", "http://upper:1")
    monkeypatch.setenv("http_proxy", "http://lower:2")
    assert getproxies_environment()["http"] == "http://lower:2"
    monkeypatch.setenv("http_proxy", "")
    assert "http" not in getproxies_environment()
    monkeypatch.delenv("http_proxy")
    monkeypatch.setenv("REQUEST_METHOD", "GET")  # running as CGI: HTTP_PROXY is ignored (httpoxy)
    assert "http" not in getproxies_environment()


# --- redirects --------------------------------------------------------------------------------

@pytest.fixture
def other_host():
    host = another_loopback_host()
    if host is None:
        pytest.skip("no second loopback address here")
    with ScriptedServer(host=host) as other:
        yield other


@pytest.mark.parametrize("status", [301, 302, 303])
def test_urllib_turns_a_redirected_post_into_a_get_and_carries_the_key_to_another_host(other_host, status):
    behaviour = Behaviour(reply="redirect", redirect_to=other_host.origin, redirect_status=status)
    with ScriptedServer(behaviour) as s:
        with pytest.raises(urllib.error.HTTPError) as info:
            _post(s.url + "/chat/completions", urllib.request.build_opener())
        assert info.value.code == 404  # the scripted server has no GET /chat/completions…
        leaked = other_host.seen[0]
        assert leaked.method == "GET" and leaked.body is None  # …the body was dropped…
        assert leaked.authorization == f"Bearer {KEY}"  # …and the key went to the other host


@pytest.mark.parametrize("status", [307, 308])
def test_urllib_refuses_to_redirect_a_post_with_307_or_308(other_host, status):
    behaviour = Behaviour(reply="redirect", redirect_to=other_host.origin, redirect_status=status)
    with ScriptedServer(behaviour) as s:
        with pytest.raises(urllib.error.HTTPError) as info:
            _post(s.url + "/chat/completions", urllib.request.build_opener())
        assert info.value.code == status and other_host.seen == []


def test_urllib_follows_a_get_redirect_with_the_key_unless_unredirected(other_host):
    with ScriptedServer(Behaviour(models_reply="redirect", redirect_to=other_host.origin)) as s:
        req = urllib.request.Request(s.url + "/models", headers={"Authorization": f"Bearer {KEY}"})
        with urllib.request.urlopen(req, timeout=5) as reply:
            assert reply.status == 200 and reply.url.startswith(other_host.origin)
        assert other_host.seen[0].authorization == f"Bearer {KEY}"
        req = urllib.request.Request(s.url + "/models")
        req.add_unredirected_header("Authorization", f"Bearer {KEY}")
        urllib.request.urlopen(req, timeout=5).read()
        assert other_host.seen[1].authorization is None  # add_unredirected_header: first hop only


def test_http_client_never_follows(other_host):
    import http.client

    with ScriptedServer(Behaviour(models_reply="redirect", redirect_to=other_host.origin)) as s:
        conn = http.client.HTTPConnection(s.host, s.port, timeout=5)
        conn.request("GET", "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
        resp = conn.getresponse()
        assert resp.status == 307 and other_host.seen == []


# --- CA bundles ---------------------------------------------------------------------------------

def test_cafile_replaces_the_system_store(tmp_path):
    import ssl

    ca = LocalCA()
    ctx = ssl.create_default_context(cafile=str(ca.write_bundle(tmp_path / "ca.pem")))
    assert len(ctx.get_ca_certs()) == 1  # only ours: like curl --cacert, unlike "add to the system's"
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_ssl_cert_file_is_honoured_by_the_default_context(tmp_path):
    """OpenSSL reads SSL_CERT_FILE when the default context loads its default paths, so a plain
    ``ssl.create_default_context()`` trusts a home CA named there (a child process, so the
    variable is in place before anything loads the defaults)."""
    ca = LocalCA()
    bundle = ca.write_bundle(tmp_path / "ca.pem")
    with ScriptedServer(tls=ca.server_context()) as s:
        code = ("import ssl, urllib.request, sys\n"
                f"r = urllib.request.urlopen('{s.url}/models', timeout=5, context=ssl.create_default_context())\n"
                "sys.stdout.write(str(r.status))\n")
        env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
        ok = subprocess.run([sys.executable, "-c", code], env={**env, "SSL_CERT_FILE": str(bundle)},
                            capture_output=True, text=True, timeout=30)
        assert ok.stdout == "200", ok.stderr
        refused = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
        assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr
