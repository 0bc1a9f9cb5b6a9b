"""Request checks that apply to every page and endpoint."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


class RejectNulInQueryMiddleware:
    """A query string with a NUL character answers 400.

    No parameter of ours means anything with one, and PostgreSQL refuses NUL in text, so it
    would otherwise surface as a 500 from whichever query it reached first.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return JsonResponse(
                    {"detail": "query parameters must not contain NUL characters"}, status=400
                )
        return self.get_response(request)
