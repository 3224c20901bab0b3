"""The network users have: proxies from the environment, a CA bundle for a home server's own
certificate, and redirects that never carry the API key to another host. Pure decisions plus one
connection factory for http.client.

* Proxies: the variables and matching rules of urllib, pip and requests (so dreamflow agrees
  with them on the same machine): ``http_proxy``/``https_proxy``/``no_proxy`` in either case,
  the lower-case one winning, an empty one unsetting, ``HTTP_PROXY`` ignored under CGI
  (``REQUEST_METHOD`` set: "httpoxy"); ``no_proxy`` is a comma list of host suffixes (``*`` =
  all; no CIDR). One rule of our own, as Go's net/http has it: a loopback server
  (``localhost``, 127.0.0.0/8, ``::1``) is always reached directly. A proxy elsewhere cannot
  reach this machine's loopback anyway, and the key for a local server has no business
  travelling to a proxy. Only ``http://`` proxies (what http.client's tunnel speaks).
* HTTPS targets go through ``CONNECT`` (the proxy sees neither the path nor the key); plain-HTTP
  targets are sent to the proxy as absolute URIs, so the proxy can read the key, as it can
  read everything else in plain HTTP.
* CA bundle: ``--ca-bundle PATH`` → ``ssl.create_default_context(cafile=PATH)``, which trusts
  ONLY that file (like ``curl --cacert``). Without it, the default context already honours
  ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` (OpenSSL reads them itself), so they need no code here.
* Redirects: followed only to the same host and port (or plain http upgraded to https on that
  host), for 307/308 (method and body kept) or a GET, at most MAX_REDIRECTS hops. urllib would
  re-send a POST's headers, key included, to any host a 301/302/303 names.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import ssl
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import unquote, urljoin, urlsplit

PROXY_HINT = "check HTTP_PROXY / HTTPS_PROXY, or add the server's host to NO_PROXY"
TLS_HINT = ("for a server with its own certificate, pass --ca-bundle PATH (or set SSL_CERT_FILE) to the "
            "certificate, which must name the host you connect to")
MAX_REDIRECTS = 3


class NetConfigError(ValueError):
    """A setting that cannot work (an unsupported proxy URL, an unreadable CA bundle); the
    message is one line."""


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    url: str  # for messages: no credentials
    authorization: str | None = field(default=None, repr=False)  # Proxy-Authorization value


def proxies_from(env: Mapping[str, str]) -> dict[str, str]:
    """``urllib.request.getproxies_environment`` for a given mapping (tests pass their own)."""
    found: dict[str, str] = {}
    for name, value in env.items():  # any case first…
        low = name.lower()
        if value and low.endswith("_proxy"):
            found[low[:-6]] = value
    if "REQUEST_METHOD" in env:  # running as CGI: HTTP_PROXY may come from a request header
        found.pop("http", None)
    for name, value in env.items():  # …then the lower-case names win (empty: unset)
        if name.endswith("_proxy") and name == name.lower():
            if value:
                found[name[:-6]] = value
            else:
                found.pop(name[:-6], None)
    return found


def parse_proxy(value: str) -> Proxy:
    text = value.strip()
    if "://" not in text:
        text = "http://" + text  # "proxy:3128", as urllib and curl accept it
    try:
        parts = urlsplit(text)
        port = parts.port or 80
    except ValueError:
        raise NetConfigError(f"the proxy setting {_without_credentials(text)!r} is not a valid URL") from None
    if parts.scheme != "http" or not parts.hostname:
        raise NetConfigError(f"proxy {parts.scheme}://{parts.hostname or ''} is not supported: dreamflow talks to "
                             "proxies over plain http:// (e.g. HTTPS_PROXY=http://host:3128)")
    auth = None
    if parts.username is not None:
        creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(creds.encode("utf-8")).decode("ascii")
    return Proxy(parts.hostname, port, f"http://{parts.hostname}:{port}", auth)


def _without_credentials(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.rpartition("@")[2]


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bypassed(host: str, port: int, no_proxy: str | None) -> bool:
    """Whether ``no_proxy`` exempts ``host:port``: urllib's ``proxy_bypass_environment`` rules
    (not in its documented API nor typeshed, so restated here; a test checks they agree):
    ``*`` = all; else comma-separated names, leading dot optional, matching the host or
    ``host:port`` exactly or as a suffix after a dot. No CIDR; names are not resolved."""
    if not no_proxy:
        return False
    if no_proxy.strip() == "*":
        return True
    host = host.lower()
    with_port = f"{host}:{port}"
    for name in no_proxy.split(","):
        name = name.strip().lstrip(".").lower()
        if not name:
            continue
        if name in (host, with_port) or host.endswith("." + name) or with_port.endswith("." + name):
            return True
    return False


def proxy_for(scheme: str, host: str, port: int, env: Mapping[str, str]) -> Proxy | None:
    """The proxy to use for ``scheme://host:port``, or None to connect directly."""
    if is_loopback(host):
        return None
    proxies = proxies_from(env)
    if scheme not in proxies or bypassed(host, port, proxies.get("no")):
        return None
    return parse_proxy(proxies[scheme])


def connection(scheme: str, host: str, port: int, *, proxy: Proxy | None, tls: ssl.SSLContext | None,
               timeout: float) -> tuple[http.client.HTTPConnection, str, dict[str, str]]:
    """(connection, prefix for the request target, extra headers for every request).

    Direct: the target is the path. Through a proxy, HTTPS: a CONNECT tunnel (``set_tunnel``;
    TLS and its hostname check are for the server, not the proxy). Through a proxy, HTTP: the
    absolute URI ``http://host:port/path``, sent to the proxy."""
    if scheme == "https":
        ctx = tls or ssl.create_default_context()
        if proxy is None:
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx), "", {}
        conn = http.client.HTTPSConnection(proxy.host, proxy.port, timeout=timeout, context=ctx)
        conn.set_tunnel(host, port, headers={"Proxy-Authorization": proxy.authorization} if proxy.authorization else None)
        return conn, "", {}
    if proxy is None:
        return http.client.HTTPConnection(host, port, timeout=timeout), "", {}
    shown = f"[{host}]" if ":" in host else host
    extra = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else {}
    return http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout), f"http://{shown}:{port}", extra


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """--ca-bundle: trust that file only; else the system store (+ SSL_CERT_FILE, read by OpenSSL)."""
    try:
        return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        why = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise NetConfigError(f"cannot use the CA bundle {ca_bundle}: {why}") from None


@dataclass(frozen=True)
class RedirectVerdict:
    follow: bool
    target: str  # the absolute URL it points to ("" when it did not say)
    reason: str  # why not (empty when followed): one line
    hint: str = ""


def redirect_verdict(current: str, location: str | None, status: int, method: str) -> RedirectVerdict:
    """Whether to follow a 3xx from ``current`` (an absolute URL) to ``location``. Same host and
    port only, never https→http; a POST only for 307/308 (anything else would drop the body, as
    urllib does, turning the request into a GET)."""
    if not location:
        return RedirectVerdict(False, "", f"answered HTTP {status} without saying where to",
                               "check --base-url")
    target = urljoin(current, location)
    a, b = urlsplit(current), urlsplit(target)
    try:
        port_a = a.port or (443 if a.scheme == "https" else 80)
        port_b = b.port or (443 if b.scheme == "https" else 80)
    except ValueError:
        return RedirectVerdict(False, target, f"answered HTTP {status} with an invalid Location", "check --base-url")
    upgrade = a.scheme == "http" and b.scheme == "https"
    elsewhere = (a.hostname or "").lower() != (b.hostname or "").lower() or (port_a != port_b and not upgrade)
    if b.scheme not in ("http", "https") or elsewhere:
        return RedirectVerdict(False, target, f"redirects to another server ({b.scheme}://{b.hostname}:{port_b}), "
                                              "where dreamflow does not send your key",
                               "use that address as --base-url if you trust it")
    if a.scheme == "https" and b.scheme == "http":
        return RedirectVerdict(False, target, "redirects from https to plain http; dreamflow does not send "
                                              "your key unencrypted", "check --base-url")
    if method != "GET" and status not in (307, 308):
        return RedirectVerdict(False, target, f"answered HTTP {status} to a {method}, which would lose the "
                                              "request's body", f"use {_base_of(target)} as --base-url")
    return RedirectVerdict(True, target, "")


def _base_of(url: str) -> str:
    """The address to suggest for --base-url: the target without its API route."""
    for route in ("/chat/completions", "/models"):
        if url.rstrip("/").endswith(route):
            return url.rstrip("/")[: -len(route)]
    return url
