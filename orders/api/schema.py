"""OpenAPI: every operation documents the errors it can answer, in the shapes of SPEC §5."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ValidationErrorBody = inline_serializer(
    "ValidationError",
    {
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Messages per field; nested fields are dotted paths such as `lines.0.quantity`.",
        )
    },
)
DetailBody = inline_serializer("ErrorDetail", {"detail": serializers.CharField(help_text="What went wrong.")})

ERROR_TEXT = {
    "400": "Bad input: broken JSON, wrong types, unknown codes, bad dates. Nothing was changed.",
    "401": "No API key, or the key is not valid.",
    "403": "The API key lacks the scope this request needs.",
    "404": "Not found, or it belongs to another API client.",
    "409": "Refused by the order's state: a duplicate order_no, a status transition the status machine "
    "forbids, a change to an order under way, a change to a dispatched movement, or an Idempotency-Key "
    "whose first request is still being processed.",
    "412": "If-Match named a version that is no longer current. Nothing was changed.",
    "413": "The request body is larger than the limit.",
    "415": "The body is not JSON.",
    "422": "The Idempotency-Key was already used with a different body.",
    "429": "Too many requests for this API client; wait the number of seconds in Retry-After.",
}


class AutoSchema(BaseAutoSchema):
    """Adds the standard error responses; views list extra codes in `extra_error_codes`."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        view = self.view
        codes = ["401", "403", "429"]
        if self.method != "GET" or self._is_list_view():
            codes.append("400")
        if (self.method != "GET" or not self._is_list_view()) and "{" in self.path:
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["413", "415"]
        codes += [str(c) for c in getattr(view, "extra_error_codes", {}).get(self.method, ())]
        for code in codes:
            if code in responses:
                continue
            body = ValidationErrorBody if code == "400" else DetailBody
            responses[code] = self._get_response_for_code(
                OpenApiResponse(response=body, description=ERROR_TEXT[code]), code
            )
        return dict(sorted(responses.items()))


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "orders.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API client's key, e.g. `Authorization: Bearer sp_0123456789ab_...`. "
            "Create one with `manage.py create_api_client NAME --scopes orders:read,orders:write`.",
        }
