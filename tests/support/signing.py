"""Cal.com's signature test vector (a body, a secret and the signature Cal.com computes for them)."""

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
