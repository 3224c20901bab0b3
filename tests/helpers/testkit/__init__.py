"""Test servers for the openai backend: a scripted OpenAI-compatible server (slots, cuts, 429s,
endless and slow streams, oversized and broken bodies, cross-host redirects), a forwarding /
CONNECT proxy, and TLS with a certificate authority made inside the test.

Everything listens on loopback only (127.0.0.1, or 127.0.0.2 for "another host" — Linux routes
all of 127.0.0.0/8 to lo; macOS needs ``ifconfig lo0 alias 127.0.0.2`` first, see
``another_loopback_host``), on a port the kernel picks, and runs in daemon threads of the test
process, so a failing test never leaves a listener behind.
"""

from tests.helpers.testkit.proxy import ForwardingProxy, ProxySeen
from tests.helpers.testkit.scripted import Behaviour, ScriptedServer, Seen, another_loopback_host
from tests.helpers.testkit.tls import PROXIED_HOST, LocalCA, client_context, self_signed_pair

__all__ = ["PROXIED_HOST", "Behaviour", "ForwardingProxy", "ProxySeen", "ScriptedServer", "Seen", "LocalCA", "another_loopback_host",
           "client_context", "self_signed_pair"]
