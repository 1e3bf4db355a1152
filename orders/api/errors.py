"""One error shape for the whole API (docs/api.md).

400 answers `{"errors": {field: [messages]}}` with nested fields as dotted paths
(`lines.0.quantity`); every other error answers `{"detail": message}`.
"""

import logging

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, OperationalError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import APIException, ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..domain import InputError, OrderError

logger = logging.getLogger(__name__)

ORDER_ERROR_STATUS = {"not_found": 404, "version_mismatch": 412}

# Where the API's shapes nest what the domain keeps flat.
API_FIELD_NAMES = {
    "customer_name": "customer.name",
    "customer_mobile": "customer.mobile",
    "customer_email": "customer.email",
    "customer_phone": "customer.phone",
}


def api_path(path):
    """A domain path such as ("lines", 2, "sequence") or ("customer_name",) as the API names it."""
    head, *rest = path
    return ".".join([API_FIELD_NAMES.get(str(head), str(head)), *(str(part) for part in rest)])


def flatten(data, prefix=""):
    """Turn DRF's nested error structure into {"a.0.b": ["message", ...]}."""
    out = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten(value, name))
    elif isinstance(data, list):
        if all(isinstance(item, str | ErrorDetail) for item in data):
            if data:
                out[prefix or "non_field_errors"] = [str(item) for item in data]
        else:
            for index, item in enumerate(data):
                if item:
                    out.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix or "non_field_errors"] = [str(data)]
    return out


def bad_request(errors):
    return Response({"errors": errors}, status=status.HTTP_400_BAD_REQUEST)


def domain_errors(exc):
    """The 400 body's `errors` for a refusal by the domain's validation (InputError or a Django ValidationError)."""
    if isinstance(exc, InputError):
        return {api_path(path): [message] for path, message in exc.problems.items()}
    if hasattr(exc, "error_dict"):
        return {API_FIELD_NAMES.get(k, k): [str(m) for m in v] for k, v in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc, context):
    if isinstance(exc, OrderError):
        return Response({"detail": exc.message}, status=ORDER_ERROR_STATUS.get(exc.code, status.HTTP_409_CONFLICT))
    if isinstance(exc, DjangoValidationError):
        return bad_request(domain_errors(exc))
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "The request body is too large."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, IntegrityError):
        logger.warning("integrity error answered as 409: %s", exc)
        return Response({"detail": "The change conflicts with existing data."}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DataError):
        logger.warning("data error answered as 400: %s", exc)
        return bad_request({"non_field_errors": ["A value is out of range or not valid for its field."]})
    if isinstance(exc, OperationalError) and "statement timeout" in str(exc):
        # settings.py caps every statement so no request outlives its worker.
        logger.warning("statement timeout answered as 503: %s", exc)
        return Response(
            {"detail": "The request took too long and was stopped; nothing was changed. Try a smaller request."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if response.status_code == status.HTTP_400_BAD_REQUEST:
        detail = exc.detail if isinstance(exc, ValidationError) else response.data
        if isinstance(detail, dict) and set(detail) == {"detail"} and not isinstance(exc, ValidationError):
            detail = {"non_field_errors": [detail["detail"]]}
        response.data = {"errors": flatten(detail)}
    elif isinstance(exc, APIException) and not (isinstance(response.data, dict) and "detail" in response.data):
        response.data = {"detail": str(exc.detail)}
    return response


def page_not_found(request, exception=None):
    """The site's 404 handler: under /api/ the API's JSON error, elsewhere Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found: no API endpoint has this URL."}, status=404)
    return defaults.page_not_found(request, exception)
