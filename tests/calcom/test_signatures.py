from calcom.signatures import sign_body, verify_signature
from tests.support.signing import VECTOR_BODY, VECTOR_SECRET, VECTOR_SIGNATURE
from webhooks.models import SignatureResult


def test_protocol_test_vector():
    assert sign_body(body=VECTOR_BODY, secret=VECTOR_SECRET) == VECTOR_SIGNATURE
    assert (
        verify_signature(body=VECTOR_BODY, signature=VECTOR_SIGNATURE, secrets=[VECTOR_SECRET])
        == SignatureResult.VALID
    )


def test_any_configured_secret_is_accepted():
    assert (
        verify_signature(body=VECTOR_BODY, signature=VECTOR_SIGNATURE, secrets=["other", VECTOR_SECRET])
        == SignatureResult.VALID
    )


def test_uppercase_hex_is_accepted():
    assert (
        verify_signature(body=VECTOR_BODY, signature=VECTOR_SIGNATURE.upper(), secrets=[VECTOR_SECRET])
        == SignatureResult.VALID
    )


def test_rejections():
    secrets = [VECTOR_SECRET]
    assert verify_signature(body=VECTOR_BODY, signature=None, secrets=secrets) == SignatureResult.MISSING
    assert verify_signature(body=VECTOR_BODY, signature="", secrets=secrets) == SignatureResult.MISSING
    assert (
        verify_signature(body=VECTOR_BODY, signature="no-secret-provided", secrets=secrets)
        == SignatureResult.NO_SECRET_PROVIDED
    )
    assert (
        verify_signature(body=VECTOR_BODY + b" ", signature=VECTOR_SIGNATURE, secrets=secrets)
        == SignatureResult.INVALID
    )
    assert (
        verify_signature(body=VECTOR_BODY, signature="sha256=" + VECTOR_SIGNATURE, secrets=secrets)
        == SignatureResult.INVALID
    )
    assert verify_signature(body=VECTOR_BODY, signature="é" * 64, secrets=secrets) == SignatureResult.INVALID


def test_no_secret_configured_is_unverified():
    assert verify_signature(body=VECTOR_BODY, signature=None, secrets=["", ""]) == SignatureResult.UNVERIFIED
