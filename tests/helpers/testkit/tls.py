"""TLS for test servers, with certificates made inside the test (nothing on disk beforehand,
nothing to expire in the repository).

Why ``trustme`` (a test-only dependency, MIT/Apache-2.0, pure Python on top of
``cryptography``): it makes a throw-away certificate authority and a leaf certificate for
"127.0.0.1" with an *IP* subjectAltName (Python's hostname check of an IP address needs one; a
CN alone is ignored), in memory, in milliseconds, the way urllib3/httpx/aiohttp test suites do.
The openssl CLI would need a temp config for the IP SAN, differs between OpenSSL/LibreSSL builds
and is missing on Windows CI images; hand-written ``cryptography`` code is what trustme already
is. ``self_signed_pair`` does use ``cryptography`` directly, to make the other kind of
certificate users really have: ONE self-signed certificate (what ``openssl req -x509`` makes for
a home server), which must work when given as the CA bundle.
"""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

# A made-up name only the test proxy resolves (ForwardingProxy(hosts=...)): dreamflow reaches
# loopback servers directly, so a proxied test server needs a name that is not loopback.
PROXIED_HOST = "story-server.test"
LOOPBACK_NAMES = ("127.0.0.1", "127.0.0.2", "localhost", PROXIED_HOST)


class LocalCA:
    """A certificate authority that exists for one test: issue the server's certificate with
    ``server_context``, give clients ``pem`` / ``write_bundle`` as their CA bundle."""

    def __init__(self) -> None:
        import trustme  # test-only dependency

        self._ca = trustme.CA()
        self._leaf = self._ca.issue_cert(*LOOPBACK_NAMES)

    @property
    def pem(self) -> bytes:
        return self._ca.cert_pem.bytes()

    def write_bundle(self, path: Path) -> Path:
        """The CA certificate as a PEM file: what a user passes as --ca-bundle / SSL_CERT_FILE."""
        path.write_bytes(self.pem)
        return path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._leaf.configure_cert(ctx)
        return ctx


def self_signed_pair(host: str = "127.0.0.1", *, days: int = 30) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM): one self-signed certificate, as ``openssl req -x509
    -newkey ec -addext subjectAltName=IP:127.0.0.1`` makes it (CA:TRUE, SKI/AKI, SAN)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def server_context_from_pair(cert_pem: bytes, key_pem: bytes, folder: Path) -> ssl.SSLContext:
    """A server context for a (certificate, key) pair (``load_cert_chain`` reads files only)."""
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def client_context(ca_bundle: str | Path | None = None, *, cadata: str | None = None) -> ssl.SSLContext:
    """What the backend should build: the system's trust store, or ONLY the given bundle
    (``create_default_context(cafile=…)`` does not add the system store: like curl --cacert).
    Without a bundle, OpenSSL's default paths honour SSL_CERT_FILE / SSL_CERT_DIR by themselves."""
    return ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None, cadata=cadata)
