"""The provider's JWKS behind a throwaway self-signed TLS listener, for mod_auth_openidc.

Its `OIDCOAuthVerifyJwksUri` accepts only an https URL, and the test provider speaks plain
HTTP. The key pair and certificate are made at run time (never a key in the repository); the
listener serves the JWKS as fetched at start-up (the provider keeps its keys for the run) from
a thread of the runner, so none of its CPU is counted against a measured server.
"""

from __future__ import annotations

import datetime
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(workdir: Path) -> tuple[Path, Path]:
    """A P-256 key and a one-day certificate for 127.0.0.1, as PEM files in `workdir`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = workdir / "jwks-tls.key", workdir / "jwks-tls.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@contextmanager
def serve_jwks(jwks_url: str, workdir: Path) -> Iterator[str]:
    """Serve the JWKS at `jwks_url` on https://127.0.0.1:PORT/keys while the block runs."""
    with urllib.request.urlopen(jwks_url, timeout=10) as response:
        body = response.read()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    key_path, cert_path = self_signed(workdir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="jwks-tls", daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/keys"
    finally:
        server.shutdown()
        server.server_close()
