"""server/netconf.py: proxy choice agrees with urllib (and loopback is always direct); connections through the test proxy reach plain
and TLS servers; redirects never take the key to another host."""

from __future__ import annotations

import json

import pytest

from dreamflow_cli.server.netconf import (
    NetConfigError,
    bypassed,
    connection,
    is_loopback,
    parse_proxy,
    proxies_from,
    proxy_for,
    redirect_verdict,
    tls_context,
)
from tests.helpers.testkit import PROXIED_HOST, Behaviour, ForwardingProxy, LocalCA, ScriptedServer

KEY = "sk-test-NEVER-LEAVE-HOME-41"


@pytest.mark.parametrize("env", [
    {},
    {"HTTP_PROXY": "http://a:1"},
    {"HTTP_PROXY": "http://a:1", "http_proxy": "http://b:2"},
    {"HTTPS_PROXY": "http://a:1", "https_proxy": ""},
    {"http_proxy": "http://a:1", "NO_PROXY": "x", "no_proxy": "y"},
    {"HTTP_PROXY": "http://a:1", "REQUEST_METHOD": "GET"},
    {"Http_Proxy": "http://mixed:3"},
])
def test_proxies_from_matches_urllib(monkeypatch, env):
    import os
    from urllib.request import getproxies_environment

    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert proxies_from(env) == getproxies_environment()


@pytest.mark.parametrize("host, port, no_proxy", [
    ("127.0.0.1", 8080, "127.0.0.1"), ("127.0.0.1", 8080, "127.0.0.1:8080"), ("127.0.0.1", 8080, "127.0.0.1:9"),
    ("api.home.lan", 80, ".home.lan"), ("api.home.lan", 80, "home.lan"), ("home.lan", 80, ".home.lan"),
    ("xhome.lan", 80, "home.lan"), ("10.0.0.1", 1, "0.0.1"), ("127.0.0.1", 1, "127.0.0.0/8"),
    ("127.0.0.1", 1, "localhost"), ("anything", 1, "*"), ("a.b", 1, " , a.b , "), ("A.B", 1, "a.b"),
    ("a.b", 1, ""), ("a.b", 1, None),
])
def test_bypass_agrees_with_urllib(host, port, no_proxy):
    from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

    proxies = {"http": "http://p:1"} if no_proxy is None else {"http": "http://p:1", "no": no_proxy}
    assert bypassed(host, port, no_proxy) == bool(proxy_bypass_environment(f"{host}:{port}", proxies))


def test_proxy_for_honours_no_proxy_with_ports():
    env = {"HTTP_PROXY": "http://kid:p%40ss@proxy.lan:3128", "NO_PROXY": "10.0.0.7:8080,.home.lan"}
    assert proxy_for("http", "10.0.0.7", 8080, env) is None
    assert proxy_for("http", "10.0.0.7", 9090, env) is not None  # the port was part of the entry
    assert proxy_for("http", "gpu.home.lan", 8080, env) is None
    p = proxy_for("http", "203.0.113.5", 8080, env)
    assert p is not None and (p.host, p.port, p.url) == ("proxy.lan", 3128, "http://proxy.lan:3128")
    assert p.authorization == "Basic a2lkOnBAc3M=" and "p@ss" not in repr(p)  # %40 decoded; never shown
    assert proxy_for("https", "203.0.113.5", 443, env) is None  # only HTTP_PROXY set
    assert parse_proxy("proxy:8000").port == 8000


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST.", "::1", "[::1]"])
def test_loopback_is_always_direct(host):
    """Unlike urllib: a proxy cannot reach this machine's loopback, and the key for a local
    server has no business travelling to one (Go's net/http does the same)."""
    env = {"HTTP_PROXY": "http://proxy.lan:3128", "HTTPS_PROXY": "http://proxy.lan:3128"}
    assert is_loopback(host) and proxy_for("http", host, 8080, env) is None
    assert proxy_for("https", host, 8443, env) is None
    assert not is_loopback("127.example") and not is_loopback("10.0.0.1")


@pytest.mark.parametrize("value", ["https://proxy:443", "socks5://proxy:1080"])
def test_unsupported_proxies_are_a_clear_error(value):
    with pytest.raises(NetConfigError, match="plain http://"):
        parse_proxy(value)


def _chat_through(conn, prefix: str, extra: dict[str, str], path: str = "/v1/chat/completions") -> bytes:
    conn.request("POST", prefix + path, json.dumps({"model": "tiny-story", "stream": True}),
                 {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **extra})
    return conn.getresponse().read()


def test_http_target_through_the_proxy_with_credentials():
    with ScriptedServer() as s, ForwardingProxy(credentials="kid:p@ss", hosts={PROXIED_HOST: s.host}) as proxy:
        env = {"HTTP_PROXY": f"http://kid:p%40ss@127.0.0.1:{proxy.port}"}
        p = proxy_for("http", PROXIED_HOST, s.port, env)
        conn, prefix, extra = connection("http", PROXIED_HOST, s.port, proxy=p, tls=None, timeout=5)
        assert b'"finish_reason": "stop"' in _chat_through(conn, prefix, extra)
        assert [(x.method, x.status) for x in proxy.seen] == [("POST", 200)]
        assert "proxy-authorization" not in s.chats()[0].headers


def test_https_target_through_a_connect_tunnel_with_a_home_ca(tmp_path):
    ca = LocalCA()
    bundle = str(ca.write_bundle(tmp_path / "home-ca.pem"))
    with ScriptedServer(tls=ca.server_context()) as s, \
            ForwardingProxy(credentials="kid:pw", hosts={PROXIED_HOST: s.host}) as proxy:
        p = proxy_for("https", PROXIED_HOST, s.port, {"https_proxy": f"http://kid:pw@127.0.0.1:{proxy.port}"})
        conn, prefix, extra = connection("https", PROXIED_HOST, s.port, proxy=p, tls=tls_context(bundle), timeout=5)
        assert b'"finish_reason": "stop"' in _chat_through(conn, prefix, extra)
        assert [(x.method, x.target, x.status) for x in proxy.seen] == [("CONNECT", f"{PROXIED_HOST}:{s.port}", 200)]
        assert "authorization" not in proxy.seen[0].headers and s.chats()[0].authorization == f"Bearer {KEY}"


def test_a_proxy_refusing_the_tunnel_is_an_oserror_naming_the_status():
    ca = LocalCA()
    with ScriptedServer(tls=ca.server_context()) as s, \
            ForwardingProxy(credentials="kid:pw", hosts={PROXIED_HOST: s.host}) as proxy:
        p = proxy_for("https", PROXIED_HOST, s.port, {"https_proxy": f"http://127.0.0.1:{proxy.port}"})  # no creds
        conn, _, _ = connection("https", PROXIED_HOST, s.port, proxy=p, tls=tls_context(None), timeout=5)
        with pytest.raises(OSError, match="407"):
            conn.request("GET", "/v1/models")


def test_a_missing_ca_bundle_is_one_line(tmp_path):
    with pytest.raises(NetConfigError, match="cannot use the CA bundle"):
        tls_context(str(tmp_path / "nope.pem"))


@pytest.mark.parametrize("current, location, status, method, follow", [
    ("http://127.0.0.1:8080/v1/models", "/v1/models/", 301, "GET", True),
    ("http://127.0.0.1:8080/v1/chat/completions", "/v2/chat/completions", 307, "POST", True),
    ("http://127.0.0.1:8080/v1/chat/completions", "/v2/chat/completions", 302, "POST", False),
    ("http://127.0.0.1:8080/v1/models", "https://127.0.0.1:8443/v1/models", 308, "GET", True),  # upgrade
    ("https://127.0.0.1:8443/v1/models", "http://127.0.0.1:8443/v1/models", 308, "GET", False),  # downgrade
    ("http://127.0.0.1:8080/v1/models", "http://127.0.0.2:8080/v1/models", 307, "GET", False),  # other host
    ("http://127.0.0.1:8080/v1/models", "http://127.0.0.1:9090/v1/models", 307, "GET", False),  # other port
    ("http://127.0.0.1:8080/v1/models", "http://localhost:8080/v1/models", 307, "GET", False),  # other name
    ("http://127.0.0.1:8080/v1/models", "ftp://127.0.0.1/x", 301, "GET", False),
    ("http://127.0.0.1:8080/v1/models", None, 302, "GET", False),
])
def test_redirect_rules(current, location, status, method, follow):
    verdict = redirect_verdict(current, location, status, method)
    assert verdict.follow is follow
    assert bool(verdict.reason) is not follow and "\n" not in verdict.reason


def test_redirect_to_another_host_names_it_and_keeps_the_key_home():
    verdict = redirect_verdict("http://127.0.0.1:8080/v1/models", "http://evil.example:80/steal", 302, "GET")
    assert "http://evil.example:80" in verdict.reason and "does not send your key" in verdict.reason


def test_scripted_redirect_is_classified_as_cross_host():
    with ScriptedServer(host="127.0.0.1") as other, \
            ScriptedServer(Behaviour(models_reply="redirect", redirect_to=f"http://127.0.0.2:{other.port}")) as s:
        conn, prefix, extra = connection("http", s.host, s.port, proxy=None, tls=None, timeout=5)
        conn.request("GET", "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
        resp = conn.getresponse()
        verdict = redirect_verdict(s.url + "/models", resp.getheader("Location"), resp.status, "GET")
        assert resp.status == 307 and not verdict.follow and other.seen == []
