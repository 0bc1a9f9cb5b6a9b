"""The ingest baseline: the cheapest possible durable acknowledgement in the same stack.

No signature check, no parsing, no duplicate detection, no task: one INSERT, then 200. The
production endpoint's throughput is reported as a fraction of this.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webhooks.models import WebhookEvent, WebhookEventStatus


@csrf_exempt
@require_POST
def baseline_ingest(request: HttpRequest) -> JsonResponse:
    event = WebhookEvent.objects.create(raw_body=request.body, status=WebhookEventStatus.RECEIVED)
    return JsonResponse({"event_id": event.pk})
