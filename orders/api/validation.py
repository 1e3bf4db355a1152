"""The order create body checked fast: OrderSerializer's own rules, compiled once at import time.

`POST /api/v1/orders/`, `/bulk/` and the CSV import check every order against OrderSerializer. A
DRF serializer deep-copies its declared fields for every instance (an order is ~40 fields across
customer, address, lines and groups) and runs each value through several layers of generic code;
for a bulk of 500 orders that was most of the request. `check_order` gives exactly the same
answer — validated data, trimming, defaults, error messages and their field paths — without that:

- the tree of fields is OrderSerializer's own, built once (one bound instance, never copied);
- every value that passes a plain-Python check of the common case (a string within its length with
  no NUL or surrogate, an int in range, a listed choice, an ISO date or time) is taken as DRF would
  take it; anything else — every refusal, every unusual type — goes through the DRF field's own
  `run_validation`, so each message is DRF's;
- each serializer's `validate_<field>` and `validate` hooks are the serializers' own methods,
  called on that one instance (the create is never partial and has no instance);
- nesting, `source="*"`, `required`/`allow_null`, list limits and errors are handled as
  `Serializer.to_internal_value` and `ListSerializer.to_internal_value` do.

Nothing here restates a field's constraint: change OrderSerializer and this follows. A field type
this module does not know is validated by DRF itself; a serializer that overrides
`to_internal_value` (other than through `finish_internal`) is refused at import time.
tests/orders/test_validation.py feeds a table of bodies to both and compares.
"""

import re
from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import ISO_8601, fields, serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.fields import SkipField, empty, get_error_detail
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.utils import html

from ..identifiers import order_no_problem
from .errors import flatten
from .fields import CodeField, OrderNoField, resolve_code
from .serializers import OrderSerializer

_DECIMAL_EMPTY = fields.DecimalField.validate_empty_values

# What the fast paths take as-is; anything else is left to the DRF field.
_CLEAN_TEXT = re.compile(r"[\x00\ud800-\udfff]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_TIME = re.compile(r"[0-9]{2}:[0-9]{2}(?::[0-9]{2})?")


class _Leaf:
    """Any field: DRF's own run_validation."""

    def __init__(self, field):
        self.field = field
        self.name = getattr(field, "field_name", None)
        self.source_attrs = getattr(field, "source_attrs", [])
        # A null where the field allows one is a null, as Field.validate_empty_values answers (no
        # validator runs): for the field classes whose run_validation and validate_empty_values are
        # DRF's generic ones (DecimalField's own only differs for blank text).
        kind = type(field)
        self.null_ok = (
            isinstance(field, fields.Field)
            and getattr(field, "allow_null", False)
            and not field.read_only
            and field.source != "*"
            and kind.run_validation in (fields.Field.run_validation, fields.CharField.run_validation)
            and kind.validate_empty_values in (fields.Field.validate_empty_values, _DECIMAL_EMPTY)
        )

    def run(self, data, tables):
        if data is None and self.null_ok:
            return None
        return self.field.run_validation(data)


class _CharLeaf(_Leaf):
    """CharField (and OrderNoField): a trimmed string within max_length without NUL or surrogates."""

    def __init__(self, field):
        super().__init__(field)
        self.max_length = field.max_length if field.max_length is not None else float("inf")
        self.allow_blank = field.allow_blank
        self.problem = order_no_problem if type(field) is OrderNoField else None

    def run(self, data, tables):
        if type(data) is str:
            value = data.strip()
            if value and len(value) <= self.max_length and not _CLEAN_TEXT.search(value):
                if self.problem is None or not self.problem(value):
                    return value
            elif not value and self.allow_blank:
                return ""
        return self.field.run_validation(data)


class _IntegerLeaf(_Leaf):
    def __init__(self, field):
        super().__init__(field)
        self.low = field.min_value if field.min_value is not None else float("-inf")
        self.high = field.max_value if field.max_value is not None else float("inf")

    def run(self, data, tables):
        if type(data) is int and self.low <= data <= self.high:
            return data
        return self.field.run_validation(data)


class _ChoiceLeaf(_Leaf):
    def __init__(self, field):
        super().__init__(field)
        self.values = {k: v for k, v in field.choice_strings_to_values.items() if k != ""}

    def run(self, data, tables):
        if type(data) is str and data in self.values:
            return self.values[data]
        return self.field.run_validation(data)


class _IsoLeaf(_Leaf):
    """A date or a time: one already (the CSV import reads its cells as such) is taken as DRF takes it,
    ISO text is parsed here, anything else goes through DRF's field for its value and message."""

    kind = pattern = None

    def run(self, data, tables):
        if type(data) is self.kind:
            return data
        if type(data) is str and self.pattern.fullmatch(data):
            try:
                return self.kind.fromisoformat(data)
            except ValueError:
                pass
        return self.field.run_validation(data)


class _DateLeaf(_IsoLeaf):
    kind, pattern = date, _ISO_DATE


class _TimeLeaf(_IsoLeaf):
    kind, pattern = time, _ISO_TIME


class _CodeLeaf(_Leaf):
    """CodeField against the request's reference tables (orders/reference.py), as the field reads them."""

    def __init__(self, field):
        super().__init__(field)
        assert field.default is empty and not field.validators
        self.model, self.active_only = field.model, field.active_only

    def run(self, data, tables):
        if data == "":  # RelatedField: an empty string is a null
            data = None
        if data is empty:
            if self.field.required:
                self.field.fail("required")
            raise SkipField
        if data is None:
            if self.field.allow_null:
                return None
            self.field.fail("null")
        return resolve_code(self.model, data, tables[self.model], active_only=self.active_only)


class _Node(_Leaf):
    """A nested serializer: Serializer.run_validation and to_internal_value, over compiled fields."""

    def __init__(self, serializer):
        super().__init__(serializer)
        assert not serializer.validators, "serializer-level validators are not compiled"
        overridden = type(serializer).to_internal_value
        assert overridden is serializers.Serializer.to_internal_value or getattr(
            type(serializer), "finish_internal", None
        ), f"{type(serializer).__name__} overrides to_internal_value: give it finish_internal instead"
        self.finish = getattr(serializer, "finish_internal", None)
        self.set_value = serializer.set_value
        self.validate = (
            serializer.validate if type(serializer).validate is not serializers.Serializer.validate else None
        )
        self.invalid = serializer.error_messages["invalid"]
        self.fields = [
            (_compile(field), getattr(serializer, "validate_" + field.field_name, None))
            for field in serializer._writable_fields
        ]

    def run(self, data, tables):
        field = self.field
        if data is empty:
            if field.required:
                field.fail("required")
            return field.get_default()  # raises SkipField without a default
        if data is None:
            if not field.allow_null:
                field.fail("null")
            if field.source != "*":
                return None
        value = self.internal(data, tables)
        if self.validate is not None:
            try:
                value = self.validate(value)
            except (ValidationError, DjangoValidationError) as exc:
                raise ValidationError(detail=as_serializer_error(exc))
        return value

    def internal(self, data, tables):
        if not isinstance(data, Mapping):
            message = self.invalid.format(datatype=type(data).__name__)
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]}, code="invalid")
        ret, errors = {}, {}
        for node, hook in self.fields:
            try:
                value = node.run(data.get(node.name, empty), tables)
                if hook is not None:
                    value = hook(value)
            except ValidationError as exc:
                errors[node.name] = exc.detail
            except DjangoValidationError as exc:
                errors[node.name] = get_error_detail(exc)
            except SkipField:
                pass
            else:
                if len(node.source_attrs) == 1:
                    ret[node.source_attrs[0]] = value
                else:
                    self.set_value(ret, node.source_attrs, value)
        if errors:
            raise ValidationError(errors)
        return self.finish(ret) if self.finish is not None else ret


class _ListNode(_Leaf):
    """A `many=True` serializer: ListSerializer.run_validation and to_internal_value."""

    def __init__(self, field):
        super().__init__(field)
        assert not field.validators and field.default is empty
        self.child = _compile(field.child)

    def run(self, data, tables):
        field = self.field
        if data is empty:
            if field.required:
                field.fail("required")
            raise SkipField
        if data is None:
            if not field.allow_null:
                field.fail("null")
            return None
        if (
            not isinstance(data, list)
            or not field.allow_empty
            and not data
            or (field.max_length is not None and len(data) > field.max_length)
            or (field.min_length is not None and len(data) < field.min_length)
        ):
            return field.to_internal_value(data)  # raises DRF's own message
        ret, errors = [], {}
        run = self.child.run
        for index, item in enumerate(data):
            try:
                ret.append(run(item, tables))
            except ValidationError as exc:
                errors[index] = exc.detail
        if errors:
            if not api_settings.LIST_SERIALIZER_ERRORS_AS_DICT:
                errors = [errors.get(index, {}) for index in range(len(data))]
            raise ValidationError(errors)
        return ret


_FAST = {
    serializers.CharField: _CharLeaf,
    OrderNoField: _CharLeaf,
    serializers.IntegerField: _IntegerLeaf,
    serializers.ChoiceField: _ChoiceLeaf,
    serializers.DateField: _DateLeaf,
    serializers.TimeField: _TimeLeaf,
}


def _own_validators(field):
    """How many validators a field of its type makes from its own arguments (more: given by hand)."""
    if isinstance(field, serializers.CharField):
        return (field.max_length is not None) + (field.min_length is not None) + 2  # NUL, surrogates
    if isinstance(field, serializers.IntegerField):
        return (field.max_value is not None) + (field.min_value is not None)
    return 0


def _compile(field):
    """The checker of one field of the tree; the DRF field itself for anything the fast paths do not cover."""
    if isinstance(field, serializers.ListSerializer):
        return _ListNode(field)
    if isinstance(field, serializers.Serializer):
        return _Node(field)
    if isinstance(field, CodeField):
        return _CodeLeaf(field)
    kind = _FAST.get(type(field))
    iso_only = {
        _DateLeaf: api_settings.DATE_INPUT_FORMATS,
        _TimeLeaf: api_settings.TIME_INPUT_FORMATS,
    }
    if kind in iso_only and getattr(field, "input_formats", iso_only[kind]) != [ISO_8601]:
        kind = None
    if kind is _CharLeaf and (field.min_length is not None or not field.trim_whitespace):
        kind = None
    if kind is not None and len(field.validators) != _own_validators(field):
        kind = None
    return (kind or _Leaf)(field)


class _Root:
    """The create body: one OrderSerializer, bound once, its tree compiled."""

    def __init__(self, serializer_class):
        # Binding the tree needs no request; the serializer is never validated itself.
        self.serializer = serializer_class()
        self.node = _Node.__new__(_Node)
        _Node.__init__(self.node, self.serializer)

    def errors(self, data, tables):
        """(validated data, None) or (None, errors as DRF's `serializer.errors` has them)."""
        try:
            if data is None:
                self.serializer.fail("null")
            return self.node.run(data, tables), None
        except ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, list) and len(detail) == 1 and getattr(detail[0], "code", None) == "null":
                detail = {api_settings.NON_FIELD_ERRORS_KEY: ["No data provided"]}
            return None, detail


def _compile_lazy_patterns(serializer):
    """Compile now the patterns Django's validators compile on first use (EmailValidator's domain
    pattern took ~0.3 s of a web worker's first create with an e-mail address: a latency spike per
    worker, once; at import it is paid at start-up and frozen with the rest, stream_portal/wsgi.py)."""
    for field in serializer.fields.values():
        child = getattr(field, "child", field)
        if isinstance(child, serializers.BaseSerializer):
            _compile_lazy_patterns(child)
            continue
        for validator in getattr(field, "validators", ()):
            for name in ("regex", "user_regex", "domain_regex", "literal_regex"):
                pattern = getattr(validator, name, None)
                if pattern is not None:
                    pattern.pattern  # noqa: B018 - touching a lazy pattern compiles it


_ORDER = _Root(OrderSerializer)
_compile_lazy_patterns(_ORDER.serializer)


def _checked(data, tables):
    if html.is_html_input(data):  # not JSON (the API parses JSON only): DRF's own reading of forms
        return _by_serializer(data, tables)
    validated, errors = _ORDER.errors(data, tables)
    if getattr(settings, "ORDER_VALIDATION_CROSSCHECK", False):
        _crosscheck(data, tables, validated, errors)
    return validated, errors


def check_order(data, tables):
    """Validate an order create body as OrderSerializer(data=data, context={"reference": tables}) does.

    `tables` are orders/reference.py's code tables. Returns (validated data, None) or (None, errors
    flattened to dotted paths, as the API answers them).
    """
    validated, errors = _checked(data, tables)
    return (validated, None) if errors is None else (None, flatten(errors))


def validate_order(data, tables):
    """The validated data, or ValidationError with the same errors as `is_valid(raise_exception=True)`."""
    validated, errors = _checked(data, tables)
    if errors is not None:
        raise ValidationError(errors)
    return validated


# --- The same body through OrderSerializer itself (tests switch this on for every create they make) ---


def _by_serializer(data, tables):
    serializer = OrderSerializer(data=data, context={"reference": tables})
    if serializer.is_valid():
        return serializer.validated_data, None
    return None, serializer.errors


def _same(a, b):
    """Equal, and of the same types all the way down (1 is not True, Decimal("1.0") is not Decimal("1"))."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, ErrorDetail):
        return str(a) == str(b) and a.code == b.code
    if isinstance(a, Decimal):
        return str(a) == str(b)
    return a == b


def _crosscheck(data, tables, validated, errors):
    expected_validated, expected_errors = _by_serializer(data, tables)
    expected_errors = None if expected_errors is None else dict(expected_errors)
    got = (validated, None if errors is None else flatten(errors))
    expected = (expected_validated, None if expected_errors is None else flatten(expected_errors))
    if not _same(got, expected):
        raise AssertionError(f"fast validation differs from OrderSerializer for {data!r}: {got!r} != {expected!r}")
