"""A local fake of Cal.com's API for tests (nothing may call api.cal.com): webhooks AND bookings.

`FakeCalCom` is a stdlib `ThreadingHTTPServer` on 127.0.0.1 (a free port) that answers like
Cal.com does: API v2 (`Authorization: Bearer`, `{status, data}`, take/skip paging, Nest-style
errors) and the legacy API v1 (`?apiKey=`, `{webhooks: [...]}`, `{message}` errors, no
`active`/`secret` in answers). State is in memory; every request is logged (`server.requests`)
so tests can assert on method, path and body. Tests get one through the `calcom_server` fixture
(tests/conftest.py); `calcom_settings` points the Django settings at it.

Webhooks: `/v2/webhooks` and `/v1/webhooks` (list, get, create, update, delete); `add_webhook`
seeds a row.

Bookings (`cal-api-version: 2024-08-13` shapes: `start`/`end`, `attendees`, `hosts`, lower-case
`status`): `POST /v2/bookings`, `GET /v2/bookings/{uid}` and the list `GET /v2/bookings`
(`afterUpdatedAt`, `afterStart`, `beforeEnd`, `status`, `sortUpdatedAt`, `take` ≤ 100, `skip`,
and a `pagination` object with `hasNextPage`), with Nest-style errors for a missing or other
version header, a body that fails validation, an unknown event type, or a slot already taken.
`add_booking` seeds one made elsewhere (Cal.com's booking page), `put_booking` stores a booking
exactly as given (tests write the true state of a booking story), `update_booking` changes one
and moves its `updatedAt`; `before_answer` (a callable taking the stored booking) runs after a
booking is stored and before the answer is sent: tests use it to deliver the booking's webhook
first, as Cal.com can. `now` (a callable) is the server's clock for `status=past/upcoming`.

Switches: `v2_enabled = False` makes every /v2 path answer 404 (self-hosted without API v2),
`v1_enabled = False` does the same for /v1 (Cal.com's cloud since April 2026),
`fail_next(count, status=..., retry_after=...)` makes the next requests fail,
`failing_status = 503` (any status; None to stop) makes every request fail until switched off, and
`response_delay_seconds` slows every answer down (timeouts).

Extending: routes are a table of (method, path regex, handler, auth). Add one with
`server.add_route("POST", r"/v2/bookings", handler)` (checked before the built-in ones) or, for
every server, with the `@route` decorator on a subclass method. A handler gets the server, the
`StubRequest` (with `user_id` set after authentication) and the regex match, and returns a
`StubResponse`.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from django.utils.crypto import get_random_string

from calcom.dates import parse_datetime
from calcom.triggers import CALCOM_TRIGGER_EVENTS, ORGANIZATION_ONLY_TRIGGERS

Auth = Literal["v2", "v1", "none"]

# WebhookTriggerEvents as Cal.com validates it: VANI's trigger catalogue.
TRIGGER_EVENTS = frozenset(CALCOM_TRIGGER_EVENTS)
V1_WEBHOOK_FIELDS = frozenset(
    {
        "subscriberUrl",
        "eventTriggers",
        "active",
        "payloadTemplate",
        "eventTypeId",
        "secret",
        "userId",
    }
)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DEFAULT_API_KEY = "cal_test_0123456789abcdef"
DEFAULT_USER_ID = 1234

BOOKINGS_API_VERSION = "2024-08-13"
MAX_BOOKINGS_TAKE = 100
EVENT_TYPE_ID = 1180342
HOST = {
    "id": 4821,
    "name": "Alex Rivera",
    "email": "alex.rivera@example.com",
    "username": "alexrivera",
    "timeZone": "America/New_York",
}


@dataclass
class StubRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    raw_body: bytes
    body: Any  # decoded JSON, or None
    user_id: int | None = None


@dataclass
class StubResponse:
    status: int
    body: Any = None  # JSON-encoded unless `text` is given
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


Handler = Callable[["FakeCalCom", StubRequest, re.Match], StubResponse]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    handler: Handler
    auth: Auth


def route(method: str, pattern: str, *, auth: Auth = "v2") -> Callable[[Handler], Handler]:
    """Mark a `FakeCalCom` method as the handler of `method pattern` (full match)."""

    def mark(handler: Handler) -> Handler:
        handler._stub_route = (method.upper(), pattern, auth)  # type: ignore[attr-defined]
        return handler

    return mark


def vars_of_class_hierarchy(cls: type) -> list[Any]:
    """Class attributes, subclasses first, so a subclass's @route overrides its parent's."""
    seen: dict[str, Any] = {}
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            seen.setdefault(name, value)
    return list(seen.values())


def v2_error(*, status: int, code: str, message: str | list[str], path: str) -> StubResponse:
    """Nest's HttpExceptionFilter shape (API.md §1.6)."""
    text = message if isinstance(message, str) else "; ".join(message)
    return StubResponse(
        status,
        {
            "status": "error",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "path": path,
            "error": {
                "code": code,
                "message": text,
                "details": {
                    "message": message,
                    "error": code.replace("Exception", ""),
                    "statusCode": status,
                },
            },
        },
    )


def v1_error(*, status: int, message: str) -> StubResponse:
    return StubResponse(status, {"message": message})


class FakeCalCom:
    """In-memory Cal.com API on a background thread. Use `start()`/`stop()` or `with`."""

    def __init__(self, *, api_keys: dict[str, int] | None = None) -> None:
        self.api_keys: dict[str, int] = dict(api_keys or {DEFAULT_API_KEY: DEFAULT_USER_ID})
        self.webhooks: dict[str, dict[str, Any]] = {}  # id → stored row (database field names)
        self.event_types: dict[int, int] = {EVENT_TYPE_ID: 30}  # event type id → length in minutes
        self.bookings: dict[str, dict[str, Any]] = {}  # uid → booking as the API shows it
        self.before_answer: Callable[[dict[str, Any]], None] | None = None
        self.requests: list[RecordedRequest] = []
        self.v2_enabled = True
        self.v1_enabled = True
        self.response_delay_seconds = 0.0
        self.failing_status: int | None = None
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._failures: list[StubResponse] = []
        self._lock = threading.Lock()
        self._routes: list[Route] = []
        for attribute in vars_of_class_hierarchy(type(self)):
            marker = getattr(attribute, "_stub_route", None)
            if marker:
                method, pattern, auth = marker
                self._routes.append(Route(method, re.compile(pattern), attribute, auth))
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        return next(iter(self.api_keys))

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeCalCom:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_request_handler(self))
        self._httpd.daemon_threads = True
        # A short poll interval keeps stop() (which waits for one poll) fast for per-test servers.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="calcom-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeCalCom:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- test controls ---------------------------------------------------------------------

    def add_route(self, method: str, pattern: str, handler: Handler, *, auth: Auth = "v2") -> None:
        """Add a route; checked before the built-in ones, so it can also override them."""
        self._routes.insert(0, Route(method.upper(), re.compile(pattern), handler, auth))

    def fail_next(self, count: int = 1, *, status: int = 503, retry_after: str | None = None) -> None:
        """Answer the next `count` requests (any path) with `status` instead of handling them."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        failure = v2_error(
            status=status,
            code="TooManyRequestsException" if status == 429 else "ServiceUnavailableException",
            message="Too many requests" if status == 429 else "Service temporarily unavailable",
            path="",
        )
        failure.headers.update(headers)
        with self._lock:
            self._failures.extend([failure] * count)

    def add_webhook(
        self,
        *,
        subscriber_url: str,
        triggers: list[str] | tuple[str, ...] = ("BOOKING_CREATED",),
        active: bool = True,
        secret: str | None = None,
        payload_template: str | None = None,
        user_id: int = DEFAULT_USER_ID,
        event_type_id: int | None = None,
    ) -> dict[str, Any]:
        """Seed a webhook row directly (no request is logged). Returns the stored row."""
        row = {
            "id": str(uuid.uuid4()),
            "userId": user_id,
            "eventTypeId": event_type_id,
            "subscriberUrl": subscriber_url,
            "eventTriggers": list(dict.fromkeys(triggers)),
            "active": active,
            "secret": secret,
            "payloadTemplate": payload_template,
            "appId": None,
        }
        with self._lock:
            self.webhooks[row["id"]] = row
        return row

    def webhooks_for(self, *, subscriber_url: str) -> list[dict[str, Any]]:
        return [row for row in self.webhooks.values() if row["subscriberUrl"] == subscriber_url]

    @property
    def write_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.is_write]

    @property
    def booking_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path.startswith("/v2/bookings")]

    def add_booking(
        self,
        *,
        start: datetime,
        attendee_name: str = "Jane Prospect",
        attendee_email: str = "jane@prospect.example",
        status: str = "accepted",
        uid: str = "",
        **fields: Any,
    ) -> dict[str, Any]:
        """A booking made elsewhere (Cal.com's booking page): stored without a request.

        `fields` override the API's own fields by their API names (`updatedAt`,
        `rescheduledFromUid`, …); datetimes are written the way the API writes them."""
        booking = self._booking(
            uid=uid or get_random_string(22),
            start=start,
            length=self.event_types[EVENT_TYPE_ID],
            event_type_id=EVENT_TYPE_ID,
            attendee={"name": attendee_name, "email": attendee_email, "timeZone": "Europe/London"},
            status=status,
        )
        booking.update({name: _api_value(value) for name, value in fields.items()})
        return self.put_booking(booking)

    def put_booking(self, booking: dict[str, Any]) -> dict[str, Any]:
        """Store a booking exactly as the API should show it (replacing one with its uid)."""
        with self._lock:
            self.bookings[booking["uid"]] = booking
        return booking

    def update_booking(
        self, uid: str, *, updated_at: datetime | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Change a stored booking as Cal.com would: the fields (API names), and `updatedAt`
        (now, or `updated_at`)."""
        with self._lock:
            booking = self.bookings[uid]
            booking.update({name: _api_value(value) for name, value in fields.items()})
            booking["updatedAt"] = _booking_time(updated_at or self.now())
        return booking

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- dispatch --------------------------------------------------------------------------

    def handle(self, request: StubRequest) -> StubResponse:
        if self.response_delay_seconds:
            time.sleep(self.response_delay_seconds)
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is None and self.failing_status is not None:
            failure = v2_error(
                status=self.failing_status,
                code="InternalServerErrorException",
                message="Internal server error",
                path=request.path,
            )
        response = failure or self._dispatch(request)
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    headers=dict(request.headers),
                    body=request.body,
                    status=response.status,
                )
            )
        return response

    def _dispatch(self, request: StubRequest) -> StubResponse:
        if request.path.startswith("/v2/") and not self.v2_enabled:
            # What a Cal.com web app without the API v2 service answers: a plain 404 page.
            return StubResponse(404, text="<!DOCTYPE html><title>404: This page could not be found</title>")
        if request.path.startswith("/v1/") and not self.v1_enabled:
            return v1_error(status=404, message="API v1 was shut down on April 8, 2026")
        allowed_methods = []
        for candidate in self._routes:
            match = candidate.pattern.fullmatch(request.path)
            if not match:
                continue
            if candidate.method != request.method:
                allowed_methods.append(candidate.method)
                continue
            denied = self._authenticate(request=request, auth=candidate.auth)
            if denied:
                return denied
            if request.body is _INVALID_JSON:
                return v2_error(
                    status=400,
                    code="BadRequestException",
                    message="Invalid JSON body",
                    path=request.path,
                )
            return candidate.handler(self, request, match)
        if allowed_methods:
            return v2_error(
                status=405,
                code="MethodNotAllowedException",
                message="Method not allowed",
                path=request.path,
            )
        return v2_error(
            status=404,
            code="NotFoundException",
            message=f"Cannot {request.method} {request.path}",
            path=request.path,
        )

    def _authenticate(self, *, request: StubRequest, auth: Auth) -> StubResponse | None:
        if auth == "none":
            return None
        if auth == "v1":
            user_id = self.api_keys.get(request.query.get("apiKey", ""))
            if user_id is None:
                return v1_error(status=401, message="Your API key is not valid.")
        else:
            header = request.headers.get("authorization", "")
            token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
            user_id = self.api_keys.get(token)
            if user_id is None:
                return v2_error(
                    status=401,
                    code="UnauthorizedException",
                    message="Invalid API Key",
                    path=request.path,
                )
        request.user_id = user_id
        return None

    # -- API v2 webhooks -------------------------------------------------------------------

    @route("GET", r"/v2/webhooks")
    def v2_list_webhooks(self, request: StubRequest, match: re.Match) -> StubResponse:
        try:
            take = int(request.query.get("take", 250))
            skip = int(request.query.get("skip", 0))
        except ValueError:
            return v2_error(
                status=400,
                code="BadRequestException",
                message=["take and skip must be integers"],
                path=request.path,
            )
        problems = []
        if not 1 <= take <= 250:
            problems.append(
                "take must not be greater than 250" if take > 250 else "take must not be less than 1"
            )
        if skip < 0:
            problems.append("skip must not be less than 0")
        if problems:
            return v2_error(status=400, code="BadRequestException", message=problems, path=request.path)
        rows = self._user_webhooks(user_id=request.user_id)
        page = rows[skip : skip + take]
        return StubResponse(200, {"status": "success", "data": [_v2_shape(row) for row in page]})

    @route("GET", r"/v2/webhooks/(?P<webhook_id>[^/]+)")
    def v2_get_webhook(self, request: StubRequest, match: re.Match) -> StubResponse:
        row = self._owned_webhook(request=request, webhook_id=match["webhook_id"])
        if row is None:
            return _v2_webhook_not_found(request=request, webhook_id=match["webhook_id"])
        return StubResponse(200, {"status": "success", "data": _v2_shape(row)})

    @route("POST", r"/v2/webhooks")
    def v2_create_webhook(self, request: StubRequest, match: re.Match) -> StubResponse:
        problems = _v2_validate(body=request.body, partial=False)
        if problems:
            return v2_error(status=400, code="BadRequestException", message=problems, path=request.path)
        body = request.body
        organization_only = [t for t in body["triggers"] if t in ORGANIZATION_ONLY_TRIGGERS]
        if organization_only:
            return v2_error(
                status=400,
                code="BadRequestException",
                message=f"{organization_only[0]} trigger is only available for organization webhooks",
                path=request.path,
            )
        if any(
            row["subscriberUrl"] == body["subscriberUrl"]
            for row in self._user_webhooks(user_id=request.user_id)
        ):
            return _v2_duplicate(request=request)
        row = self.add_webhook(
            subscriber_url=body["subscriberUrl"],
            triggers=body["triggers"],
            active=body["active"],
            secret=body.get("secret"),
            payload_template=body.get("payloadTemplate"),
            user_id=request.user_id,
        )
        return StubResponse(201, {"status": "success", "data": _v2_shape(row)})

    @route("PATCH", r"/v2/webhooks/(?P<webhook_id>[^/]+)")
    def v2_update_webhook(self, request: StubRequest, match: re.Match) -> StubResponse:
        row = self._owned_webhook(request=request, webhook_id=match["webhook_id"])
        if row is None:
            return _v2_webhook_not_found(request=request, webhook_id=match["webhook_id"])
        problems = _v2_validate(body=request.body, partial=True)
        if problems:
            return v2_error(status=400, code="BadRequestException", message=problems, path=request.path)
        body = request.body
        new_url = body.get("subscriberUrl", row["subscriberUrl"])
        if new_url != row["subscriberUrl"] and any(
            other["subscriberUrl"] == new_url for other in self._user_webhooks(user_id=request.user_id)
        ):
            return _v2_duplicate(request=request)
        with self._lock:
            row["subscriberUrl"] = new_url
            if "triggers" in body:
                row["eventTriggers"] = list(dict.fromkeys(body["triggers"]))
            for name in ("active", "secret", "payloadTemplate"):
                if name in body:
                    row[name] = body[name]
        return StubResponse(200, {"status": "success", "data": _v2_shape(row)})

    @route("DELETE", r"/v2/webhooks/(?P<webhook_id>[^/]+)")
    def v2_delete_webhook(self, request: StubRequest, match: re.Match) -> StubResponse:
        row = self._owned_webhook(request=request, webhook_id=match["webhook_id"])
        if row is None:
            return _v2_webhook_not_found(request=request, webhook_id=match["webhook_id"])
        with self._lock:
            del self.webhooks[row["id"]]
        return StubResponse(200, {"status": "success", "data": _v2_shape(row)})

    # -- API v1 webhooks -------------------------------------------------------------------

    @route("GET", r"/v1/webhooks", auth="v1")
    def v1_list_webhooks(self, request: StubRequest, match: re.Match) -> StubResponse:
        rows = [row for row in self.webhooks.values() if row["userId"] == request.user_id]
        return StubResponse(200, {"webhooks": [_v1_shape(row) for row in rows]})

    @route("GET", r"/v1/webhooks/(?P<webhook_id>[^/]+)", auth="v1")
    def v1_get_webhook(self, request: StubRequest, match: re.Match) -> StubResponse:
        row = self._v1_owned(request=request, webhook_id=match["webhook_id"])
        if isinstance(row, StubResponse):
            return row
        return StubResponse(200, {"webhook": _v1_shape(row)})

    @route("POST", r"/v1/webhooks", auth="v1")
    def v1_create_webhook(self, request: StubRequest, match: re.Match) -> StubResponse:
        problem = _v1_validate(body=request.body, partial=False)
        if problem:
            return v1_error(status=400, message=problem)
        body = request.body
        row = self.add_webhook(
            subscriber_url=body["subscriberUrl"],
            triggers=body["eventTriggers"],
            active=body.get("active", True),
            secret=body.get("secret"),
            payload_template=body.get("payloadTemplate"),
            user_id=request.user_id,
            event_type_id=body.get("eventTypeId"),
        )
        return StubResponse(200, {"webhook": _v1_shape(row), "message": "Webhook created successfully"})

    @route("PATCH", r"/v1/webhooks/(?P<webhook_id>[^/]+)", auth="v1")
    def v1_update_webhook(self, request: StubRequest, match: re.Match) -> StubResponse:
        row = self._v1_owned(request=request, webhook_id=match["webhook_id"])
        if isinstance(row, StubResponse):
            return row
        problem = _v1_validate(body=request.body, partial=True)
        if problem:
            return v1_error(status=400, message=problem)
        names = {
            "subscriberUrl": "subscriberUrl",
            "eventTriggers": "eventTriggers",
            "active": "active",
            "secret": "secret",
            "payloadTemplate": "payloadTemplate",
            "eventTypeId": "eventTypeId",
        }
        with self._lock:
            for name, value in request.body.items():
                if name in names:
                    row[names[name]] = list(dict.fromkeys(value)) if name == "eventTriggers" else value
        return StubResponse(200, {"webhook": _v1_shape(row)})

    @route("DELETE", r"/v1/webhooks/(?P<webhook_id>[^/]+)", auth="v1")
    def v1_delete_webhook(self, request: StubRequest, match: re.Match) -> StubResponse:
        row = self._v1_owned(request=request, webhook_id=match["webhook_id"])
        if isinstance(row, StubResponse):
            return row
        with self._lock:
            del self.webhooks[row["id"]]
        return StubResponse(200, {"message": f"Webhook with id: {row['id']} deleted successfully"})

    # -- API v2 bookings -------------------------------------------------------------------

    @route("POST", r"/v2/bookings")
    def v2_create_booking(self, request: StubRequest, match: re.Match) -> StubResponse:
        version_problem = _check_bookings_version(request=request)
        if version_problem:
            return version_problem
        problems = _validate_booking(body=request.body)
        if problems:
            return v2_error(status=400, code="BadRequestException", message=problems, path=request.path)
        body = request.body
        length = self.event_types.get(body["eventTypeId"])
        if length is None:
            return v2_error(
                status=404,
                code="NotFoundException",
                message=f"Event type with id={body['eventTypeId']} was not found.",
                path=request.path,
            )
        start = parse_datetime(body["start"])
        with self._lock:
            taken = any(
                b["start"] == _booking_time(start)
                and b["eventTypeId"] == body["eventTypeId"]
                and b["status"] != "cancelled"
                for b in self.bookings.values()
            )
            if taken:
                return v2_error(
                    status=400,
                    code="BadRequestException",
                    message="User either already has booking at this time or is not available",
                    path=request.path,
                )
            booking = self._booking(
                uid=get_random_string(22),
                start=start,
                length=length,
                event_type_id=body["eventTypeId"],
                attendee=body["attendee"],
                status="accepted",
            )
            self.bookings[booking["uid"]] = booking
        if self.before_answer is not None:
            self.before_answer(booking)
        return StubResponse(201, {"status": "success", "data": booking})

    @route("GET", r"/v2/bookings")
    def v2_list_bookings(self, request: StubRequest, match: re.Match) -> StubResponse:
        version_problem = _check_bookings_version(request=request)
        if version_problem:
            return version_problem
        query = request.query
        problems = []
        try:
            take = int(query.get("take", 100))
            skip = int(query.get("skip", 0))
        except ValueError:
            take, skip = 0, 0
            problems.append("take and skip must be integers")
        if take > MAX_BOOKINGS_TAKE:
            problems.append(f"take must not be greater than {MAX_BOOKINGS_TAKE}")
        elif take < 1 and not problems:
            problems.append("take must not be less than 1")
        if skip < 0:
            problems.append("skip must not be less than 0")
        moments: dict[str, datetime] = {}
        for name in ("afterUpdatedAt", "afterStart", "beforeEnd"):
            if name in query:
                moment = parse_datetime(query[name])
                if moment is None:
                    problems.append(f"{name} must be a valid ISO 8601 date string")
                else:
                    moments[name] = moment
        statuses = [value for value in query.get("status", "").split(",") if value]
        unknown = sorted(set(statuses) - _LIST_STATUSES)
        if unknown:
            problems.append(f"status must be one of: {', '.join(sorted(_LIST_STATUSES))}")
        if query.get("sortUpdatedAt", "asc") not in ("asc", "desc"):
            problems.append("sortUpdatedAt must be one of: asc, desc")
        if problems:
            return v2_error(status=400, code="BadRequestException", message=problems, path=request.path)
        now = self.now()
        with self._lock:
            rows = [
                booking
                for booking in self.bookings.values()
                if _matches(booking=booking, moments=moments, statuses=statuses, now=now)
            ]
        if "sortUpdatedAt" in query:
            rows.sort(
                key=lambda b: (parse_datetime(b["updatedAt"]), b["id"]),
                reverse=query["sortUpdatedAt"] == "desc",
            )
        page = rows[skip : skip + take]
        total_pages = -(-len(rows) // take)
        return StubResponse(
            200,
            {
                "status": "success",
                "data": page,
                "pagination": {
                    "totalItems": len(rows),
                    "remainingItems": max(len(rows) - skip - len(page), 0),
                    "returnedItems": len(page),
                    "itemsPerPage": take,
                    "currentPage": skip // take + 1,
                    "totalPages": total_pages,
                    "hasNextPage": skip + len(page) < len(rows),
                    "hasPreviousPage": skip > 0,
                },
            },
        )

    @route("GET", r"/v2/bookings/(?P<uid>[^/]+)")
    def v2_get_booking(self, request: StubRequest, match: re.Match) -> StubResponse:
        version_problem = _check_bookings_version(request=request)
        if version_problem:
            return version_problem
        uid = unquote(match["uid"])  # Nest decodes path parameters
        booking = self.bookings.get(uid)
        if booking is None:
            return v2_error(
                status=404,
                code="NotFoundException",
                message=f"Booking with uid={uid} was not found in the database",
                path=request.path,
            )
        return StubResponse(200, {"status": "success", "data": booking})

    # -- helpers ---------------------------------------------------------------------------

    def _user_webhooks(self, *, user_id: int | None) -> list[dict[str, Any]]:
        # /v2/webhooks is the user scope: event-type webhooks live under /v2/event-types/…
        return [
            row for row in self.webhooks.values() if row["userId"] == user_id and row["eventTypeId"] is None
        ]

    def _owned_webhook(self, *, request: StubRequest, webhook_id: str) -> dict[str, Any] | None:
        row = self.webhooks.get(webhook_id)
        if row is None or row["userId"] != request.user_id or row["eventTypeId"] is not None:
            return None
        return row

    def _v1_owned(self, *, request: StubRequest, webhook_id: str) -> dict[str, Any] | StubResponse:
        row = self.webhooks.get(webhook_id)
        if row is None:
            return v1_error(status=404, message=f"Webhook with id: {webhook_id} not found")
        if row["userId"] != request.user_id:
            return v1_error(status=403, message="Forbidden")
        return row

    def _booking(
        self,
        *,
        uid: str,
        start: datetime,
        length: int,
        event_type_id: int,
        attendee: dict[str, Any],
        status: str,
    ) -> dict[str, Any]:
        now = _booking_time(self.now())
        video = f"https://app.cal.com/video/{uid}"
        return {
            "id": 100_000 + len(self.bookings) + 1,
            "uid": uid,
            "title": f"30 Min Meeting between {HOST['name']} and {attendee['name']}",
            "description": "",
            "hosts": [HOST],
            "status": status,
            "cancellationReason": None,
            "rescheduledFromUid": None,
            "rescheduledToUid": None,
            "start": _booking_time(start),
            "end": _booking_time(start + timedelta(minutes=length)),
            "duration": length,
            "eventTypeId": event_type_id,
            "eventType": {"id": event_type_id, "slug": f"{length}min"},
            "meetingUrl": video,
            "location": video,
            "absentHost": False,
            "createdAt": now,
            "updatedAt": now,
            "metadata": {},
            "rating": None,
            "icsUid": f"{uid}@Cal.com",
            "attendees": [
                {
                    "name": attendee["name"],
                    "email": attendee["email"],
                    "timeZone": attendee["timeZone"],
                    "language": "en",
                    "absent": False,
                }
            ],
            "guests": [],
            "bookingFieldsResponses": {"name": attendee["name"], "email": attendee["email"]},
        }


# --- shapes and validation ----------------------------------------------------------------------


def _v2_shape(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "userId": row["userId"],
        "subscriberUrl": row["subscriberUrl"],
        "triggers": list(row["eventTriggers"]),
        "active": row["active"],
        "payloadTemplate": row["payloadTemplate"],
        "secret": row["secret"],
    }


def _v1_shape(row: dict[str, Any]) -> dict[str, Any]:
    # schemaWebhookReadPublic: no `active`, no `secret`.
    return {
        "id": row["id"],
        "userId": row["userId"],
        "eventTypeId": row["eventTypeId"],
        "payloadTemplate": row["payloadTemplate"],
        "eventTriggers": list(row["eventTriggers"]),
        "appId": row["appId"],
        "subscriberUrl": row["subscriberUrl"],
    }


def _v2_webhook_not_found(*, request: StubRequest, webhook_id: str) -> StubResponse:
    return v2_error(
        status=404,
        code="NotFoundException",
        message=f"Webhook ({webhook_id}) not found",
        path=request.path,
    )


def _v2_duplicate(*, request: StubRequest) -> StubResponse:
    return v2_error(
        status=409,
        code="ConflictException",
        message="Webhook with this subscriber url already exists for this user",
        path=request.path,
    )


def _v2_validate(*, body: Any, partial: bool) -> list[str]:
    """class-validator on CreateWebhookInputDto (UpdateWebhookInputDto: every field optional)."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    problems = []
    required = () if partial else ("subscriberUrl", "triggers", "active")
    for name in required:
        if name not in body:
            problems.append(f"{name} should not be empty")
    if "subscriberUrl" in body and not isinstance(body["subscriberUrl"], str):
        problems.append("subscriberUrl must be a string")
    if "triggers" in body:
        triggers = body["triggers"]
        if not isinstance(triggers, list):
            problems.append("triggers must be an array")
        elif any(trigger not in TRIGGER_EVENTS for trigger in triggers):
            problems.append(
                "each value in triggers must be one of the following values: "
                + ", ".join(sorted(TRIGGER_EVENTS))
            )
    if "active" in body and not isinstance(body["active"], bool):
        problems.append("active must be a boolean value")
    for name in ("secret", "payloadTemplate"):
        if body.get(name) is not None and not isinstance(body[name], str):
            problems.append(f"{name} must be a string")
    return problems


def _v1_validate(*, body: Any, partial: bool) -> str:
    """v1's zod schemas are strict: unknown keys are an error."""
    if not isinstance(body, dict):
        return "invalid_type: expected object"
    unknown = sorted(set(body) - V1_WEBHOOK_FIELDS)
    if unknown:
        return f"Unrecognized key(s) in object: {', '.join(repr(name) for name in unknown)}"
    if not partial:
        for name in ("subscriberUrl", "eventTriggers"):
            if name not in body:
                return f"{name}: Required"
    if "eventTriggers" in body and (
        not isinstance(body["eventTriggers"], list)
        or any(trigger not in TRIGGER_EVENTS for trigger in body["eventTriggers"])
    ):
        return "eventTriggers: Invalid enum value"
    if "active" in body and not isinstance(body["active"], bool):
        return "active: Expected boolean"
    return ""


def _check_bookings_version(*, request: StubRequest) -> StubResponse | None:
    # Bookings shapes differ per version; ours are 2024-08-13's, so insist on it.
    if request.headers.get("cal-api-version") != BOOKINGS_API_VERSION:
        return v2_error(
            status=400,
            code="BadRequestException",
            message=f"cal-api-version must be {BOOKINGS_API_VERSION} for these shapes",
            path=request.path,
        )
    return None


def _validate_booking(*, body: Any) -> list[str]:
    """class-validator on CreateBookingInput_2024_08_13 (the fields we use)."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    problems = []
    if not isinstance(body.get("start"), str) or parse_datetime(body["start"]) is None:
        problems.append("start must be a valid ISO 8601 date string")
    elif not body["start"].endswith("Z"):
        problems.append("start must be in UTC (end with Z)")
    if not isinstance(body.get("eventTypeId"), int):
        problems.append("eventTypeId must be an integer number")
    attendee = body.get("attendee")
    if not isinstance(attendee, dict):
        problems.append("attendee must be an object")
    else:
        for name in ("name", "email", "timeZone"):
            if not isinstance(attendee.get(name), str) or not attendee[name]:
                problems.append(f"attendee.{name} should not be empty")
    return problems


def _booking_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _api_value(value: Any) -> Any:
    return _booking_time(value) if isinstance(value, datetime) else value


_LIST_STATUSES = frozenset({"upcoming", "recurring", "past", "cancelled", "unconfirmed"})


def _matches(
    *, booking: dict[str, Any], moments: dict[str, datetime], statuses: list[str], now: datetime
) -> bool:
    """The list endpoint's filters: every moment filter inclusive, statuses OR-ed."""
    start, end = parse_datetime(booking["start"]), parse_datetime(booking["end"])
    updated = parse_datetime(booking["updatedAt"])
    if "afterUpdatedAt" in moments and not (updated and updated >= moments["afterUpdatedAt"]):
        return False
    if "afterStart" in moments and not (start and start >= moments["afterStart"]):
        return False
    if "beforeEnd" in moments and not (end and end <= moments["beforeEnd"]):
        return False
    if not statuses:
        return True
    live = booking["status"] in ("accepted", "pending")
    kinds = {
        "upcoming": live and end is not None and end >= now,
        "past": live and end is not None and end <= now,
        "cancelled": booking["status"] in ("cancelled", "rejected"),
        "unconfirmed": booking["status"] == "pending" and end is not None and end >= now,
        "recurring": False,
    }
    return any(kinds[status] for status in statuses)


# --- HTTP plumbing ------------------------------------------------------------------------------

_INVALID_JSON = object()


def _make_request_handler(server: FakeCalCom) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so stopping the server never waits on keep-alive.
        protocol_version = "HTTP/1.0"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            body: Any = None
            if raw_body:
                try:
                    body = json.loads(raw_body)
                except ValueError:
                    body = _INVALID_JSON
            request = StubRequest(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers={name.lower(): value for name, value in self.headers.items()},
                raw_body=raw_body,
                body=body,
            )
            response = server.handle(request)
            if response.text is not None:
                payload, content_type = response.text.encode(), "text/html; charset=utf-8"
            elif response.body is not None:
                payload, content_type = (
                    json.dumps(response.body).encode(),
                    "application/json; charset=utf-8",
                )
            else:
                payload, content_type = b"", "application/json; charset=utf-8"
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("X-Request-Id", str(uuid.uuid4()))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests); nothing to answer

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

    return RequestHandler
