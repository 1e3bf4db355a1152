"""Refuse oversized request bodies before anything reads them."""

import json

from django.conf import settings
from django.http import HttpResponse


class BodySizeLimitMiddleware:
    """Answer 413 for API and webhook bodies over API_MAX_BODY_BYTES, and order files over IMPORT_MAX_BYTES.

    DRF's JSON parser reads the raw stream and so bypasses Django's DATA_UPLOAD_MAX_MEMORY_SIZE;
    checking Content-Length here keeps a huge body from ever being read into memory.
    """

    prefixes = ("/api/", "/webhooks/", "/imports/")
    # Order files may be larger than other bodies (orders/imports.py then checks the file itself).
    import_paths = ("/api/v1/orders/import/", "/imports/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(self.prefixes):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return self._refuse(400, "The Content-Length header is not a number.")
            limit = settings.IMPORT_MAX_BYTES if request.path in self.import_paths else settings.API_MAX_BODY_BYTES
            if length > limit:
                limit_mb = limit // (1024 * 1024)
                if request.path == "/imports/":  # the office's upload form: words, not JSON
                    return HttpResponse(
                        f"The file is larger than the {limit_mb} MB limit; split it in two and go back to upload it.",
                        status=413,
                        content_type="text/plain; charset=utf-8",
                    )
                return self._refuse(413, f"The request body is larger than the {limit_mb} MB limit.")
        return self.get_response(request)

    @staticmethod
    def _refuse(status, detail):
        if status == 400:
            body = {"errors": {"non_field_errors": [detail]}}
        else:
            body = {"detail": detail}
        return HttpResponse(json.dumps(body), status=status, content_type="application/json")
