"""The inbound webhook endpoint (docs/inbound.md). Outbound delivery has no views of its own."""

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import inbound
from .models import InboundSource

TOO_LARGE = f"The body is larger than {inbound.MAX_BODY_BYTES // 1024} KB."


@csrf_exempt  # signed by the sender instead; there is no browser session here
@require_POST
def inbound_event(request, source):
    """POST /webhooks/inbound/<source>/: verify the raw body, then store and apply the event."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > inbound.MAX_BODY_BYTES:
        return JsonResponse({"detail": TOO_LARGE}, status=413)
    try:
        body = request.body
    except RequestDataTooBig:
        return JsonResponse({"detail": TOO_LARGE}, status=413)
    if len(body) > inbound.MAX_BODY_BYTES:
        return JsonResponse({"detail": TOO_LARGE}, status=413)

    # An unknown or inactive source gets the same 401 as a bad signature: which names exist is not
    # something to tell a caller who cannot sign.
    source_obj = InboundSource.objects.filter(name=source[:50], active=True).first()
    if source_obj is None:
        return JsonResponse({"detail": "Unknown inbound source, or the signature does not match."}, status=401)
    try:
        webhook_id, sent_at = inbound.verify(source_obj.secret, request.headers, body)
    except inbound.SignatureError as exc:
        return JsonResponse({"detail": str(exc)}, status=401)
    outcome = inbound.receive(source_obj, webhook_id, sent_at, body)
    return JsonResponse(outcome.body, status=outcome.status)
