from webhooks.models import SignatureResult
from calcom.signatures import sign_body, verify_signature

# PROTOCOL.md §7: verified with Node's crypto.createHmac and Python's hmac.
VECTOR_SECRET = "whsec_test_123"
VECTOR_BODY = (
    b'{"triggerEvent":"PING","createdAt":"2025-06-01T09:00:00.000Z","payload":{"type":"Test",'
    b'"title":"Test trigger event","description":"","startTime":"2025-06-01T09:00:00.000Z",'
    b'"endTime":"2025-06-01T09:00:00.000Z","attendees":[{"email":"jdoe@example.com",'
    b'"name":"John Doe","timeZone":"Europe/London","language":{"locale":"en"},"utcOffset":60}],'
    b'"organizer":{"name":"Cal","email":"no-reply@cal.com","timeZone":"Europe/London",'
    b'"language":{"locale":"en"},"utcOffset":60}}}'
)
VECTOR_SIGNATURE = "0b9797fb4f52658339aefe39041137dc7938083cfe5319ca03ac47612424beb1"


def test_protocol_test_vector():
    assert sign_body(body=VECTOR_BODY, secret=VECTOR_SECRET) == VECTOR_SIGNATURE
    assert verify_signature(body=VECTOR_BODY, signature=VECTOR_SIGNATURE,
                            secrets=[VECTOR_SECRET]) == SignatureResult.VALID


def test_any_configured_secret_is_accepted():
    assert verify_signature(body=VECTOR_BODY, signature=VECTOR_SIGNATURE,
                            secrets=["other", VECTOR_SECRET]) == SignatureResult.VALID


def test_uppercase_hex_is_accepted():
    assert verify_signature(body=VECTOR_BODY, signature=VECTOR_SIGNATURE.upper(),
                            secrets=[VECTOR_SECRET]) == SignatureResult.VALID


def test_rejections():
    secrets = [VECTOR_SECRET]
    assert verify_signature(body=VECTOR_BODY, signature=None, secrets=secrets) == SignatureResult.MISSING
    assert verify_signature(body=VECTOR_BODY, signature="", secrets=secrets) == SignatureResult.MISSING
    assert (verify_signature(body=VECTOR_BODY, signature="no-secret-provided", secrets=secrets)
            == SignatureResult.NO_SECRET_PROVIDED)
    assert verify_signature(body=VECTOR_BODY + b" ", signature=VECTOR_SIGNATURE,
                            secrets=secrets) == SignatureResult.INVALID
    assert verify_signature(body=VECTOR_BODY, signature="sha256=" + VECTOR_SIGNATURE,
                            secrets=secrets) == SignatureResult.INVALID
    assert verify_signature(body=VECTOR_BODY, signature="é" * 64, secrets=secrets) == SignatureResult.INVALID


def test_no_secret_configured_is_unverified():
    assert verify_signature(body=VECTOR_BODY, signature=None, secrets=["", ""]) == SignatureResult.UNVERIFIED
