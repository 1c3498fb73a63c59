"""RFC 8725 (JSON Web Token Best Current Practices), one test per section, against a running
sidecar whose provider is the lying provider (so the test holds the signing keys)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from sidecar.config.settings import ConfigError, load_settings
from tests.security.bearer import assert_refused, present
from tests.security.jose import (
    b64url,
    b64url_json,
    compact,
    hmac_signed,
    jwe_lookalike,
    public_jwk,
    public_pem,
    self_signed_der,
    unsecured,
)


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


async def test_rfc8725_control_honest_tokens_are_accepted(lying_sidecar, lying_provider):
    """The baseline every refusal below is measured against: RS256 and ES256 pass."""
    for alg in ("RS256", "ES256"):
        answer = await present(lying_sidecar.url, lying_provider.signer.token(alg=alg))
        assert answer.status == 200, (alg, answer)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
async def test_rfc8725_2_1_3_1_alg_none_refused(lying_sidecar, lying_provider, alg):
    """Section 2.1 / 3.1: an unsecured JWS must never be accepted, whatever the spelling, even
    carrying a known `kid` and the original signature."""
    signer = lying_provider.signer
    header = {"alg": alg, "typ": "JWT", "kid": signer.rsa_kid}
    assert_refused(await present(lying_sidecar.url, unsecured(header, signer.claims())))
    honest_signature = signer.token().rsplit(".", 1)[1]
    with_signature = unsecured(header, signer.claims()) + honest_signature
    assert_refused(await present(lying_sidecar.url, with_signature))


@pytest.mark.parametrize("encoding", ["pem", "pem-no-newline", "jwk-json", "der-b64"])
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_rfc8725_3_1_hmac_keyed_with_the_public_key_refused(
    lying_sidecar, lying_provider, encoding, alg
):
    """Section 3.1 (algorithm confusion, CVE-2015-9235 class): an HMAC token whose secret is
    the provider's *public* key, in every form a naive verifier might feed to HMAC."""
    signer = lying_provider.signer
    pem = public_pem(signer.rsa_key)
    secrets_by_encoding = {
        "pem": pem,
        "pem-no-newline": pem.rstrip(b"\n"),
        "jwk-json": json.dumps(public_jwk(signer.rsa_key, signer.rsa_kid)).encode(),
        "der-b64": base64.b64encode(base64.b64decode(b"".join(pem.splitlines()[1:-1]))),
    }
    header = {"alg": alg, "typ": "JWT", "kid": signer.rsa_kid}
    token = hmac_signed(header, signer.claims(), secrets_by_encoding[encoding])
    assert_refused(await present(lying_sidecar.url, token))


@pytest.mark.parametrize(
    ("alg", "kid_of"),
    [
        ("ES256", "rsa"),  # an EC algorithm naming an RSA key
        ("RS256", "ec"),  # an RSA algorithm naming an EC key
        ("PS256", "rsa"),  # RSA-PSS: fits the key, but not in the allow-list
        ("RS384", "rsa"),
        ("RS512", "rsa"),
        ("ES384", "ec"),
    ],
)
async def test_rfc8725_3_2_only_allowed_algorithms_that_fit_the_key(
    lying_sidecar, lying_provider, alg, kid_of
):
    """Section 3.2: algorithms come from the configured list (RS256,ES256 by default) and must
    fit the key the `kid` names (jwks.SigningKey.fits). The signature is genuine where the
    key can make one, so only the algorithm rule can refuse it."""
    signer = lying_provider.signer
    kid = signer.rsa_kid if kid_of == "rsa" else signer.ec_kid
    if alg.startswith("ES"):
        key = signer.ec_key
        if alg == "ES384":
            from cryptography.hazmat.primitives.asymmetric import ec

            key = ec.generate_private_key(ec.SECP384R1())
    else:
        key = signer.rsa_key
    token = compact({"alg": alg, "typ": "JWT", "kid": kid}, signer.claims(), key, alg)
    assert_refused(await present(lying_sidecar.url, token))


async def test_rfc8725_3_2_configured_extra_algorithm_is_honoured(
    lying_sidecar_factory, lying_provider
):
    """The counterpart: the allow-list is what decides, so PS256 passes once configured."""
    running = await lying_sidecar_factory({"oidc": {"algorithms": "RS256,PS256"}})
    signer = lying_provider.signer
    token = compact(
        {"alg": "PS256", "kid": signer.rsa_kid}, signer.claims(), signer.rsa_key, "PS256"
    )
    assert (await present(running.url, token)).status == 200


@pytest.mark.parametrize("algorithms", ["none", "HS256", "RS256,HS512", "hs384", "RS256,None"])
def test_rfc8725_3_2_config_refuses_none_and_hmac(tmp_path, algorithms):
    """Section 3.2: `none` and shared-secret algorithms cannot even be configured."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "oidc: {issuer: 'http://127.0.0.1:1', client_id: c, client_secret: s, "
        f"algorithms: '{algorithms}'}}\npublic_url: 'http://127.0.0.1:2'\n"
        f"session: {{secret: '{b64url(bytes(32))}'}}\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(str(config), environ={})
    assert any("oidc.algorithms" in problem for problem in refused.value.problems)


@pytest.mark.parametrize(
    "tamper",
    [
        "flip-bit",
        "truncate",
        "empty",
        "extend",
        "other-token",
        "standard-b64",
        "padded",
        "junk-char",
        "whitespace",
    ],
)
async def test_rfc8725_3_3_tampered_signature_refused(lying_sidecar, lying_provider, tamper):
    """Section 3.3: every cryptographic operation is validated; a broken signature is never
    tolerated, whatever shape the damage takes. That includes a *non-canonical* encoding of
    the right signature (padding, characters a lenient base64 decoder skips): RFC 7515
    section 2 defines BASE64URL without padding, and accepting variants makes one token many
    strings (malleability: a deny-list or a cache keyed by the token is bypassed)."""
    signer = lying_provider.signer
    token = signer.token()
    head, signature = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    if tamper == "flip-bit":
        raw[len(raw) // 2] ^= 0x01
        forged = f"{head}.{b64url(bytes(raw))}"
    elif tamper == "truncate":
        forged = f"{head}.{b64url(bytes(raw[:-1]))}"
    elif tamper == "empty":
        forged = f"{head}."
    elif tamper == "extend":
        forged = f"{head}.{b64url(bytes(raw) + bytes(1))}"
    elif tamper == "other-token":
        forged = f"{head}.{signer.token(sub='someone-else').rsplit('.', 1)[1]}"
    elif tamper == "standard-b64":
        forged = f"{head}.{base64.b64encode(bytes(raw)).decode()}"
    elif tamper == "padded":
        forged = f"{token}=="
    elif tamper == "junk-char":
        forged = f"{head}.{signature[:10]}*{signature[10:]}"
    else:
        forged = f"{head}.{signature[:10]} {signature[10:]}"
    if forged != token:
        assert_refused(await present(lying_sidecar.url, forged))


@pytest.mark.parametrize("change", ["groups", "sub", "exp", "whitespace", "header-kid"])
async def test_rfc8725_3_3_tampered_payload_or_header_refused(
    lying_sidecar, lying_provider, change
):
    """Section 3.3: the signature covers header and payload byte for byte, so a payload
    promoted to `admins`, or merely re-serialized, is refused with the original signature."""
    signer = lying_provider.signer
    token = signer.token()
    header, claims, signature = _split(token)
    if change == "groups":
        claims["groups"] = ["admins"]
    elif change == "sub":
        claims["sub"] = "admin"
    elif change == "exp":
        claims["exp"] += 3600
    elif change == "header-kid":
        header["typ"] = "at+jwt"
    payload = (
        base64.urlsafe_b64encode(json.dumps(claims, indent=1).encode()).rstrip(b"=").decode()
        if change == "whitespace"
        else b64url_json(claims)
    )
    forged = f"{b64url_json(header)}.{payload}.{signature}"
    answer = await present(lying_sidecar.url, forged, path="/admin/x")
    assert_refused(answer)


async def test_rfc8725_3_3_foreign_key_under_a_known_kid_refused(
    lying_sidecar, lying_provider, attacker_keys
):
    """Section 3.3: a well-formed token signed by someone else's key, claiming the provider's
    `kid`."""
    signer = lying_provider.signer
    for alg, key, kid in (
        ("RS256", attacker_keys.rsa_key, signer.rsa_kid),
        ("ES256", attacker_keys.ec_key, signer.ec_kid),
    ):
        token = compact({"alg": alg, "kid": kid}, signer.claims(groups=["admins"]), key, alg)
        assert_refused(await present(lying_sidecar.url, token))


@pytest.mark.parametrize(
    "iss",
    ["http://evil.example", "{issuer}/", "{issuer}/x", "{upper}", ["{issuer}"], None, "", 1],
)
async def test_rfc8725_3_8_issuer_must_match_exactly(lying_sidecar, lying_provider, iss):
    """Section 3.8: `iss` is compared exactly (no trailing-slash, case or prefix leniency);
    a token without one is refused."""
    issuer = lying_provider.issuer

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(issuer=issuer, upper=issuer.upper())
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    claims: dict[str, Any] = {"iss": fill(iss)}
    if iss is None:
        claims = {"iss": None}
    token = lying_provider.signer.token(**claims)
    assert_refused(await present(lying_sidecar.url, token))


@pytest.mark.parametrize("sub", [None, "", 123, ["a"], {"a": 1}, True])
async def test_rfc8725_3_8_subject_required_and_a_string(lying_sidecar, lying_provider, sub):
    """Section 3.8: the subject is what identity headers carry; a token without a usable
    `sub` is refused (it would otherwise become an anonymous "authenticated" request)."""
    token = lying_provider.signer.token(sub=sub)
    if sub is None:
        token = lying_provider.signer.token(sub=None)
    assert_refused(await present(lying_sidecar.url, token))


@pytest.mark.parametrize(
    "aud", ["other-app", ["other-app"], [], "", "SIDECAR", "sidecar ", "sidecar,other", None]
)
async def test_rfc8725_3_9_audience_must_be_accepted(lying_sidecar, lying_provider, aud):
    """Section 3.9: a token minted for another relying party of the same issuer is refused;
    the audience is matched exactly, and is required."""
    token = lying_provider.signer.token(aud=aud)
    assert_refused(await present(lying_sidecar.url, token))


HOSTILE_KIDS: list[Any] = [
    "../../../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "/dev/random",
    "' OR '1'='1",
    "1; DROP TABLE keys --",
    "$(touch /tmp/pwned)",
    "\x00rsa-1",
    "rsa-1\x00",
    "rsa-1 ",
    "RSA-1",
    "http://127.0.0.1:1/keys",
    "k" * 4000,  # huge, yet the token stays under the 8 KiB limit
    "",
    123,
    ["rsa-1"],
    {"kid": "rsa-1"},
]


async def test_rfc8725_3_10_kid_is_untrusted_input(lying_sidecar, lying_provider):
    """Section 3.10: `kid` is attacker input. Path traversal, SQL-ish and shell-ish values,
    near-misses of a real kid, a huge kid and non-strings are all refused as 401, and a flood
    of unknown kids costs the provider at most one JWKS refetch (CONTRACT: one per 10 s). (No
    `kid` at all is OIDC Core 10.1's case: tests/security/test_hostile_provider.py.)"""
    signer = lying_provider.signer
    jwks_before = lying_provider.hits["/keys"]
    for kid in HOSTILE_KIDS:
        header = {"alg": "RS256", "typ": "JWT", "kid": kid}
        token = compact(header, signer.claims(), signer.rsa_key, "RS256")
        assert_refused(await present(lying_sidecar.url, token))
    assert lying_provider.hits["/keys"] - jwks_before <= 1
    assert (await present(lying_sidecar.url, signer.token())).status == 200
    # A kid that pushes the token past 8 KiB: CONTRACT "Status codes", 400 and not a 500.
    oversized = compact(
        {"alg": "RS256", "kid": "k" * 9000}, signer.claims(), signer.rsa_key, "RS256"
    )
    assert (await present(lying_sidecar.url, oversized)).status == 400


async def test_rfc8725_3_11_explicit_typing_and_cross_jwt_confusion(
    lying_sidecar, lying_provider, echo_upstream
):
    """Section 3.11. An id token has no `typ` of its own (Dex sets none; OIDC defines none), so
    a bearer token's `typ` is absent or `JWT`; the kinds that have one (`logout+jwt`,
    `token-exchange+jwt`) and any other are refused, and so is a token with `events` (the
    provider's back-channel logout tokens: tests/security/test_token_confusion.py). The
    sidecar's own `X-Auth-Assertion` is plainly typed too: it is told apart by its `iss`
    (public_url), its `aud` (the upstream) and its key, never in the provider's JWKS.
    Replaying an assertion the upstream received as a bearer token must therefore fail."""
    signer = lying_provider.signer
    assert (await present(lying_sidecar.url, signer.token(header={"typ": None}))).status == 200
    assert (await present(lying_sidecar.url, signer.token())).status == 200
    for typ in ("logout+jwt", "token-exchange+jwt", "at+jwt", "secevent+jwt"):
        assert_refused(await present(lying_sidecar.url, signer.token(header={"typ": typ})))
    echoed = dict((k.lower(), v) for k, v in echo_upstream.last()["headers"])
    assertion = echoed["x-auth-assertion"]
    assert_refused(await present(lying_sidecar.url, assertion))


@pytest.mark.parametrize("carrier", ["jku", "x5u", "jwk", "x5c"])
async def test_rfc8725_3_12_key_carrying_headers_never_followed(
    lying_sidecar, lying_provider, attacker_keys, attacker_server, carrier
):
    """RFC 8725 section 3.12 / RFC 7515 sections 4.1.2-4.1.6: a token may not bring its own
    key. The attacker signs with their key and points at it (`jku`/`x5u`, served by a counting
    server) or embeds it (`jwk`/`x5c`). Refused, and the attacker's server is never called."""
    attacker_kid = attacker_keys.rsa_kid
    carriers = {
        "jku": {"jku": f"{attacker_server.url}/jwks.json", "kid": attacker_kid},
        "x5u": {"x5u": f"{attacker_server.url}/cert.pem", "kid": attacker_kid},
        "jwk": {"jwk": public_jwk(attacker_keys.rsa_key, attacker_kid), "kid": attacker_kid},
        "x5c": {
            "x5c": [base64.b64encode(self_signed_der(attacker_keys.rsa_key)).decode()],
            "kid": attacker_kid,
        },
    }
    header = {"alg": "RS256", "typ": "JWT", **carriers[carrier]}
    claims = lying_provider.signer.claims(groups=["admins"])
    forged = compact(header, claims, attacker_keys.rsa_key, "RS256")
    assert_refused(await present(lying_sidecar.url, forged, path="/admin/x"))
    # Even with the provider's kid and a genuine signature, the header is not consulted.
    honest = lying_provider.signer.token(header={carrier: carriers[carrier][carrier]})
    assert_refused(await present(lying_sidecar.url, honest))
    assert sum(attacker_server.hits.values()) == 0, attacker_server.hits


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "rsa-1"},
        {"alg": "dir", "enc": "A128CBC-HS256"},
        {"alg": "RSA1_5", "enc": "A128GCM", "kid": "rsa-1", "cty": "JWT"},
    ],
)
async def test_rfc8725_2_8_3_12_jwe_not_accepted(lying_sidecar, header):
    """RFC 8725 sections 2.8 and 3.12, RFC 7516: compact JWS only; an encrypted token (five
    segments), nested or not, is refused without any decryption attempt."""
    assert_refused(await present(lying_sidecar.url, jwe_lookalike(header)))


@pytest.mark.parametrize("segments", [1, 2, 4, 6])
async def test_rfc8725_3_3_wrong_segment_counts_refused(lying_sidecar, lying_provider, segments):
    parts = lying_provider.signer.token().split(".")
    forged = ".".join((parts * 2)[:segments])
    assert_refused(await present(lying_sidecar.url, forged))


@pytest.mark.parametrize("crit", [["exp"], ["b64"], ["urn:example:unknown"], "exp", []])
async def test_rfc7515_4_1_11_crit_header_refused(lying_sidecar, lying_provider, crit):
    """RFC 7515 section 4.1.11: a `crit` extension the recipient does not understand makes
    the JWS invalid. The sidecar understands none, so any `crit` is refused (RFC 7797's
    unencoded payload, `b64`, included)."""
    token = lying_provider.signer.token(header={"crit": crit, "b64": True})
    assert_refused(await present(lying_sidecar.url, token))
