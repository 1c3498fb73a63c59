"""Production speaks https: both Ingresses carry TLS for their hosts (an existing Secret, or one
cert-manager makes), and the sidecar can trust a private CA behind Dex's certificate.

The last test is real TLS: a server with a certificate from a CA made at run time, and an
aiohttp client built as the sidecar builds its provider client (sidecar/app.py), in a fresh
Python process, trusting that CA only through SSL_CERT_FILE, the variable the chart sets.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.deploy import helmfile_render as hf
from tests.deploy.charts import KUBE_VERSION, Rendered, render
from tests.fixtures.ports import free_port

helm_python = pytest.importorskip("helm_python", reason="PyPI helm-python-sdk (dev extras)")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="dev extras")

ISSUER_ENV = {"AUTH_TLS_CLUSTER_ISSUER": "letsencrypt", "AUTH_CA_BUNDLE_SECRET": "corp-ca"}


def sidecar_render(environment: str, env: dict[str, str] | None = None) -> Rendered:
    rendered = render(hf.release_values("auth-sidecar", environment, env))
    for doc in rendered.docs:
        if not doc["apiVersion"].startswith("configuration.konghq.com/"):
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    return rendered


@pytest.mark.parametrize("env", [None, ISSUER_ENV], ids=["existing-secrets", "cert-manager"])
def test_production_ingresses_carry_tls_for_their_hosts(env: dict[str, str] | None) -> None:
    values = hf.environment_values("production", env)
    assert values["scheme"] == "https"
    dex = hf.release_values("dex", "production", env)["ingress"]
    (dex_tls,) = dex["tls"]
    assert dex_tls["hosts"] == [values["dexHost"]]
    assert dex_tls["secretName"] == "dex-tls"
    ingress = sidecar_render("production", env).one("Ingress")
    (app_tls,) = ingress["spec"]["tls"]
    assert app_tls == {"hosts": [values["appHost"]], "secretName": "app-tls"}
    for marks in (dex["annotations"], ingress["metadata"]["annotations"]):
        assert marks["konghq.com/protocols"] == "https"
        issuer = marks.get("cert-manager.io/cluster-issuer")
        assert issuer == (env or {}).get("AUTH_TLS_CLUSTER_ISSUER")


def test_the_local_stack_stays_plain_http() -> None:
    assert "tls" not in hf.release_values("dex", "default")["ingress"]
    ingress = sidecar_render("default").one("Ingress")
    assert "tls" not in ingress["spec"]
    assert "SSL_CERT_FILE" not in env_names(sidecar_render("default"))


def env_names(rendered: Rendered) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in rendered.container().get("env", [])}


def test_a_private_ca_reaches_the_sidecar_as_ssl_cert_file() -> None:
    rendered = sidecar_render("production", ISSUER_ENV)
    assert env_names(rendered)["SSL_CERT_FILE"] == "/etc/auth-sidecar/ca/ca.crt"
    mounts = {m["name"]: m for m in rendered.container()["volumeMounts"]}
    assert mounts["ca-bundle"]["mountPath"] == "/etc/auth-sidecar/ca"
    volumes = {v["name"]: v for v in rendered.pod_spec()["volumes"]}
    assert volumes["ca-bundle"]["secret"]["secretName"] == "corp-ca"
    from_configmap = render({"caBundle": {"configMapName": "trust", "key": "bundle.pem"}})
    assert env_names(from_configmap)["SSL_CERT_FILE"] == "/etc/auth-sidecar/ca/bundle.pem"
    volumes = {v["name"]: v for v in from_configmap.pod_spec()["volumes"]}
    assert volumes["ca-bundle"]["configMap"]["name"] == "trust"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca_and_server_cert(tmp: Path) -> tuple[Path, ssl.SSLContext]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test private CA"))
        .issuer_name(_name("test private CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("dex.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp / "ca.crt"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp / "server.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp / "server.pem")
    return ca_file, context


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    ca_file, context = make_ca_and_server_cert(tmp_path)

    async def discovery(_: web.Request) -> web.Response:
        return web.json_response({"issuer": "https://dex.test/dex"})

    app = web.Application()
    app.router.add_get("/dex/.well-known/openid-configuration", discovery)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    yield f"https://127.0.0.1:{port}/dex/.well-known/openid-configuration", ca_file
    await runner.cleanup()


# The sidecar's provider client: aiohttp.ClientSession with its default TLS (sidecar/app.py).
CLIENT = """
import asyncio, sys, aiohttp
async def main():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        try:
            async with http.get(sys.argv[1]) as resp:
                print(resp.status, (await resp.json())["issuer"])
        except aiohttp.ClientConnectorCertificateError:
            print("untrusted")
asyncio.run(main())
"""


async def fetch_in_fresh_python(url: str, env: dict[str, str]) -> str:
    import asyncio

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, url],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    return await asyncio.to_thread(run)


async def test_aiohttp_trusts_the_private_ca_through_ssl_cert_file(
    tls_server: tuple[str, Path],
) -> None:
    url, ca_file = tls_server
    base = {k: v for k, v in os.environ.items() if not k.startswith("SSL_CERT")}
    assert await fetch_in_fresh_python(url, base) == "untrusted"
    trusted = await fetch_in_fresh_python(url, base | {"SSL_CERT_FILE": str(ca_file)})
    assert trusted == "200 https://dex.test/dex"
