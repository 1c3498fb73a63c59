"""The canonical request path: the one form every decision reads (and the upstream gets).

Every bypass in this family (Envoy CVE-2019-9901, Tomcat `..;/`, Traefik and Zuul path-matcher
advisories) is the same bug: the gate and the upstream read two different paths. So the gate
reads the path the way the most liberal upstream would (decoded, dot-segments resolved,
backslashes as slashes) and refuses what cannot be read one way only. Route selection
(`pipeline/routes.py`), the policy (`pipeline/policy.py`) and the configuration's own rule
paths (`config/rules.py`) all use `normalize_path`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes, urlsplit

from sidecar.errors import BadRequest

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# After one decoding pass, any escape still present means the client encoded twice: one
# upstream decodes once, another twice (or until stable), and the two disagree on the path.
# Not only structural characters: `/%2561dmin` is `/%61dmin` to the gate and `/admin` to an
# upstream that decodes again. Refused rather than guessed (CONTRACT "Access policy").
_DOUBLE_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_ABSOLUTE_FORM = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def normalize_path(raw_path: str) -> str:
    """The canonical path the policy matches on; always starts with '/'.

    Steps, each closing a known bypass:
    1. control characters (raw, or after decoding: `%00`, `%0d%0a`) -> BadRequest;
    2. the query and fragment are dropped *before* decoding (RFC 3986 section 3.3: the path
       ends at the first '?' or '#'; a decoded `%3F` is a path character, not a query);
    3. percent-decoding exactly once, UTF-8 strictly (RFC 3986 section 2.1), `%2F` and `%5C`
       included, so `/public/..%2fadmin` is read as `/public/../admin`; any escape left after
       that pass (`%2561`, `%252e`, `%2525`) -> BadRequest, so decoding once or until stable
       can never disagree (RFC 3986 section 2.4: a string is never decoded twice);
    4. backslashes become '/' (IIS, some Java and Node servers treat them as separators);
    5. empty segments collapse (`//admin` -> `/admin`) and dot-segments are resolved per
       RFC 3986 section 5.2.4, never above the root; a dot-segment with matrix parameters
       (`..;x`, Tomcat reads it as `..`) -> BadRequest.

    Case and ';' are kept here (the result may be forwarded upstream); `Policy.rule_for`
    ignores both when matching. The proxy should forward this form, so that the upstream
    serves exactly the path that was authorized.
    """
    if _CONTROL.search(raw_path):
        raise BadRequest("control character in path")
    if _ABSOLUTE_FORM.match(raw_path):  # RFC 9112 section 3.2.2 absolute-form target
        raw_path = urlsplit(raw_path).path
    path = re.split(r"[?#]", raw_path, maxsplit=1)[0]
    try:
        decoded = unquote_to_bytes(path).decode("utf-8")
    except UnicodeError as exc:  # also encode: a header's raw non-UTF-8 bytes are surrogates
        raise BadRequest("path is not UTF-8") from exc
    if _CONTROL.search(decoded):
        raise BadRequest("control character in path")
    if _DOUBLE_ENCODED.search(decoded):
        raise BadRequest("double-encoded path")
    return _resolve_segments(decoded.replace("\\", "/"))


def _resolve_segments(path: str) -> str:
    segments = path.split("/")
    stack: list[str] = []
    for segment in segments:
        if segment.split(";", 1)[0] in (".", "..") and ";" in segment:
            raise BadRequest("dot-segment with parameters")
        if segment == "..":
            if stack:
                stack.pop()
        elif segment not in ("", "."):
            stack.append(segment)
    # "/a/b/" and "/a/b/.." keep their trailing slash (RFC 3986 section 5.2.4).
    trailing = bool(stack) and segments[-1] in ("", ".", "..")
    return "/" + "/".join(stack) + ("/" if trailing else "")
