"""`IdentityMemo`: one `Identity` per verified claims object, never a stale one."""

from __future__ import annotations

from sidecar.tokens.identity import Identity, IdentityMemo

CLAIMS = {"sub": "u1", "exp": 2_000_000_000, "email": "a@example.com", "email_verified": True}


def test_the_same_claims_object_gives_the_same_identity() -> None:
    memo = IdentityMemo()
    claims = dict(CLAIMS)
    first = memo.identity(claims, "bearer", "tok")
    assert memo.identity(claims, "bearer", "tok") is first
    assert first == Identity.from_claims(claims, "bearer", "tok")


def test_new_claims_a_new_token_or_another_source_give_a_new_identity() -> None:
    memo = IdentityMemo()
    claims = dict(CLAIMS)
    first = memo.identity(claims, "session", "tok")
    refreshed = dict(CLAIMS, email="b@example.com")  # a refresh makes a new record and dict
    assert memo.identity(refreshed, "session", "tok2").email == "b@example.com"
    assert memo.identity(claims, "session", "other").id_token == "other"
    assert memo.identity(claims, "bearer", "tok").source == "bearer"
    assert first.email == "a@example.com"


def test_it_is_bounded() -> None:
    memo = IdentityMemo(size=2)
    kept = [dict(CLAIMS, sub=f"u{n}") for n in range(5)]  # kept alive: ids stay distinct
    for claims in kept:
        assert memo.identity(claims, "bearer", "t").sub == claims["sub"]
    assert len(memo._entries) == 2
