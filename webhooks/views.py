"""The inbound webhook endpoint (docs/inbound.md). Outbound delivery has no views of its own."""

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import inbound
from .models import InboundSource

TOO_LARGE = f"The body is larger than {inbound.MAX_BODY_BYTES // 1024} KB."
NO_MATCH = "No webhook-signature matches the body."


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

    name = source[:50]
    found, copy = inbound.source_named(name)
    try:
        try:
            outcome = _verified_and_received(found, request.headers, body)
        except (inbound.SignatureError, inbound.SourceChanged):
            if not copy:
                raise
            # Verified with this process's copy of the source, which may be out of date (a secret
            # rotated, a source deactivated elsewhere): read the source again and start over.
            found, _ = inbound.source_named(name, fresh=True)
            outcome = _verified_and_received(found, request.headers, body)
    except inbound.SignatureError as exc:
        return JsonResponse({"detail": str(exc)}, status=401)
    except inbound.SourceChanged:  # changed again between the read and the claim a moment later
        return JsonResponse({"detail": NO_MATCH}, status=401)
    return JsonResponse(outcome.body, status=outcome.status)


def _verified_and_received(source, headers, body):
    """Verify the request against `source` (None: unknown or inactive), then store and apply it."""
    # An unknown or inactive source is checked against a secret nobody holds, so it gets exactly the
    # 401 a bad signature gets: which names exist is nothing to tell a caller who cannot sign.
    secret = source.secret if source else InboundSource().set_new_secret()
    webhook_id, sent_at = inbound.verify(secret, headers, body)
    if source is None:  # unreachable in practice: nobody holds the throwaway secret
        raise inbound.SignatureError(NO_MATCH)
    return inbound.receive(source, webhook_id, sent_at, body)
