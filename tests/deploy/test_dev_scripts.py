"""The shell scripts of the local stack, run for real with stand-ins for what is not here.

`deploy/dev-secrets.sh`: on a Python where `import crypt` fails (removed in 3.13) it still
makes a bcrypt hash that verifies the demo password, and every other secret is safe from Dex's
config templating. `deploy/coredns-rewrite.sh`: against a `kubectl` stand-in serving kind's
stock Corefile, with GNU tools and with stand-ins that refuse GNU extensions (a `sed` that
refuses `\\s`/`\\n`, Debian's `original-awk` as the BSD awk macOS ships).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.charts import REPO

bcrypt = pytest.importorskip("bcrypt", reason="PyPI bcrypt (dev extras)")

DEV_SECRETS = REPO / "deploy" / "dev-secrets.sh"
COREDNS_REWRITE = REPO / "deploy" / "coredns-rewrite.sh"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
NAMES = [
    "DEMO_ADMIN_PASSWORD",
    "DEX_CLIENT_SECRET",
    "DEX_ADMIN_PASSWORD_HASH",
    "POSTGRES_PASSWORD",
    "POSTGRES_ADMIN_PASSWORD",
    "REDIS_PASSWORD",
    "SIDECAR_SESSION_SECRET",
    "SIDECAR_ASSERTION_SIGNING_KEY",
]
SAFE = re.compile(r"[0-9A-Za-z_-]+")


def without_crypt(tmp_path: Path) -> dict[str, str]:
    """An environment in which every Python's `import crypt` fails, as on Python 3.13."""
    blocker = tmp_path / "no-crypt"
    blocker.mkdir(exist_ok=True)
    (blocker / "crypt.py").write_text("raise ImportError('crypt was removed in Python 3.13')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker), "DEPLOY_ENV_FILE": str(tmp_path / "d.env")}
    probe = subprocess.run(["python3", "-c", "import crypt"], env=env, check=False)
    assert probe.returncode != 0, "the stand-in must block crypt"
    return env


def made_secrets(env: dict[str, str]) -> dict[str, str]:
    run = subprocess.run(
        ["bash", str(DEV_SECRETS)], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    # Read back as `make deploy` does: sourced by the shell.
    show = 'set -a; . "$1"; for n in ' + " ".join(NAMES) + '; do printf "%s\\0" "${!n}"; done'
    values = subprocess.run(
        ["bash", "-c", show, "show", env["DEPLOY_ENV_FILE"]],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split("\0")
    return dict(zip(NAMES, values, strict=False))


def assert_hash_verifies(found: dict[str, str]) -> None:
    hashed = found["DEX_ADMIN_PASSWORD_HASH"]
    assert re.fullmatch(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}", hashed), hashed
    assert bcrypt.checkpw(found["DEMO_ADMIN_PASSWORD"].encode(), hashed.encode())
    assert not bcrypt.checkpw(b"not-the-password", hashed.encode())


def test_demo_hash_without_crypt_from_the_project_venv(tmp_path: Path) -> None:
    if not VENV_PYTHON.exists():
        pytest.skip("no .venv here")
    found = made_secrets(without_crypt(tmp_path))
    assert_hash_verifies(found)


def test_demo_hash_with_htpasswd_when_the_venv_has_no_bcrypt(tmp_path: Path) -> None:
    if shutil.which("htpasswd") is None:
        pytest.skip("htpasswd is not installed (Debian apache2-utils; `make deps` installs it)")
    env = without_crypt(tmp_path) | {"DEPLOY_PYTHON": str(tmp_path / "no-such-python")}
    assert_hash_verifies(made_secrets(env))


def test_secrets_are_safe_from_dex_config_templating(tmp_path: Path) -> None:
    """Dex expands `$VAR` in its storage config and its image templates the config file: no
    generated value but the bcrypt hash (staticPasswords, not expanded) holds `$` or `{`."""
    found = made_secrets(without_crypt(tmp_path))
    for name in NAMES:
        if name not in {"DEX_ADMIN_PASSWORD_HASH", "SIDECAR_ASSERTION_SIGNING_KEY"}:
            assert SAFE.fullmatch(found[name]), f"{name}: {found[name]!r}"
    assert len(base64.urlsafe_b64decode(found["SIDECAR_SESSION_SECRET"] + "=")) == 32
    assert found["SIDECAR_ASSERTION_SIGNING_KEY"].startswith("-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "d.env").stat().st_mode & 0o077 == 0, "the env file is private"
    again = made_secrets(without_crypt(tmp_path))
    assert again == found, "made once, then reused"


# What `kubectl -n kube-system get configmap coredns -o jsonpath={.data.Corefile}` prints on a
# fresh kind cluster (kind v0.2x, CoreDNS from kubeadm): no newline at the end.
KIND_COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}"""
RULE = "    rewrite name dex.localtest.me kong-kong-proxy.kong.svc.cluster.local"

KUBECTL = r"""#!/bin/sh
# kubectl stand-in: serves $STATE/Corefile, records what would be applied.
echo "$*" >> "$STATE/calls"
case "$*" in
  *"get configmap coredns"*) cat "$STATE/Corefile" ;;
  *"create configmap coredns"*)
    for arg; do
      case $arg in
        --from-literal=Corefile=*)
          printf '%s' "${arg#--from-literal=Corefile=}" > "$STATE/Corefile" ;;
      esac
    done
    echo "kind: ConfigMap" ;;
  *"apply -f -"*) cat > /dev/null ;;
  *"rollout restart"*) ;;
  *) echo "unexpected kubectl $*" >&2; exit 1 ;;
esac
"""
# sed without GNU extensions: BSD sed has no \s and writes `n` for \n in a replacement.
STRICT_SED = r"""#!/bin/sh
for arg; do
  case $arg in
    *'\s'*|*'\n'*|*'\S'*|*'\+'*|-r|-i|--*) echo "sed: GNU extension: $arg" >&2; exit 1 ;;
  esac
done
exec REAL_SED --posix "$@"
"""


def stand_ins(tmp_path: Path, strict: bool) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(KUBECTL)
    if strict:
        awk = shutil.which("original-awk")
        if awk is None:
            pytest.skip("original-awk is not installed (Debian original-awk: the BSD awk)")
        (bin_dir / "awk").symlink_to(awk)
        real_sed = shutil.which("sed")
        assert real_sed
        (bin_dir / "sed").write_text(STRICT_SED.replace("REAL_SED", real_sed))
    for tool in bin_dir.iterdir():
        if not tool.is_symlink():
            tool.chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    (state / "Corefile").write_text(KIND_COREFILE)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(state)}


def rewrite(env: dict[str, str]) -> str:
    run = subprocess.run(
        ["bash", str(COREDNS_REWRITE)], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    return (Path(env["STATE"]) / "Corefile").read_text()


@pytest.mark.parametrize("strict", [False, True], ids=["gnu", "posix-only"])
def test_coredns_rewrite_adds_one_rule_after_ready(tmp_path: Path, strict: bool) -> None:
    env = stand_ins(tmp_path, strict)
    patched = rewrite(env)
    expected = KIND_COREFILE.replace("    ready\n", "    ready\n" + RULE + "\n")
    assert patched == expected
    calls = Path(env["STATE"]) / "calls"
    assert calls.read_text().count("rollout restart deployment coredns") == 1
    assert rewrite(env) == expected, "idempotent"
    assert calls.read_text().count("rollout restart") == 1, "nothing restarted the second time"


def test_the_strict_sed_stand_in_refuses_what_bsd_sed_lacks(tmp_path: Path) -> None:
    env = stand_ins(tmp_path, strict=True)
    refused = subprocess.run(
        ["sed", r"s/^\(\s*\)ready$/\1ready\n\1x/"],
        env=env,
        input="  ready\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0
    posix = subprocess.run(
        ["sed", "s/a/b/"], env=env, input="a\n", capture_output=True, text=True, check=True
    )
    assert posix.stdout == "b\n"


def test_coredns_rewrite_fails_loudly_without_a_ready_line(tmp_path: Path) -> None:
    env = stand_ins(tmp_path, strict=False)
    (Path(env["STATE"]) / "Corefile").write_text(KIND_COREFILE.replace("    ready\n", ""))
    run = subprocess.run(
        ["bash", str(COREDNS_REWRITE)], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0
    assert "ready" in run.stderr
