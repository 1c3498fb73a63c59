"""The client's `Connection` list, applied to the client's own fields (RFC 9110 section 7.6.1).

End to end (the injected headers reach the upstream whatever `Connection` names) in
`tests/security/test_hostile_client.py`; here the function's own rules.
"""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from sidecar.pipeline.headers import drop_connection_options


def applied(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    headers = CIMultiDict(pairs)
    drop_connection_options(headers)
    return list(headers.items())


@pytest.mark.parametrize("value", ["keep-alive", "close", " Keep-Alive ", "Upgrade", ""])
def test_plain_options_name_nothing_and_connection_goes(value: str) -> None:
    assert applied([("Connection", value), ("Keep-Alive", "timeout=5"), ("X-A", "1")]) == [
        ("Keep-Alive", "timeout=5"),  # the proxy's fixed hop-by-hop list removes it later
        ("X-A", "1"),
    ]


def test_named_fields_go_in_any_case_over_several_lines_duplicates_included() -> None:
    pairs = [
        ("Connection", "keep-alive, x-hop-one"),
        ("X-Hop-One", "a"),
        ("CONNECTION", "X-HOP-TWO,,"),
        ("x-hop-two", "b"),
        ("X-Hop-One", "c"),
        ("X-Kept", "d"),
    ]
    assert applied(pairs) == [("X-Kept", "d")]


def test_host_is_never_a_connection_option() -> None:
    pairs = [("Host", "app.example.com"), ("Connection", "Host, Cookie"), ("Cookie", "a=1")]
    assert applied(pairs) == [("Host", "app.example.com")]


def test_without_connection_nothing_changes() -> None:
    pairs = [("Host", "h"), ("X-Auth-Subject", "kept here: stripping is another step")]
    assert applied(pairs) == pairs
