from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class ApiUserRateThrottle(UserRateThrottle):
    """DRF's per-user throttle at `settings.API_THROTTLE_RATE`.

    DRF binds `DEFAULT_THROTTLE_RATES` when it is first imported; reading the setting on each
    request instead lets a changed setting (tests, `override_settings`) take effect.
    """

    def get_rate(self) -> str:
        return settings.API_THROTTLE_RATE
