"""`sidecar/sessions/ticket.py`: the ticket in the cookie, its store keys, and AEAD sealing."""

from __future__ import annotations

import base64
import secrets

import pytest

from sidecar.sessions.ticket import TICKET_BYTES, Sealer, Ticket


def secret() -> bytes:
    return secrets.token_bytes(32)


def test_cookie_round_trip_gives_the_same_ticket():
    ticket = Ticket.new()
    again = Ticket.from_cookie(ticket.cookie_value())
    assert again is not None
    assert again.value == ticket.value
    assert again.store_key("session") == ticket.store_key("session")


def test_every_new_ticket_is_different_and_256_bits():
    tickets = {Ticket.new().value for _ in range(1000)}
    assert len(tickets) == 1000
    assert all(len(value) == TICKET_BYTES == 32 for value in tickets)


@pytest.mark.parametrize(
    "cookie",
    [
        "",
        "v1.",
        "v1.short",
        "v2." + "A" * 43,  # unknown version
        "A" * 46,  # no version prefix
        "v1." + "A" * 42,  # truncated by one character
        "v1." + "A" * 44,  # one character too many (33 bytes)
        "v1." + "A" * 100,  # oversized
        "v1." + "!" * 43,  # not base64
        "v1." + "A" * 41 + "=",  # padding in the middle of nowhere
        "v1.\u00e9" + "A" * 42,  # non-ASCII
    ],
)
def test_forged_or_truncated_cookies_are_none(cookie):
    assert Ticket.from_cookie(cookie) is None


def test_a_truncated_real_cookie_is_none():
    cookie = Ticket.new().cookie_value()
    for cut in (1, 2, 10, len(cookie) - 3):
        assert Ticket.from_cookie(cookie[:-cut]) is None


def test_store_keys_never_contain_the_ticket():
    ticket = Ticket.new()
    key = ticket.store_key("session")
    payload = ticket.cookie_value().removeprefix("v1.")
    assert payload not in key
    assert ticket.value.hex() not in key
    assert base64.b64encode(ticket.value).decode() not in key
    # One hash tag per ticket (one Redis Cluster slot), distinct kinds under it.
    assert key.startswith("sidecar:{")
    assert key.endswith("}:session")
    assert ticket.store_key("seen").split(":")[1] == key.split(":")[1]
    assert Ticket.new().store_key("session") != key


def test_seal_unseal_round_trip_and_ciphertext_hides_the_plaintext():
    sealer, ticket = Sealer([secret()]), Ticket.new()
    plaintext = b'{"id_token":"eyJhbGciOi.payload.signature"}'
    sealed = sealer.seal(ticket, "session", plaintext)
    assert plaintext not in sealed
    assert b"eyJ" not in sealed
    assert sealer.unseal(ticket, "session", sealed) == plaintext
    # A fresh nonce each time: the same plaintext never seals to the same bytes.
    assert sealer.seal(ticket, "session", plaintext) != sealed


def test_tampered_values_do_not_open():
    sealer, ticket = Sealer([secret()]), Ticket.new()
    sealed = sealer.seal(ticket, "session", b"payload")
    for index in (0, 11, 12, len(sealed) - 1):  # nonce, first ciphertext byte, tag
        flipped = bytearray(sealed)
        flipped[index] ^= 0x01
        assert sealer.unseal(ticket, "session", bytes(flipped)) is None
    assert sealer.unseal(ticket, "session", sealed[:-1]) is None
    assert sealer.unseal(ticket, "session", b"") is None
    assert sealer.unseal(ticket, "session", b"x" * 11) is None


def test_a_value_opens_only_under_its_own_ticket_and_kind():
    sealer, ticket = Sealer([secret()]), Ticket.new()
    sealed = sealer.seal(ticket, "session", b"payload")
    assert sealer.unseal(Ticket.new(), "session", sealed) is None  # needs the cookie
    assert sealer.unseal(ticket, "login", sealed) is None  # cannot be moved to another key


def test_another_secret_does_not_open():
    ticket = Ticket.new()
    sealed = Sealer([secret()]).seal(ticket, "session", b"payload")
    assert Sealer([secret()]).unseal(ticket, "session", sealed) is None


def test_rotation_first_secret_seals_every_secret_opens():
    old, new, ticket = secret(), secret(), Ticket.new()
    by_old = Sealer([old]).seal(ticket, "session", b"from before")
    rotating = Sealer([new, old])
    assert rotating.unseal(ticket, "session", by_old) == b"from before"
    by_rotating = rotating.seal(ticket, "session", b"from now")
    assert Sealer([new]).unseal(ticket, "session", by_rotating) == b"from now"
    assert Sealer([old]).unseal(ticket, "session", by_rotating) is None
    assert Sealer([new]).unseal(ticket, "session", by_old) is None  # old secret retired


def test_a_sealer_needs_a_secret_and_a_ticket_needs_32_bytes():
    with pytest.raises(ValueError, match="secret"):
        Sealer([])
    with pytest.raises(ValueError, match="length"):
        Ticket(b"x" * 31)
