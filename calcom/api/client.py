"""The one way VANI talks to Cal.com's management API.

Every call to Cal.com goes through `CalComClient.request`: it adds the credentials (API v2:
`Authorization: Bearer`; the legacy API v1: the `apiKey` query parameter), applies a timeout,
retries 429/5xx answers and network errors with exponential backoff (honouring `Retry-After`),
and turns failures into typed `CalComError`s that carry the HTTP status and Cal.com's own message.

The API key never reaches a log line or an exception message: v1 puts it in the URL, so every
URL and library error text is passed through `redact()` first, and urllib3's debug log of
request lines is filtered the same way.

This module is the transport only; each resource has its own module beside it (`webhooks.py`,
`bookings.py`) whose functions take the client as `client=`. API v2 answers `{status, data}`
(`v2_data` unwraps it); API v1 answers with the resource's own key.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal
from urllib.parse import quote

import requests
from django.conf import settings

from common.backoff import backoff_seconds

logger = logging.getLogger(__name__)

ApiVersion = Literal["v2", "v1"]

# Cal.com's list endpoints accept at most this many items per page (SkipTakePagination).
MAX_PAGE_SIZE = 250
# A server that ignores `skip` would otherwise make us page forever.
MAX_PAGES = 1000
# Never wait longer than this for one Retry-After, whatever the server asks for.
MAX_RETRY_AFTER_SECONDS = 60.0

USER_AGENT = "vani-calcom-client/1.0"

# Methods whose repetition has the same effect as one call: safe to retry after any failure.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
# Answers that say the request was not processed, so even a POST may be sent again.
NOT_PROCESSED_STATUSES = frozenset({429, 503})

_API_KEY_IN_TEXT = re.compile(r"(apiKey=)[^&\s'\"<>)]*", re.IGNORECASE)
_BEARER_IN_TEXT = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
_ERRNO_IN_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def redact(text: str, *, secrets: tuple[str, ...] = ()) -> str:
    """`text` with API keys (query parameter, bearer token, or any of `secrets`) masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _API_KEY_IN_TEXT.sub(r"\1***", text)
    return _BEARER_IN_TEXT.sub(r"\1***", text)


class _RedactApiKeyFilter(logging.Filter):
    """urllib3 logs full request lines at DEBUG, and the v1 URL carries `apiKey=`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactApiKeyFilter())


# An id that goes into a URL path (booking uid, webhook id): RFC 3986 unreserved characters only.
# Cal.com's own uids and ids fit; anything else would let a caller steer the request elsewhere.
_PATH_SEGMENT_RE = re.compile(r"[A-Za-z0-9._~-]{1,255}")

# --- Errors -----------------------------------------------------------------------------------


class InvalidPathSegment(ValueError):
    """An id that cannot name one Cal.com object in a URL path; nothing was sent."""


def path_segment(*, value: str) -> str:
    """`value` as one URL path segment, or InvalidPathSegment.

    `.` and `..` are refused: URL normalisation turns `/v2/bookings/..` into another endpoint
    (the account's whole booking list). The allowlist needs no escaping; quoting stays as a
    second guard.
    """
    text = str(value)
    if text in (".", "..") or not _PATH_SEGMENT_RE.fullmatch(text):
        raise InvalidPathSegment(
            f"{text[:80]!r} is not a Cal.com id (letters, digits, '-', '_', '.', '~'; not '.' or '..')"
        )
    return quote(text, safe="")


class CalComError(Exception):
    """Any failure talking to Cal.com. `status` is None when no HTTP answer was received."""

    hint = ""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        method: str = "",
        path: str = "",
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.method = method
        self.path = path
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f"HTTP {self.status}" if self.status is not None else ""
        prefix = ", ".join(part for part in (where, status) if part)
        text = f"Cal.com API error ({prefix}): {self.message}" if prefix else self.message
        return f"{text} — {self.hint}" if self.hint else text


class CalComConfigurationError(CalComError):
    hint = "create a key in Cal.com → Settings → Developer → API keys"


class CalComAuthError(CalComError):
    """401/403: the key is wrong, expired, or not allowed to do this."""

    hint = "check CAL_COM_API_KEY (and CAL_COM_API_URL for self-hosted Cal.com)"


class CalComNotFoundError(CalComError):
    pass


class CalComConflictError(CalComError):
    pass


class CalComValidationError(CalComError):
    """400/422: Cal.com refused the request body or parameters."""


class CalComUnavailableError(CalComError):
    """Cal.com could not be reached, timed out, or kept answering 5xx after every retry."""

    hint = "Cal.com is unreachable or failing; try again later (check CAL_COM_API_URL)"


class CalComRateLimitedError(CalComUnavailableError):
    hint = "Cal.com is rate limiting this API key; try again later"


class CalComBadResponseError(CalComError):
    """Cal.com answered 2xx with something that is not the documented JSON."""


def _error_class_for(status: int) -> type[CalComError]:
    if status in (400, 422):
        return CalComValidationError
    if status in (401, 403):
        return CalComAuthError
    if status == 404:
        return CalComNotFoundError
    if status == 409:
        return CalComConflictError
    if status == 429:
        return CalComRateLimitedError
    if status >= 500:
        return CalComUnavailableError
    return CalComError


# --- The client -------------------------------------------------------------------------------


class CalComClient:
    """HTTP client for Cal.com's management API.

    `api_url` is the API origin (`https://api.cal.com`, or a self-hosted one); paths passed to
    `request` start with `/v2/` or `/v1/`.
    """

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        timeout_seconds: float = 10.0,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise CalComConfigurationError("CAL_COM_API_KEY is not set")
        self.api_url = api_url.rstrip("/")
        self._api_key = api_key
        self.timeout_seconds = timeout_seconds
        self.max_retries = max(0, max_retries)
        self.backoff_seconds = max(0.0, backoff_seconds)
        self._session = session or requests.Session()
        self._sleep = sleep  # injectable so tests can observe backoff without waiting
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})

    def __repr__(self) -> str:  # the key stays out of debug output too
        return f"CalComClient(api_url={self.api_url!r})"

    @classmethod
    def from_settings(
        cls,
        *,
        timeout_seconds: float | None = None,
        max_retries: int | None = None,
    ) -> CalComClient:
        return cls(
            api_url=settings.CAL_COM_API_URL,
            api_key=settings.CAL_COM_API_KEY,
            timeout_seconds=(
                timeout_seconds if timeout_seconds is not None else settings.CAL_COM_API_TIMEOUT
            ),
            max_retries=max_retries if max_retries is not None else settings.CAL_COM_API_MAX_RETRIES,
            backoff_seconds=settings.CAL_COM_API_BACKOFF_SECONDS,
        )

    # -- generic ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry_unsafe: bool = False,
    ) -> Any:
        """Send one API call and return the decoded JSON body (None for an empty body).

        Retries 429/5xx answers and network errors up to `max_retries` times. A POST is only
        repeated when Cal.com cannot have acted on it (429/503, connection not established),
        unless `retry_unsafe` says the caller made it safe to repeat (e.g. an idempotency key).
        Raises a `CalComError` subclass on failure.
        """
        method = method.upper()
        if not path.startswith("/"):
            path = "/" + path
        query = dict(params or {})
        request_headers = dict(headers or {})
        if path.startswith("/v1/"):
            # API v1 only knows the query parameter.
            query["apiKey"] = self._api_key
        else:
            request_headers["Authorization"] = f"Bearer {self._api_key}"
        may_repeat = retry_unsafe or method in IDEMPOTENT_METHODS

        attempt = 0
        while True:
            started = time.monotonic()
            try:
                response = self._session.request(
                    method,
                    self.api_url + path,
                    params=query or None,
                    json=json,
                    headers=request_headers,
                    timeout=self.timeout_seconds,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                reason = self._describe_network_error(exc)
                repeatable = may_repeat or _connection_not_established(exc)
                if repeatable and attempt < self.max_retries:
                    delay = self._backoff_delay(attempt=attempt)
                    logger.warning(
                        "Cal.com API %s %s failed (%s); retrying in %.2fs (retry %d of %d)",
                        method,
                        path,
                        reason,
                        delay,
                        attempt + 1,
                        self.max_retries,
                    )
                    self._sleep(delay)
                    attempt += 1
                    continue
                # `from None`: the library exception's text and traceback contain the full URL.
                raise CalComUnavailableError(
                    f"could not reach Cal.com at {self.api_url}: {reason}",
                    method=method,
                    path=path,
                ) from None

            elapsed_ms = (time.monotonic() - started) * 1000
            logger.debug("Cal.com API %s %s → %s in %.0fms", method, path, response.status_code, elapsed_ms)
            status = response.status_code
            retryable_status = status == 429 or status >= 500
            if (
                retryable_status
                and attempt < self.max_retries
                and (may_repeat or status in NOT_PROCESSED_STATUSES)
            ):
                retry_after = self._retry_after_delay(response=response)
                delay = self._backoff_delay(attempt=attempt) if retry_after is None else retry_after
                logger.warning(
                    "Cal.com API %s %s answered %s; retrying in %.2fs (retry %d of %d)",
                    method,
                    path,
                    status,
                    delay,
                    attempt + 1,
                    self.max_retries,
                )
                self._sleep(delay)
                attempt += 1
                continue
            return self._decode(response=response, method=method, path=path)

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Any]:
        """Yield every item of an API v2 list endpoint (`take`/`skip`, `{data: [...]}`).

        Cal.com returns no total count, so we page until a page is shorter than `take`.
        """
        take = max(1, min(page_size, MAX_PAGE_SIZE))
        skip = 0
        for _page in range(MAX_PAGES):
            body = self.request("GET", path, params={**(params or {}), "take": take, "skip": skip})
            items = v2_data(body=body, method="GET", path=path)
            if not isinstance(items, list):
                raise CalComBadResponseError("expected a list in `data`", status=200, method="GET", path=path)
            yield from items
            if len(items) < take:
                return
            skip += take
        raise CalComBadResponseError(
            f"more than {MAX_PAGES} pages; the server seems to ignore `skip`",
            method="GET",
            path=path,
        )

    # -- internals -------------------------------------------------------------------------

    def _decode(self, *, response: requests.Response, method: str, path: str) -> Any:
        status = response.status_code
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
        if 200 <= status < 300:
            if response.content and body is None:
                raise CalComBadResponseError(
                    f"answer is not JSON: {self._snippet(response=response)}",
                    status=status,
                    method=method,
                    path=path,
                )
            return body
        if 300 <= status < 400:
            # We never follow redirects: they would carry the key to wherever they point.
            raise CalComError(
                f"unexpected redirect to {redact(response.headers.get('Location', '?'))}"
                " (is CAL_COM_API_URL the API origin, e.g. https://api.cal.com?)",
                status=status,
                method=method,
                path=path,
            )
        message, code = self._error_message(body=body, response=response)
        raise _error_class_for(status)(message, status=status, code=code, method=method, path=path)

    def _error_message(self, *, body: Any, response: requests.Response) -> tuple[str, str]:
        """Cal.com's own words: v2 `{error: {code, message, details}}`, v1 `{message}`."""
        message, code = "", ""
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                code = str(error.get("code") or "")
                message = str(error.get("message") or "")
                details = error.get("details")
                detail_messages = details.get("message") if isinstance(details, dict) else None
                # Validation errors list every failing field in details.message.
                if isinstance(detail_messages, list) and detail_messages:
                    message = "; ".join(str(item) for item in detail_messages)
            elif isinstance(error, str):
                message = error
            if not message and body.get("message"):
                message = str(body["message"])
        if not message:
            message = self._snippet(response=response) or response.reason or "no details"
        return self._one_line(message), code

    def _snippet(self, *, response: requests.Response) -> str:
        return self._one_line(response.text[:200])

    def _one_line(self, text: str) -> str:
        return redact(" ".join(text.split()), secrets=(self._api_key,))

    def _describe_network_error(self, exc: requests.RequestException) -> str:
        if isinstance(exc, requests.Timeout):
            return f"timed out after {self.timeout_seconds:g}s"
        found = _ERRNO_IN_TEXT.search(str(exc))
        if found:
            return self._one_line(found.group(1)).lower()
        if isinstance(exc, requests.exceptions.SSLError):
            return "TLS error"
        if isinstance(exc, requests.ConnectionError):
            return "connection failed"
        return self._one_line(type(exc).__name__)

    def _backoff_delay(self, *, attempt: int) -> float:
        # Exponential with jitter so that parallel clients do not retry in lockstep.
        return backoff_seconds(retry=attempt, base=self.backoff_seconds)

    def _retry_after_delay(self, *, response: requests.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            seconds = float(value)
        else:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            seconds = when.timestamp() - time.time()
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _connection_not_established(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached Cal.com (safe to send again)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        return "NewConnectionError" in repr(exc.args) or "NameResolutionError" in repr(exc.args)
    return False


def v2_data(*, body: Any, method: str, path: str) -> Any:
    """The `data` of an API v2 answer, or CalComBadResponseError when the answer has none."""
    if not isinstance(body, dict) or "data" not in body:
        raise CalComBadResponseError(
            "expected {status: 'success', data: ...}", status=200, method=method, path=path
        )
    return body["data"]
