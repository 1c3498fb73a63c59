"""Reading and converting raw configuration for `sidecar.config.settings`.

Two layers of raw values, the YAML file and the `SIDECAR_*` environment, are merged here (env
wins, secrets may come from files) into a `Reader`. Each converter takes one raw value (a string
from the environment, or whatever YAML produced) and returns the typed value or raises
`ValueError` with a message for the operator. The `Reader` turns that into a problem line naming
the key and its env var, so that every problem is collected before the loader fails once.
Messages never contain the value of a secret.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import TypeVar

import yaml

T = TypeVar("T")

ENV_PREFIX = "SIDECAR_"
CONFIG_ENV = "SIDECAR_CONFIG"
SECTIONS = frozenset(
    {"oidc", "session", "assertion", "headers", "log", "token_exchange", "tracing", "admin"}
)
SECRET_KEYS = frozenset(
    {"oidc.client_secret", "session.secret", "assertion.signing_key", "admin.token"}
)
SCALAR_KEYS = frozenset(
    {
        *("oidc.issuer", "oidc.client_id", "oidc.client_secret", "oidc.scopes"),
        *("oidc.audiences", "oidc.algorithms", "oidc.leeway_s", "oidc.http_timeout_s"),
        "oidc.end_session",
        *("public_url", "listen", "admin_listen", "upstream", "trusted_proxies"),
        *("session.secret", "session.redis_url", "session.redis_cluster"),
        *("session.cookie_name", "session.cookie_secure", "session.idle_ttl_s"),
        *("session.absolute_ttl_s", "session.refresh_margin_s", "session.store_timeout_s"),
        *("session.cache_s", "session.min_replicas", "session.replica_wait_ms"),
        *("assertion.signing_key", "assertion.audience", "assertion.ttl_s"),
        *("headers.forward_token", "log.level", "log.format"),
        *("shutdown_grace_s", "workers", "upstream_connect_timeout_s", "upstream_timeout_s"),
        "upstream_max_connections",
        *("token_exchange.audiences", "token_exchange.allowed_peers", "token_exchange.ttl_s"),
        "tracing.enabled",
        *("oidc.userinfo", "admin.token"),
    }
)
# YAML only: lists of mappings, no env var.
POLICY_KEY = "policy"
YAML_ONLY_KEYS = frozenset({POLICY_KEY, "routes", "trusted_issuers"})
_FILE_KEYS = frozenset(f"{key}_file" for key in SECRET_KEYS)
_KNOWN_KEYS = SCALAR_KEYS | _FILE_KEYS


def env_name(key: str) -> str:
    """`oidc.client_id` -> `SIDECAR_OIDC_CLIENT_ID`."""
    return ENV_PREFIX + key.upper().replace(".", "_")


def label(key: str) -> str:
    """How a problem line names a key: the YAML key and its env var."""
    return f"{key} ({env_name(key)})"


def _suggest(name: str, candidates: list[str], prefix: str = "") -> str:
    """A close known name, compared without the shared `prefix` (it would match everything)."""
    stems = {candidate.removeprefix(prefix): candidate for candidate in candidates}
    close = difflib.get_close_matches(name.removeprefix(prefix), list(stems), n=1, cutoff=0.75)
    return f"; did you mean {stems[close[0]]}?" if close else ""


_ENV_TO_KEY = {env_name(key): key for key in _KNOWN_KEYS}


class Reader:
    """The merged raw values, with typed getters that record problems instead of raising."""

    def __init__(self, values: dict[str, object], problems: list[str]) -> None:
        self._values = values
        self._unreadable: set[str] = set()
        self.problems = problems
        self.yaml_only: dict[str, object] = {
            key: values.pop(key) for key in sorted(YAML_ONLY_KEYS) if key in values
        }

    @property
    def policy(self) -> object:
        return self.yaml_only.get(POLICY_KEY)

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{label(key)}: {message}")

    def raw(self, key: str) -> object | None:
        value = self._values.get(key)
        if isinstance(value, str) and not value.strip():
            return None  # an empty value means "not set", as Kubernetes `value: ""` does
        return value

    def get(self, key: str, convert: Callable[[object], T], default: T) -> T:
        raw = self.raw(key)
        if raw is None:
            return default
        try:
            return convert(raw)
        except ValueError as exc:
            self.problem(key, str(exc))
            return default

    def required(self, key: str, convert: Callable[[object], T], fallback: T) -> T:
        if self.raw(key) is None:
            if key not in self._unreadable:
                hint = f" (or {key}_file / {env_name(key)}_FILE)" if key in SECRET_KEYS else ""
                self.problem(key, f"required{hint}")
            return fallback
        return self.get(key, convert, fallback)

    def resolve_secret_files(
        self, file_layer: dict[str, object], env_layer: dict[str, object]
    ) -> None:
        """`<key>_file` is the same secret read from a file (a Kubernetes Secret mount). Both
        forms in one layer is an error; the env layer, in either form, wins over the YAML one."""
        for key in sorted(SECRET_KEYS):
            file_key = f"{key}_file"
            for layer in (file_layer, env_layer):
                if key in layer and file_key in layer:
                    self.problem(key, f"give either {key} or {file_key}, not both")
            winner = env_layer if (key in env_layer or file_key in env_layer) else file_layer
            self._values.pop(key, None)
            if key in winner:
                self._values[key] = winner[key]
            elif file_key in winner:
                self._read_secret_file(key, winner[file_key])

    def _read_secret_file(self, key: str, path: object) -> None:
        file_key = f"{key}_file"
        self._unreadable.add(key)
        if not isinstance(path, str):
            self.problem(file_key, "must be a file path")
            return
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read().strip()
        except OSError as exc:
            self.problem(file_key, f"cannot read {path!r}: {exc.strerror}")
            return
        except UnicodeDecodeError:
            self.problem(file_key, f"{path!r} is not UTF-8 text")
            return
        if not text:
            self.problem(file_key, f"{path!r} is empty")
            return
        self._unreadable.discard(key)
        self._values[key] = text


def read_sources(
    config_file: str | None, environ: Mapping[str, str], problems: list[str]
) -> Reader:
    """Merge the YAML file (when given) and the environment into a `Reader`."""
    file_layer = _read_yaml(config_file, problems) if config_file else {}
    env_layer = _read_env(environ, problems)
    plain = {k: v for k, v in file_layer.items() if k not in _FILE_KEYS}
    plain.update({k: v for k, v in env_layer.items() if k not in _FILE_KEYS})
    reader = Reader(plain, problems)
    reader.resolve_secret_files(file_layer, env_layer)
    return reader


def _read_yaml(path: str, problems: list[str]) -> dict[str, object]:
    where = f"config file {path!r} (--config / {CONFIG_ENV})"
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        problems.append(f"{where}: cannot read: {exc.strerror}")
        return {}
    except UnicodeDecodeError:
        problems.append(f"{where}: not UTF-8 text")
        return {}
    except yaml.MarkedYAMLError as exc:
        # Only the position and the parser's own words: a snippet could hold a secret.
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(f"{where}: not valid YAML{at}: {exc.problem}")
        return {}
    except yaml.YAMLError:
        problems.append(f"{where}: not valid YAML")
        return {}
    if document is None:
        return {}
    if not isinstance(document, dict):
        problems.append(f"{where}: the top level must be a mapping of keys")
        return {}
    return _flatten(document, problems)


def _flatten(document: dict[object, object], problems: list[str]) -> dict[str, object]:
    """`{oidc: {issuer: x}}` -> `{"oidc.issuer": x}`; unknown keys are problems."""
    flat: dict[str, object] = {}
    for name, value in document.items():
        if str(name) in SECTIONS and isinstance(value, dict):
            items = [(f"{name}.{sub}", sub_value) for sub, sub_value in value.items()]
        elif str(name) in SECTIONS:
            problems.append(f"{name}: must be a mapping of {name}.* keys")
            continue
        else:
            items = [(str(name), value)]
        for key, item in items:
            if key in YAML_ONLY_KEYS:
                flat[key] = item
            elif key not in _KNOWN_KEYS:
                hint = _suggest(key, sorted(_KNOWN_KEYS | YAML_ONLY_KEYS))
                problems.append(f"{label(key)}: unknown key{hint}")
            elif item is not None:  # an explicit null means "not set"
                flat[key] = item
    return flat


def _read_env(environ: Mapping[str, str], problems: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        key = _ENV_TO_KEY.get(name)
        if key is None:
            yaml_only = {env_name(key): key for key in YAML_ONLY_KEYS}
            hint = (
                f"; {yaml_only[name]} is YAML only"
                if name in yaml_only
                else _suggest(name, sorted(_ENV_TO_KEY), ENV_PREFIX)
            )
            problems.append(f"{name}: unknown setting (no such key){hint}")
        elif value.strip():  # empty means "not set", so the YAML value stays
            values[key] = value
    return values
