"""Our subscriber URL and secrets, as the registration tests configure and expect them."""

from __future__ import annotations

BASE_URL = "https://vani.example.com"
OUR_URL = BASE_URL + "/api/webhooks/cal-com"
OTHER_URL = "https://zapier.example.net/hooks/catch/1"
DEV_SECRET = "whsec_dev_secret_value"
PROD_SECRET = "whsec_prod_secret_value"
