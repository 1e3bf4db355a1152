"""The office order list's filters: the query parameters of `/orders/` (docs/dashboard.md)."""

import copy
import functools

import django_filters
from django import forms
from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.http import QueryDict
from django_filters import fields as filter_fields
from django_filters.filters import FilterMethod

from .addresses import spaced_postal_codes
from .models import DeliveryMethod, Order, OrderLine, ServiceLevel, StockLocation

# ?sort= values: the column and a tie-breaker, so pages never overlap or skip rows.
SORTS = {
    "-created": ("-created_at", "-id"),
    "created": ("created_at", "id"),
    "order_no": ("order_no",),
    "-order_no": ("-order_no",),
    "required_date": ("required_date", "id"),
    "-required_date": ("-required_date", "-id"),
    "customer": ("customer_name", "id"),
    "-customer": ("-customer_name", "-id"),
    "status": ("status", "id"),
    "-status": ("-status", "-id"),
    "-updated": ("-updated_at", "-id"),
}
SORT_CHOICES = [
    ("-created", "Newest first"),
    ("created", "Oldest first"),
    ("required_date", "Required date, earliest first"),
    ("-required_date", "Required date, latest first"),
    ("order_no", "Order number A–Z"),
    ("-order_no", "Order number Z–A"),
    ("customer", "Customer A–Z"),
    ("-customer", "Customer Z–A"),
    ("status", "Status"),
    ("-status", "Status, reversed"),
    ("-updated", "Recently changed"),
]
DEFAULT_SORT = "-created"


class ListedChoiceIterator(filter_fields.ModelChoiceIterator):
    """A select's options from the rows `reference_options()` gave the field (`field.options`), or
    else from one plain SELECT. Django's own iterator streams them with `QuerySet.iterator()`, which
    on PostgreSQL opens a server-side cursor: DECLARE, FETCH and CLOSE, three round trips for a
    handful of depots, on every full page of the list."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        options = getattr(self.field, "options", None)
        for obj in self.queryset if options is None else options:
            yield self.choice(obj)


# The filters whose select offers reference data, and its model.
REFERENCE_FILTERS = {"stock_location": StockLocation, "delivery_method": DeliveryMethod, "service_level": ServiceLevel}


@functools.cache
def _reference_sql(latest):
    quote = connection.ops.quote_name
    branches = [
        f"SELECT {n}, {quote(model._meta.pk.column)}, {quote(model._meta.get_field('code').column)}, NULL "  # noqa: S608 - names from the models
        f"FROM {quote(model._meta.db_table)}"
        for n, model in enumerate(REFERENCE_FILTERS.values())
    ]
    if latest:
        # First, so that PostgreSQL types the fourth column by it (the NULLs after it follow).
        branches.insert(
            0,
            f"SELECT {len(REFERENCE_FILTERS)}, NULL, NULL, MAX({quote(Order._meta.get_field('updated_at').column)}) "  # noqa: S608
            f"FROM {quote(Order._meta.db_table)}",
        )
    return " UNION ALL ".join(branches) + " ORDER BY 1, 3"


def reference_options(*, latest=False):
    """{filter name: its options in the select's order (by code)}, from one statement for the three
    selects: unsaved instances holding the `pk` and `code` a select shows (its value and its label).
    With `latest=True`, `(options, the newest updated_at of any order)`: the office list's full page
    reads its ETag's latest change in the same statement (one round trip less).

    A full list page offers every depot, fleet and service level. Three ORM querysets cost three round
    trips and, on this 2-core machine, about 2.5 ms of Python building them (ORM compilation): more
    than the rows of the page. The statement is plain SQL over the models' own table and column
    names, the same on PostgreSQL and SQLite; it is read on every full page, so a new depot shows at
    once."""
    options = {name: [] for name in REFERENCE_FILTERS}
    names = list(REFERENCE_FILTERS)
    newest = None
    with connection.cursor() as cursor:
        cursor.execute(_reference_sql(latest))
        for n, pk, code, changed in cursor.fetchall():
            if n == len(names):
                newest = changed
            else:
                options[names[n]].append(REFERENCE_FILTERS[names[n]](pk=pk, code=code))
    return (options, newest) if latest else options


class ListedModelChoiceField(filter_fields.ModelChoiceField):
    iterator = ListedChoiceIterator


class ModelChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = ListedModelChoiceField


class OrderFilter(django_filters.FilterSet):
    """One set of filters for the list page; invalid values are reported beside their field."""

    q = django_filters.CharFilter(
        method="search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "maxlength": 100, "data-no-change-submit": ""}),
    )
    status = django_filters.ChoiceFilter(choices=Order.Status.choices, empty_label="Any status")
    order_type = django_filters.ChoiceFilter(choices=Order.Type.choices, empty_label="Any type", label="Type")
    required_from = django_filters.DateFilter(
        field_name="required_date",
        lookup_expr="gte",
        label="Required from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    required_to = django_filters.DateFilter(
        field_name="required_date",
        lookup_expr="lte",
        label="Required to",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    stock_location = ModelChoiceFilter(
        queryset=StockLocation.objects.all(),
        to_field_name="code",
        method="through_lines",
        empty_label="Any stock location",
        label="Stock location",
    )
    delivery_method = ModelChoiceFilter(
        queryset=DeliveryMethod.objects.all(),
        to_field_name="code",
        method="through_lines",
        empty_label="Any delivery method",
        label="Delivery method",
    )
    service_level = ModelChoiceFilter(
        queryset=ServiceLevel.objects.all(), to_field_name="code", empty_label="Any service level"
    )
    sort = django_filters.ChoiceFilter(choices=SORT_CHOICES, method="order_by", empty_label=None, label="Sort")

    class Meta:
        model = Order
        fields = []

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        """django-filter's own `__init__`, with each filter copied shallowly instead of the whole
        `base_filters` deep-copied (~0.7 ms a page: querysets, widgets and choices copied and then
        never changed). What a request sets on a filter, `parent` and `model`, is set on its own copy;
        a filter with a `method` gets its own `FilterMethod` pointing at that copy, so the method is
        looked up on this FilterSet (the shared one would point at the class's filter)."""
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {}
        for name, base in self.base_filters.items():
            filter_ = copy.copy(base)
            if filter_.method is not None:
                filter_.filter = FilterMethod(filter_)
            filter_.model = queryset.model
            filter_.parent = self
            self.filters[name] = filter_

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        matches = (
            Q(order_no__istartswith=value)
            | Q(customer_name__icontains=value)
            | Q(postal_code__istartswith=value)
            | Q(postal_code__iexact=value.replace(" ", ""))
            | Q(customer_reference__istartswith=value)
        )
        # A postal code typed without its space ("B124AA") finds "B12 4AA": the spaced forms, looked
        # for as prefixes so the postal-code search index serves them.
        for spaced in sorted(spaced_postal_codes(value)):
            matches |= Q(postal_code__istartswith=spaced)
        if connection.vendor != "postgresql":
            return queryset.filter(matches)
        # The matches first, through the search indexes (one bitmap of the five conditions), then the
        # page sorted from them: `id = ANY(ARRAY(...))`. Written as a plain filter, the planner may
        # walk the sort's index and test every order until it has a page, which reads the whole
        # table when the few matches are old orders (1.3 s a page at 20,000 orders in the bench;
        # 10 ms this way). A search that matches most of the table costs a sort of its matches.
        quote = connection.ops.quote_name
        if self.rows_wanted and not self._other_filters_set():
            # The search alone: only the rows up to the end of the page can be listed, so the
            # subquery picks them itself, sorted from the matches (the `OFFSET 0` keeps the planner
            # from walking the sort's index instead, as above), and the page reads those rows only,
            # not every match. At 1,000,000 orders a postal district ("B12", 5,200 matches) took
            # 26 ms this way round, 9 ms (EXPLAIN ANALYZE; session 6).
            keys = SORTS[self.form.cleaned_data.get("sort") or DEFAULT_SORT]
            columns = ["pk" if key.lstrip("-") == "id" else key.lstrip("-") for key in keys]
            wanted = [c for c in columns if c != "pk"]  # the id is read as "pk" already
            inner, params = Order.objects.filter(matches).order_by().values("pk", *wanted).query.sql_with_params()
            order = ", ".join(
                f"m.{quote(c)} DESC" if k.startswith("-") else f"m.{quote(c)} ASC"
                for k, c in zip(keys, columns, strict=True)
            )
            ids = f"SELECT m.{quote('pk')} FROM ({inner} OFFSET 0) m ORDER BY {order} LIMIT %s"  # noqa: S608
            params = (*params, self.rows_wanted)
        else:
            ids, params = Order.objects.filter(matches).order_by().values("pk").query.sql_with_params()
        table = quote(Order._meta.db_table)
        # The text is the ORM's own compiled subquery; the search term travels in params.
        found = RawSQL(f"{table}.{quote('id')} = ANY(ARRAY({ids}))", params, BooleanField())  # noqa: S611
        return queryset.filter(found)

    # Set by the view before it reads `qs`: how many rows, from the first, its page needs (the rows
    # before the page, the page, and one more to tell whether there is a next page). None: all.
    rows_wanted = None

    def _other_filters_set(self):
        """Whether any filter besides the search and the sort narrows the list."""
        return any(
            value not in (None, "", [], ())
            for name, value in self.form.cleaned_data.items()
            if name not in ("q", "sort")
        )

    def through_lines(self, queryset, name, value):
        # EXISTS rather than a join: an order with several matching lines is listed once.
        return queryset.filter(Exists(OrderLine.objects.filter(order=OuterRef("pk"), **{name: value})))

    def order_by(self, queryset, name, value):
        return queryset.order_by(*SORTS.get(value or DEFAULT_SORT, SORTS[DEFAULT_SORT]))

    def get_form_class(self):
        """The form class, made once per process: django-filter makes a new class, and a new form
        field for every filter, on every request. Nothing in these fields depends on the request
        (fixed choices, querysets of every row), and each form deep-copies its fields as Django's
        forms do, so one class serves every request."""
        cls = type(self)
        if "_form_class" not in cls.__dict__:
            cls._form_class = super().get_form_class()
        return cls._form_class

    @property
    def qs(self):
        queryset = super().qs
        if not getattr(self.form, "cleaned_data", {}).get("sort"):
            queryset = queryset.order_by(*SORTS[DEFAULT_SORT])
        return queryset
