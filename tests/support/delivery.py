"""Where Cal.com delivers, and the signing secret the suite configures (see the `webhook_secret` fixture)."""

from __future__ import annotations

WEBHOOK_URL = "/api/webhooks/cal-com"
TEST_SECRET = "whsec_test_secret_for_the_suite"
