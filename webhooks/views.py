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

    # An unknown or inactive source is checked against a secret nobody holds, so it gets exactly the
    # 401 a bad signature gets: which names exist is nothing to tell a caller who cannot sign.
    source_obj = InboundSource.active_named(source[:50])
    secret = source_obj.secret if source_obj else InboundSource().set_new_secret()
    try:
        webhook_id, sent_at = inbound.verify(secret, request.headers, body)
    except inbound.SignatureError as exc:
        return JsonResponse({"detail": str(exc)}, status=401)
    if source_obj is None:  # unreachable in practice: nobody holds the throwaway secret
        return JsonResponse({"detail": "No webhook-signature matches the body."}, status=401)
    outcome = inbound.receive(source_obj, webhook_id, sent_at, body)
    return JsonResponse(outcome.body, status=outcome.status)
