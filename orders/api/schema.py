"""OpenAPI: every operation documents the errors it can answer, in the shapes of docs/api.md."""

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
    """Adds the standard error responses; views list extra codes in `extra_error_codes`, by action or method."""

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
        extra = getattr(view, "extra_error_codes", {})
        codes += [str(c) for c in extra.get(getattr(view, "action", None), extra.get(self.method, ()))]
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


# The glossary: one description per field name, used wherever a field has none of its own.
FIELD_DOCS = {
    "line1": "First address line (house number and street). With postal_code and country, makes an address valid.",
    "line2": "Second address line.",
    "line3": "Third address line.",
    "town": "Town or city.",
    "county": "County or region.",
    "postal_code": "Postal code, normalised (upper case, standard spacing) and checked for GB, IE, NL, DE, FR, "
    "ES, IT, BE, US and the Crown Dependencies.",
    "country": "ISO 3166-1 alpha-2 country code, e.g. GB.",
    "lat": "Latitude in degrees (WGS 84). With lng, makes an address valid on its own.",
    "lng": "Longitude in degrees (WGS 84).",
    "name": "Name.",
    "mobile": "Mobile phone number (for delivery-day texts).",
    "email": "Email address.",
    "phone": "Other phone number.",
    "code": "Unique code by which the item is addressed and referenced, e.g. BHM, MAN-VANS, 2MAN-ROC.",
    "active": "False retires the code: existing orders keep it, new lines cannot use it.",
    "description": "Description.",
    "default_unload_minutes": "Minutes on site an order of this service level gets when it names none.",
    "id": "Identifier.",
    "from_location": "Code of the depot the stock leaves.",
    "to_location": "Code of the depot the stock goes to (the fleet's depot).",
    "transit_days": "Whole days between dispatch and arrival on this lane (1 where no lane is defined).",
    "line_no": "Line number, unique within the order; lines are matched by it.",
    "sku": "The item's stock-keeping unit.",
    "quantity": "How many, at least 1.",
    "weight_kg": "Weight of the line in kilograms.",
    "cube_m3": "Volume of the line in cubic metres.",
    "assembly_minutes": "Minutes of assembly on site.",
    "notes": "Notes on the line.",
    "note": "Free text kept in the status history.",
    "sequence": "Position of the group (leg) in the order, from 1.",
    "group_type": "delivery or collection.",
    "address": "The address.",
    "customer": "The customer: name required; mobile, email and phone optional.",
    "customer_reference": "The customer's own reference (not unique).",
    "customer_address": "The customer's billing or home address, when it differs from the delivery address.",
    "service_level": "Code of the service level bought, e.g. 2MAN-ROC.",
    "order_type": "delivery, collection or multi (several legs in groups).",
    "required_date": "Date the customer needs the delivery or collection (YYYY-MM-DD).",
    "required_time_from": "Start of the customer's time window (HH:MM[:SS]).",
    "required_time_to": "End of the customer's time window (HH:MM[:SS]).",
    "status": "Current status; see the status machine in the API description.",
    "previous_status": "Status before this change (null for the first entry).",
    "at": "When the change happened (ISO 8601 with offset).",
    "earliest_delivery_date": "Earliest day all stock can be at its fleet's depot: the latest movement due_date "
    "or on_hand_date over the lines.",
    "attempt_count": "Deliveries attempted (completions and failures).",
    "created_at": "When it was created (ISO 8601 with offset).",
    "updated_at": "When it last changed (ISO 8601 with offset).",
    "movements": "Stock movements (trunking) made for the order, cancelled ones included.",
    "lines": "Item lines.",
    "history": "Status changes of the order, oldest first.",
    "reference": "Movement reference, e.g. MV-000123.",
    "order_no": "The order number.",
    "ship_date": "Day the stock leaves: the later of the lines' on-hand dates and the day the movement was made.",
    "due_date": "Day the stock is due at the fleet's depot: ship_date plus the lane's transit days.",
    "version": "Raised by one on every change; send it back in If-Match.",
    "tracking_url": "Public tracking page for the customer.",
    "pod": "Proof of delivery, once completed.",
    "results": "The items of this page.",
    "next": "URL of the next page, or null.",
    "previous": "URL of the previous page, or null.",
    "result": "created or error.",
    "errors": "Messages per field (dotted paths), empty when created.",
}

PARAMETER_DOCS = {
    "code": "The item's code.",
    "id": "The lane's id.",
    "sequence": "The group's (leg's) sequence number.",
    "order_type": "delivery, collection or multi.",
    "required_date": "Orders required on this date.",
    "status": "One or more statuses, comma-separated.",
    "from_location": "Movements leaving this depot (code).",
    "to_location": "Movements going to this depot (code).",
    "ship_date": "Movements shipping on this date.",
    "ship_date_from": "Movements shipping on or after this date.",
    "ship_date_to": "Movements shipping on or before this date.",
}


def describe_every_field(result, generator, request, public):
    """Postprocessing hook: give every property and parameter a description from the glossary."""
    for component in result.get("components", {}).get("schemas", {}).values():
        for name, prop in component.get("properties", {}).items():
            if prop.get("description") or name not in FIELD_DOCS:
                continue
            if "$ref" in prop:
                component["properties"][name] = {"allOf": [{"$ref": prop.pop("$ref")}], **prop}
            component["properties"][name]["description"] = FIELD_DOCS[name]
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if not parameter.get("description") and parameter["name"] in PARAMETER_DOCS:
                    parameter["description"] = PARAMETER_DOCS[parameter["name"]]
    return result
