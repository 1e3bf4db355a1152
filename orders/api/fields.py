"""Fields the API's serializers and filters share: identifiers, and references to reference data by code."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..identifiers import (
    CODE_DESCRIPTION,
    CODE_MAX_LENGTH,
    ORDER_NO_DESCRIPTION,
    ORDER_NO_MAX_LENGTH,
    SCHEMA_PATTERN,
    code_problem,
    order_no_problem,
)

ORDER_NO_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": ORDER_NO_MAX_LENGTH,
    "pattern": SCHEMA_PATTERN,
    "description": ORDER_NO_DESCRIPTION,
}
CODE_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": CODE_MAX_LENGTH,
    "pattern": SCHEMA_PATTERN,
    "description": CODE_DESCRIPTION,
}


@extend_schema_field(ORDER_NO_SCHEMA)
class OrderNoField(serializers.CharField):
    """An order number, checked against orders/identifiers.py."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", ORDER_NO_MAX_LENGTH)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = order_no_problem(value) if len(value) <= self.max_length else None  # the length: max_length's
        if problem:
            raise serializers.ValidationError(problem)
        return value


@extend_schema_field(CODE_SCHEMA)
class NewCodeField(serializers.CharField):
    """The code a new item of reference data is given, checked against orders/identifiers.py."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", CODE_MAX_LENGTH)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = code_problem(value) if len(value) <= self.max_length else None  # the length: max_length's
        if problem:
            raise serializers.ValidationError(problem)
        return value


@extend_schema_field(CODE_SCHEMA)
class CodeField(serializers.RelatedField):
    """A reference to reference data by its code: the one lookup of a code, in bodies and in filters.

    Unknown codes are refused, and so are inactive ones unless `active_only=False` (filters may
    name a retired code: old orders still have it). With `reference` in the serializer's context
    (tables from orders/reference.py) the codes are looked up there, without a query.
    """

    def __init__(self, model, *, active_only=True, **kwargs):
        self.model = model
        self.active_only = active_only
        kwargs.setdefault("queryset", model.objects.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        # A request that read its reference data up front (orders/reference.py) answers from that.
        tables = self.context.get("reference")
        if tables is not None and self.model in tables:
            return tables[self.model]
        return super().get_queryset()

    def to_internal_value(self, data):
        return resolve_code(self.model, data, self.get_queryset(), active_only=self.active_only)

    def to_representation(self, value):
        return value.code


def resolve_code(model, data, queryset, *, active_only=True):
    """The `model` item whose code is `data`, from `queryset` (or a table of orders/reference.py), or
    ValidationError with CodeField's message: the one rule for a code in a body, fast or not."""
    if not isinstance(data, str) or code_problem(data):
        raise serializers.ValidationError(f"Not a valid {model._meta.verbose_name} code.")
    find = getattr(queryset, "find", None)
    if find is not None:
        found = find(data, active_only=active_only)
    else:
        try:
            found = (queryset.filter(active=True) if active_only else queryset).get(code=data)
        except model.DoesNotExist:
            found = None
    if found is None:
        qualifier = "Unknown or inactive" if active_only else "Unknown"
        raise serializers.ValidationError(f"{qualifier} {model._meta.verbose_name} code {data!r}.")
    return found
