"""The peers `make bench` measures the sidecar against, configured at run time.

- nginx: a plain keep-alive `proxy_pass`, one worker (the cost of one C proxy hop);
- Apache httpd, mpm_event with one server process, mod_proxy, and mod_auth_openidc in three
  roles: `/public/` (a location without authentication), `/bearer/` (`AuthType oauth20`, the
  JWT checked locally against the provider's JWKS, served over TLS by `bench.tls_jwks`) and
  `/session/` (`AuthType openid-connect`, server-cache sessions in the run's Redis, logged in
  through the real redirect chain); `/plain/` is mod_proxy alone.

Config files are written into the run's temporary directory; everything listens on
127.0.0.1 only. Both servers log one access line per request, as the sidecar does at `info`.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.measure import cpu_seconds
from tests.fixtures.ports import free_port
from tests.fixtures.procs import log_tail, stop_process
from tests.fixtures.provider import OidcProvider

APACHE_MODULES = Path("/usr/lib/apache2/modules")
_MODULES = (
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("headers_module", "mod_headers.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("auth_openidc_module", "mod_auth_openidc.so"),
)
SESSION_COOKIE = "mod_auth_openidc_session"


@dataclass
class Peer:
    name: str
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_s: float = 0.0  # from the spawn to the first answer (see `bench.footprint`)
    ready_cpu_s: float = 0.0  # CPU seconds its process tree had spent by then


def nginx_config(workdir: Path, port: int, upstream: str) -> str:
    host_port = upstream.removeprefix("http://")
    temp = workdir / "nginx-temp"
    return f"""
daemon off;
master_process on;
worker_processes 1;
user root;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {workdir}/nginx-access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    upstream backend {{ server {host_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def start_nginx(workdir: Path, upstream: str) -> Peer:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    (workdir / "nginx-temp").mkdir()
    conf = workdir / "nginx.conf"
    conf.write_text(nginx_config(workdir, port, upstream))
    return start_peer("nginx", [binary, "-p", str(workdir), "-c", str(conf)], workdir, port)


@dataclass(frozen=True)
class ApacheSetup:
    port: int
    upstream: str
    provider: OidcProvider
    redis_url: str
    jwks_https_url: str

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/session/callback"


def apache_config(workdir: Path, setup: ApacheSetup) -> str:
    modules = "\n".join(f"LoadModule {name} {APACHE_MODULES / so}" for name, so in _MODULES)
    redis = setup.redis_url.removeprefix("redis://").split("/", 1)[0]
    identity = 'RequestHeader set X-Auth-Subject "expr=%{REMOTE_USER}"'
    proxies = "\n".join(
        f"ProxyPass /{path}/ {setup.upstream}/{path}/"
        for path in ("plain", "public", "bearer", "session")
    )
    return f"""
ServerRoot {workdir}
ServerName 127.0.0.1
PidFile {workdir}/apache.pid
DefaultRuntimeDir {workdir}
Listen 127.0.0.1:{setup.port}
User www-data
Group www-data
{modules}
ErrorLog {workdir}/apache-error.log
LogLevel warn
LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" timed
CustomLog {workdir}/apache-access.log timed
StartServers 1
ServerLimit 1
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30

OIDCProviderMetadataURL {setup.provider.discovery_url}
OIDCClientID {setup.provider.client_id}
OIDCClientSecret {setup.provider.client_secret}
OIDCRedirectURI {setup.redirect_uri}
OIDCCryptoPassphrase {secrets.token_urlsafe(32)}
OIDCPKCEMethod S256
OIDCScope "openid email profile groups"
OIDCRemoteUserClaim sub
OIDCSessionType server-cache
OIDCCacheType redis
OIDCRedisCacheServer {redis}
OIDCOAuthVerifyJwksUri {setup.jwks_https_url}
OIDCOAuthSSLValidateServer Off
OIDCOAuthRemoteUserClaim sub

ProxyPass /session/callback !
{proxies}
<Location /public/>
    AuthType openid-connect
    OIDCUnAuthAction pass
    Require all granted
</Location>
<Location /bearer/>
    AuthType oauth20
    Require valid-user
    {identity}
</Location>
<Location /session/>
    AuthType openid-connect
    Require valid-user
    {identity}
</Location>
"""


def start_apache(workdir: Path, setup: ApacheSetup) -> Peer:
    setup.provider.register_redirect_uri(setup.redirect_uri)
    conf = workdir / "apache.conf"
    conf.write_text(apache_config(workdir, setup))
    argv = ["/usr/sbin/apache2", "-f", str(conf), "-DFOREGROUND"]
    return start_peer("apache", argv, workdir, setup.port)


def start_peer(
    name: str, argv: list[str], workdir: Path, port: int, ready_path: str | None = None
) -> Peer:
    """Spawn `argv` and wait until it answers: an HTTP answer on `ready_path`, or else a TCP
    connection accepted on `port`. `ready_s` is the time from the spawn to that answer."""
    log_path = workdir / f"{name}.log"
    started = time.monotonic()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    peer = Peer(name, f"http://127.0.0.1:{port}", process, log_path)
    deadline = started + 20
    while not answering(port, ready_path):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process, grace_s=0)
            errors = log_tail(workdir / f"{name}-error.log")
            raise RuntimeError(f"{name} did not start: {log_tail(log_path)}\n{errors}")
        time.sleep(0.01)
    peer.ready_s = time.monotonic() - started
    peer.ready_cpu_s = cpu_seconds(process.pid)
    return peer


def answering(port: int, path: str | None = None) -> bool:
    """A TCP connection accepted on `port`, and with `path` a 2xx answer to GET `path`."""
    if path is None:
        return _listening(port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError):
        return False


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_peer(peer: Peer) -> None:
    stop_process(peer.process)


def ensure_installed() -> None:
    missing = [p for p in ("/usr/sbin/nginx", "/usr/sbin/apache2") if not Path(p).exists()]
    if not (APACHE_MODULES / "mod_auth_openidc.so").exists():
        missing.append("mod_auth_openidc")
    if missing:
        raise SystemExit(f"missing {missing}: `make bench` installs them (apt)")
