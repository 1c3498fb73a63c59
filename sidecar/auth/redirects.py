"""The `rd` parameter: where to send the browser after login or logout.

This is the classic open-redirect hole of auth proxies (oauth2-proxy GHSA-5m6c-jp6f-2vcv and
its successors). CONTRACT: only a relative path that starts with exactly one `/` (not `//`, not
`/\\`), no scheme, no control characters or whitespace after percent-decoding, at most 2048
characters; anything else becomes `/`. Browsers strip tabs and newlines inside URLs and treat
`\\` as `/`, so the checks run on the decoded form too.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MAX_RD_LENGTH = 2048
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\\]")  # controls, whitespace, backslash


def safe_redirect(rd: str | None) -> str:
    if not rd or len(rd) > MAX_RD_LENGTH or not rd.isascii():
        return "/"  # raw non-ASCII cannot go into a Location header as is
    try:
        forms = _decodings(rd)
    except UnicodeDecodeError:
        return "/"
    for form in forms:
        if not form.startswith("/") or form.startswith("//") or _UNSAFE.search(form):
            return "/"
    return rd


def _decodings(value: str, depth: int = 3) -> list[str]:
    """The value and up to `depth` rounds of percent-decoding (double encoding included)."""
    forms = [value]
    for _ in range(depth):
        decoded = unquote(forms[-1], errors="strict") if "%" in forms[-1] else forms[-1]
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    return forms
