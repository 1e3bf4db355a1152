"""One error shape for the whole API (SPEC §5).

400 answers `{"errors": {field: [messages]}}` with nested fields as dotted paths
(`lines.0.quantity`); every other error answers `{"detail": message}`.
"""

import logging

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from rest_framework import status
from rest_framework.exceptions import APIException, ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..domain import OrderError

logger = logging.getLogger(__name__)

ORDER_ERROR_STATUS = {"not_found": 404, "version_mismatch": 412}


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


def exception_handler(exc, context):
    if isinstance(exc, OrderError):
        return Response({"detail": exc.message}, status=ORDER_ERROR_STATUS.get(exc.code, status.HTTP_409_CONFLICT))
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return bad_request({k: [str(m) for m in v] for k, v in exc.message_dict.items()})
        return bad_request({"non_field_errors": [str(m) for m in exc.messages]})
    if isinstance(exc, RecursionError):
        # The JSON parser recurses once per nesting level; a body nested deeper than the stack is bad input.
        return bad_request({"non_field_errors": ["JSON parse error - the body is nested too deeply."]})
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "The request body is too large."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, IntegrityError):
        logger.warning("integrity error answered as 409: %s", exc)
        return Response({"detail": "The change conflicts with existing data."}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DataError):
        logger.warning("data error answered as 400: %s", exc)
        return bad_request({"non_field_errors": ["A value is out of range or not valid for its field."]})

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
