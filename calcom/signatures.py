"""Verify Cal.com's `X-Cal-Signature-256`: lowercase hex HMAC-SHA256 of the exact raw body."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from django.db import models

SIGNATURE_HEADER = "X-Cal-Signature-256"
NO_SECRET_SENTINEL = "no-secret-provided"


class SignatureResult(models.TextChoices):
    VALID = "valid", "Valid"
    MISSING = "missing", "Missing"
    NO_SECRET_PROVIDED = "no_secret_provided", "no-secret-provided"
    INVALID = "invalid", "Invalid"
    UNVERIFIED = "unverified", "Not verified (no secret configured)"
    NOT_CHECKED = "not_checked", "Not checked"


def sign_body(*, body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(*, body: bytes, signature: str | None, secrets: Iterable[str]) -> SignatureResult:
    """Check `signature` against every configured secret, in constant time.

    Returns UNVERIFIED when no secret is configured (development only; production refuses to
    start, see webhooks/checks.py). Cal.com's `no-secret-provided` is treated as a missing
    signature: a webhook row without a secret must not be able to write to us.
    """
    configured = [secret for secret in secrets if secret]
    if not configured:
        return SignatureResult.UNVERIFIED
    provided = (signature or "").strip()
    if not provided:
        return SignatureResult.MISSING
    if provided == NO_SECRET_SENTINEL:
        return SignatureResult.NO_SECRET_PROVIDED
    candidate = provided.lower().encode("ascii", "replace")
    # Compare against every secret (no early exit), so timing says nothing about which matched.
    matched = False
    for secret in configured:
        expected = sign_body(body=body, secret=secret).encode("ascii")
        matched |= hmac.compare_digest(expected, candidate)
    return SignatureResult.VALID if matched else SignatureResult.INVALID
