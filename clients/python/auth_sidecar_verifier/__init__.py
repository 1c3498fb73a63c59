"""Verify the auth-sidecar's `X-Auth-Assertion` in an upstream (see README.md)."""

from auth_sidecar_verifier.claims import Claims
from auth_sidecar_verifier.errors import KeySetUnavailable, Reason, VerificationError
from auth_sidecar_verifier.verifier import Verifier

HEADER = "X-Auth-Assertion"

__all__ = ["HEADER", "Claims", "KeySetUnavailable", "Reason", "VerificationError", "Verifier"]
