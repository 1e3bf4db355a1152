"""Office pages for orders: the list, create and edit, the detail page and inline notes."""

import hashlib
import logging
import re
import time
from datetime import date
from urllib.parse import urlencode

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.db.models import Count
from django.http import Http404, HttpResponseBadRequest, HttpResponseNotModified, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseLocation, push_url

from .. import services, trunking
from ..api.serializers import GroupUpdateSerializer, OrderSerializer, OrderUpdateSerializer
from ..domain import Actor, OrderError, VersionMismatch, can_transition
from ..filters import DEFAULT_SORT, OrderFilter, reference_options
from ..forms import ADDRESS, GroupForm, LineForm, NoteForm, OrderForm, ReferenceChoices, StatusMoveForm
from ..models import DeliveryMethod, FailureReason, Order, StockLocation
from ..templatetags.portal import ORDER_BADGES, ROW_FIELDS
from .access import office_required

logger = logging.getLogger(__name__)

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50
# Per-status counts cover the whole table: recomputed when an order has changed since, but at most
# once every STATUS_COUNTS_FLOOR_SECONDS however busy the table, never on every request.
STATUS_COUNTS_FLOOR_SECONDS = 10
STATUS_COUNTS_KEY = "office:order-status-counts"


def _int(value, default, *, allowed=None, minimum=1, maximum=1_000_000):
    """A whole number from the query or form, or `default` when it is missing, odd or out of range."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    if allowed is not None and number not in allowed:
        return default
    if number > maximum:
        return default
    return max(number, minimum)


def status_counts(latest):
    """{status: count} over every order; `latest` is the newest updated_at the caller saw."""
    try:
        cached = cache.get(STATUS_COUNTS_KEY)
    except Exception:  # a cache outage costs one GROUP BY, not the page
        cached = None
    now = time.time()
    if cached and (cached["latest"] == latest or now - cached["at"] < STATUS_COUNTS_FLOOR_SECONDS):
        return cached["counts"]
    counts = dict(Order.objects.order_by().values_list("status").annotate(n=Count("id")))
    try:
        cache.set(STATUS_COUNTS_KEY, {"latest": latest, "at": now, "counts": counts}, 3600)
    except Exception:
        logger.warning("status counts: cache unavailable", exc_info=True)
    return counts


_LATEST_SQL = "SELECT MAX({}) FROM {}".format(  # noqa: S608 - names from the model
    *(connection.ops.quote_name(name) for name in (Order._meta.get_field("updated_at").column, Order._meta.db_table))
)


def _latest_change():
    """The newest `updated_at` of any order, as text (an index-only read of `order_updated_id_idx`).
    Plain SQL: the ORM's aggregate() costs about 1 ms of Python here for one value."""
    with connection.cursor() as cursor:
        cursor.execute(_LATEST_SQL)
        return _latest_text(cursor.fetchone()[0])


def _latest_text(latest):
    """The ETag's text for the newest `updated_at`, however it was read (alone or with the options)."""
    if latest is None:
        return "-"
    return latest.isoformat() if hasattr(latest, "isoformat") else str(latest)  # SQLite gives text


DEFAULTS = {"sort": DEFAULT_SORT, "per_page": str(DEFAULT_PAGE_SIZE), "page": "1"}


def _clean_query(params):
    """The query parameters that say something: no empty fields, no defaults."""
    query = QueryDict(mutable=True)
    for key, values in params.lists():
        kept = [v for v in values if v and DEFAULTS.get(key) != v]
        if kept:
            query.setlist(key, kept)
    return query


# Table columns: (label, the ?sort= key it sorts by, or None, hidden on narrow screens).
COLUMNS = [
    ("Order", "order_no", False),
    ("Customer", "customer", False),
    ("Postal code", None, False),
    ("Reference", None, True),
    ("Type", None, True),
    ("Required", "required_date", False),
    ("Service", None, True),
    ("Status", "status", False),
    ("Notes for the driver", None, False),
]


def _columns(current_sort, link):
    """Headers with the link that sorts by them (again: the other way) and their aria-sort state."""
    columns = []
    for label, key, optional in COLUMNS:
        column = {"label": label, "key": key, "next": key, "aria": None, "optional": optional}
        if key and current_sort.lstrip("-") == key:
            descending = current_sort.startswith("-")
            column["aria"] = "descending" if descending else "ascending"
            column["next"] = key if descending else f"-{key}"
        if key:
            column["url"] = link(sort=column["next"], page=None)
        columns.append(column)
    return columns


_HX_LINK = 'hx-target="#order-results" hx-swap="outerHTML" hx-push-url="true"'
_ARROWS = {"ascending": " ▲", "descending": " ▼"}


def _column_headers(columns):
    """The table's `<th>`s, the markup the template's loop made (9 columns; ~0.8 ms a page there)."""
    cells = []
    for column in columns:
        optional = mark_safe(' class="col-optional"') if column["optional"] else ""
        aria = format_html(' aria-sort="{}"', column["aria"]) if column["aria"] else ""
        if column["key"]:
            inner = format_html(
                '<a href="{}" hx-get="{}" ' + _HX_LINK + ">{}{}</a>",
                column["url"],
                column["url"],
                column["label"],
                _ARROWS.get(column["aria"], ""),
            )
        else:
            inner = conditional_escape(column["label"])
        cells.append(format_html('\n          <th scope="col"{}{}>{}</th>\n          ', optional, aria, inner))
    return mark_safe("".join(cells))  # noqa: S308 - each cell made by format_html


def _status_links(items, current_status):
    """The per-status links (`<li>`s after "All"), the markup the template's loop made."""
    return mark_safe(  # noqa: S308 - each item made by format_html
        "".join(
            format_html(
                '\n    <li><a href="{}" hx-get="{}" '
                + _HX_LINK
                + '{}><span class="badge badge-{}">{} {}</span></a></li>\n    ',
                item["url"],
                item["url"],
                mark_safe(' aria-current="true"') if current_status == item["value"] else "",
                item["badge"],
                item["label"],
                item["count"],
            )
            for item in items
        )
    )


def _linker(query):
    """Django's `querystring(None, query, **changes)`, the same text, for the list's ~14 links a page
    (made once each here rather than twice each in the template): each parameter of `query` is
    encoded once, as `QueryDict.urlencode()` does, instead of once per link; a change keeps the
    parameter's place, a new one goes last, `None` removes it. tests/orders/test_list_markup.py
    compares it with Django's on hostile, repeated and non-ASCII parameters."""
    encoded = {key: [urlencode({key: value}) for value in values] for key, values in query.lists()}

    def link(**changes):
        pieces = dict(encoded)
        for key, value in changes.items():
            if value is None:
                pieces.pop(key, None)
            else:
                pieces[key] = [urlencode({key: str(value)})]
        return "?" + "&".join(piece for values in pieces.values() for piece in values)

    return link


def _list_etag(request, latest):
    """Changes whenever any order changes: every service saves the order, which moves updated_at."""
    raw = f"{latest}|{request.GET.urlencode()}"
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:20] + '"'


@require_GET
@office_required
def order_list(request):
    options = None
    if request.htmx:
        latest = _latest_change()
    else:
        # A full page without htmx is never answered 304: its latest change is read together with
        # the options of the filter selects, one statement (`filter_fields` uses them).
        options, latest = reference_options(latest=True)
        latest = _latest_text(latest)
    etag = _list_etag(request, latest)
    if request.htmx and request.headers.get("If-None-Match") == etag:
        response = HttpResponseNotModified()
        response["ETag"] = etag
        patch_vary_headers(response, ["HX-Request"])
        return response

    page = _int(request.GET.get("page"), 1)
    page_size = _int(request.GET.get("per_page"), DEFAULT_PAGE_SIZE, allowed=PAGE_SIZES)
    filterset = OrderFilter(request.GET or None, queryset=Order.objects.all())
    filterset.reference_options = options
    start = (page - 1) * page_size
    filterset.rows_wanted = start + page_size + 1
    valid = filterset.is_valid() if request.GET else True
    orders, has_next = [], False
    if valid:
        # One row more than the page tells whether there is a next page, without COUNT(*).
        # The row's columns only, as tuples: no model instances (orders/templatetags/portal.py).
        orders = list(filterset.qs.values_list(*ROW_FIELDS)[start : start + page_size + 1])
        has_next = len(orders) > page_size
        orders = orders[:page_size]
    counts = status_counts(latest)
    current_sort = (filterset.form.cleaned_data.get("sort") if valid and request.GET else None) or DEFAULT_SORT
    query = _clean_query(request.GET)
    link = _linker(query)
    context = {
        "query": query,
        "poll_url": link(),
        "all_url": link(status=None, page=None),
        "previous_url": link(page=page - 1) if page > 1 else None,
        "next_url": link(page=page + 1) if has_next else None,
        "column_headers": _column_headers(_columns(current_sort, link)),
        "section": "orders",
        "filter": filterset,
        "orders": orders,
        "page": page,
        "page_size": page_size,
        "page_sizes": PAGE_SIZES,
        "status_links": _status_links(
            [
                {
                    "value": value,
                    "label": label,
                    "count": counts.get(value, 0),
                    "badge": ORDER_BADGES[value],
                    "url": link(status=value, page=None),
                }
                for value, label in Order.Status.choices
            ],
            request.GET.get("status", ""),
        ),
        "total": sum(counts.values()),
        "current_status": request.GET.get("status", ""),
        "etag": etag,
    }
    template = "orders/order_list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#results"
    response = render(request, template, context, status=200 if valid else 400)
    if request.htmx and not request.htmx.history_restore_request and request.headers.get("If-None-Match") is None:
        # The address bar gets the filters that are set, not every empty field of the form.
        push_url(response, f"{request.path}?{query.urlencode()}" if query else request.path)
    response["ETag"] = etag
    patch_vary_headers(response, ["HX-Request"])
    # Always asked again: the poller sends If-None-Match itself and gets 304 when nothing changed.
    patch_cache_control(response, no_store=True)
    return response


# --- Create and edit ----------------------------------------------------------------------------

CUSTOMER_KEYS = {
    "name": "customer_name",
    "mobile": "customer_mobile",
    "email": "customer_email",
    "phone": "customer_phone",
}
HEADER_SCALARS = (
    "order_date",
    "customer_reference",
    "unload_minutes",
    "required_date",
    "required_time_from",
    "required_time_to",
    "order_notes",
    "location_instructions",
    "driver_notes",
)
LINE_KEYS = ("line_no", "sku", "description", "quantity", "weight_kg", "cube_m3", "stock_location", "delivery_method")
WINDOW = ("required_date", "required_time_from", "required_time_to")
ROW_INDEX = re.compile(r"^(lines|groups)-(\d+)-")


def _indexes(data, prefix):
    return sorted({int(m.group(2)) for key in data for m in [ROW_INDEX.match(key)] if m and m.group(1) == prefix})


class OrderEditor:
    """The order form: header, lines and (multi orders) legs, from a request or an order."""

    def __init__(self, request, order=None):
        self.order = order
        self.choices = ReferenceChoices()
        editing = order is not None
        data = request.POST if request.method == "POST" else None
        if data is not None:
            self.header = OrderForm(data, choices=self.choices, editing=editing)
            self.lines = [LineForm(data, prefix=f"lines-{i}", choices=self.choices) for i in _indexes(data, "lines")]
            self.groups = [GroupForm(data, prefix=f"groups-{i}", editing=editing) for i in _indexes(data, "groups")]
        elif editing:
            self.header = OrderForm(initial=self._order_initial(order), choices=self.choices, editing=True)
            self.lines = [
                LineForm(prefix=f"lines-{i}", initial=self._line_initial(line), choices=self.choices)
                for i, line in enumerate(order.lines.select_related("group", "stock_location", "delivery_method"))
            ]
            self.groups = []
            if order.is_multi:
                self.groups = [
                    GroupForm(prefix=f"groups-{i}", initial=self._group_initial(group), editing=True)
                    for i, group in enumerate(order.groups.all())
                ]
        else:
            self.header = OrderForm(initial={"country": "GB"}, choices=self.choices)
            self.lines = [LineForm(prefix="lines-0", initial={"line_no": 1, "quantity": 1}, choices=self.choices)]
            self.groups = [
                GroupForm(prefix=f"groups-{i}", initial={"sequence": i + 1, "country": "GB"}) for i in (0, 1)
            ]
        self.stale = None

    @staticmethod
    def _order_initial(order):
        initial = {f: getattr(order, f) for f in (*CUSTOMER_KEYS.values(), *HEADER_SCALARS, *ADDRESS)}
        initial["service_level"] = order.service_level.code if order.service_level_id else ""
        initial["version"] = order.version
        return initial

    @staticmethod
    def _line_initial(line):
        initial = {f: getattr(line, f) for f in ("line_no", "sku", "description", "quantity", "weight_kg", "cube_m3")}
        initial.update(
            sequence=line.group.sequence,
            stock_location=line.stock_location.code,
            delivery_method=line.delivery_method.code,
            on_hand_date=line.on_hand_date,
            assembly_minutes=line.assembly_minutes,
        )
        return initial

    @staticmethod
    def _group_initial(group):
        return {
            "sequence": group.sequence,
            "group_type": group.group_type,
            **{f: getattr(group, f) for f in (*WINDOW, *ADDRESS)},
        }

    @property
    def is_multi(self):
        if self.order is not None:
            return self.order.is_multi
        value = self.header["order_type"].value()
        return value == Order.Type.MULTI

    def live_lines(self):
        return [form for form in self.lines if not form.removed]

    def live_groups(self):
        return [form for form in self.groups if not form.removed]

    def forms_valid(self):
        forms = [self.header, *self.live_lines(), *self.live_groups()]
        return all([form.is_valid() for form in forms])

    # The API's body, from the forms' cleaned data.

    def _address(self, cleaned):
        return {f: cleaned.get(f) if f in ("lat", "lng") else (cleaned.get(f) or "") for f in ADDRESS}

    def _line(self, cleaned):
        line = {k: cleaned[k] for k in LINE_KEYS if cleaned.get(k) not in (None, "")}
        line.setdefault("description", "")
        for key in ("on_hand_date", "assembly_minutes"):
            if cleaned.get(key) is not None:
                line[key] = cleaned[key]
        if self.is_multi and cleaned.get("sequence") is not None:
            line["sequence"] = cleaned["sequence"]
        return line

    def body(self):
        c = self.header.cleaned_data
        body = {"customer": {k: c.get(v) or "" for k, v in CUSTOMER_KEYS.items()}}
        for key in HEADER_SCALARS:
            if key == "order_date" and c.get(key) is None:
                continue
            body[key] = c.get(key) if c.get(key) is not None else ("" if key in self.header.note_fields else None)
        body["customer_reference"] = c.get("customer_reference") or ""
        body["service_level"] = c.get("service_level") or None
        address = self._address(c)
        # A multi order's own address defaults to its first leg's; the preset country alone is not an address.
        if not self.is_multi or any(v not in ("", None) for k, v in address.items() if k != "country"):
            body["address"] = address
        self.line_order = self.live_lines()
        if self.order is None:
            body["order_no"] = c["order_no"]
            body["order_type"] = c["order_type"]
        if self.is_multi and self.order is None:
            self.group_order = self.live_groups()
            body["groups"] = []
            self.group_lines = []
            for form in self.group_order:
                g = form.cleaned_data
                lines = [f for f in self.line_order if f.cleaned_data.get("sequence") == g["sequence"]]
                self.group_lines.append(lines)
                body["groups"].append(
                    {
                        "sequence": g["sequence"],
                        "group_type": g["group_type"],
                        "address": self._address(g),
                        **{f: g.get(f) for f in WINDOW},
                        "lines": [self._line(f.cleaned_data) for f in lines],
                    }
                )
            orphans = [
                f
                for f in self.line_order
                if f.cleaned_data.get("sequence") not in [g["sequence"] for g in body["groups"]]
            ]
            for form in orphans:
                form.add_error("sequence", "Choose the leg this line belongs to (a leg number above).")
        else:
            body["lines"] = [self._line(f.cleaned_data) for f in self.line_order]
        if self.order is not None:
            body["replace_lines"] = True
        return body

    # Errors from the API's serializers, put back beside the fields they name.

    def apply_errors(self, errors):
        for key, value in errors.items():
            if key == "customer" and isinstance(value, dict):
                for k, msgs in value.items():
                    self._add(self.header, CUSTOMER_KEYS.get(k), msgs)
            elif key == "address":
                self._address_errors(self.header, value)
            elif key == "lines":
                self._row_errors(self.line_order, value)
            elif key == "groups":
                if _messages_only(value):
                    self._add(self.header, None, value)
                    continue
                for form, lines, err in zip(self.group_order, self.group_lines, value, strict=False):
                    for k, msgs in (err or {}).items():
                        if k == "address":
                            self._address_errors(form, msgs)
                        elif k == "lines":
                            self._row_errors(lines, msgs)
                        else:
                            self._add(form, k, msgs)
            else:
                self._add(self.header, key, value)

    def _address_errors(self, form, value):
        if isinstance(value, dict):
            for k, msgs in value.items():
                self._add(form, k, msgs)
        else:
            self._add(form, None, [f"Address: {m}" for m in _flat(value)])

    def _row_errors(self, forms, value):
        if _messages_only(value):
            self._add(self.header, None, [f"Lines: {m}" for m in _flat(value)])
            return
        for form, err in zip(forms, value, strict=False):
            for k, msgs in (err or {}).items():
                self._add(form, k, msgs)

    @staticmethod
    def _add(form, field, messages):
        messages = _flat(messages)
        if field == "non_field_errors":
            field = None
        if field is not None and field not in form.fields:
            messages = [f"{field.replace('_', ' ')}: {m}" for m in messages]
            field = None
        for message in messages:
            form.add_error(field, message)

    def add_service_error(self, exc):
        if isinstance(exc, DjangoValidationError):
            if hasattr(exc, "message_dict"):
                for key, msgs in exc.message_dict.items():
                    self._add(self.header, key if key in self.header.fields else None, msgs)
            else:
                self._add(self.header, None, exc.messages)
        elif exc.code == "duplicate" and "order_no" in self.header.fields:
            self.header.add_error("order_no", exc.message)
        else:
            self.header.add_error(None, exc.message)

    def has_errors(self):
        return any(form.errors for form in [self.header, *self.lines, *self.groups])

    def differences(self, current):
        """Where the saved order differs from what this person typed (shown after a refused stale save)."""
        c = self.header.cleaned_data
        rows = []
        for name in (*CUSTOMER_KEYS.values(), *HEADER_SCALARS, *ADDRESS):
            if name not in self.header.fields or name == "order_date":
                continue
            saved, typed = getattr(current, name), c.get(name)
            if (saved or None) != (typed or None):
                rows.append({"field": self.header.fields[name].label or name, "saved": saved, "yours": typed})
        saved_level = current.service_level.code if current.service_level_id else ""
        if saved_level != (c.get("service_level") or ""):
            rows.append({"field": "Service level", "saved": saved_level, "yours": c.get("service_level")})
        saved_lines = {
            line.line_no: f"{line.sku} × {line.quantity} from {line.stock_location.code} by {line.delivery_method.code}"
            for line in current.lines.select_related("stock_location", "delivery_method")
        }
        typed_lines = {
            f.cleaned_data["line_no"]: f"{f.cleaned_data['sku']} × {f.cleaned_data['quantity']} from "
            f"{f.cleaned_data['stock_location']} by {f.cleaned_data['delivery_method']}"
            for f in self.live_lines()
        }
        for line_no in sorted(set(saved_lines) | set(typed_lines)):
            if saved_lines.get(line_no) != typed_lines.get(line_no):
                rows.append(
                    {"field": f"Line {line_no}", "saved": saved_lines.get(line_no), "yours": typed_lines.get(line_no)}
                )
        return rows

    def next_line_index(self):
        return max([int(f.prefix.split("-")[1]) for f in self.lines], default=-1) + 1

    def next_line_no(self):
        numbers = [f["line_no"].value() for f in self.lines]
        return max([int(n) for n in numbers if str(n or "").isdigit()], default=0) + 1

    def next_group_index(self):
        return max([int(f.prefix.split("-")[1]) for f in self.groups], default=-1) + 1


def _flat(messages):
    if isinstance(messages, dict):
        return [f"{k}: {m}" for k, v in messages.items() for m in _flat(v)]
    if isinstance(messages, (list, tuple)):
        return [m for item in messages for m in _flat(item)]
    return [str(messages)]


def _messages_only(value):
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _save(editor, request):
    """Validate with the API's serializers and save through the services; True when saved."""
    if not editor.forms_valid():
        return False
    body = editor.body()
    if editor.has_errors():
        return False
    actor = Actor.for_user(request.user)
    if editor.order is None:
        serializer = OrderSerializer(data=body)
    else:
        serializer = OrderUpdateSerializer(editor.order, data=body, partial=True)
    if not serializer.is_valid():
        editor.apply_errors(serializer.errors)
        return False
    data = dict(serializer.validated_data)
    lines = data.pop("lines", None)
    groups = data.pop("groups", None)
    data.pop("replace_lines", None)
    try:
        with transaction.atomic():
            if editor.order is None:
                editor.order = services.create_order(actor=actor, fields=data, lines=lines, groups=groups)
            else:
                version = editor.header.cleaned_data.get("version")
                order = services.update_order(
                    editor.order, actor=actor, fields=data, lines=lines, replace_lines=True, expected_version=version
                )
                for form in editor.live_groups():
                    g = form.cleaned_data
                    fields = {"group_type": g["group_type"], **{f: g.get(f) for f in WINDOW}, **editor._address(g)}
                    group_serializer = GroupUpdateSerializer(
                        order.groups.get(sequence=g["sequence"]),
                        data={**fields, "address": editor._address(g)},
                        partial=True,
                    )
                    if not group_serializer.is_valid():
                        for k, msgs in group_serializer.errors.items():
                            if k == "address":
                                editor._address_errors(form, msgs)
                            else:
                                editor._add(form, k, msgs)
                        raise _Invalid
                    order = services.update_group(
                        order, g["sequence"], actor=actor, fields=group_serializer.validated_data
                    )
                editor.order = order
    except _Invalid:
        return False
    except VersionMismatch:
        current = Order.objects.select_related("service_level").get(pk=editor.order.pk)
        editor.stale = {"rows": editor.differences(current), "version": current.version}
        return False
    except (OrderError, DjangoValidationError) as exc:
        editor.add_service_error(exc)
        return False
    return True


class _Invalid(Exception):
    pass


def _editor_response(request, editor, *, status=200):
    context = {
        "section": "orders",
        "editor": editor,
        "order": editor.order,
        "next_line_index": editor.next_line_index(),
        "next_line_no": editor.next_line_no(),
        "next_group_index": editor.next_group_index(),
    }
    if editor.stale:
        # Offer to save again over the newer version, now that the differences are on the screen.
        data = request.POST.copy()
        data["version"] = editor.stale["version"]
        editor.header.data = data
    template = "orders/order_form.html"
    if request.htmx:
        template += "#order-form"
    return render(request, template, context, status=status)


def _saved(request, order, message):
    messages.success(request, message)
    url = reverse("orders:order_detail", args=[order.order_no])
    if request.htmx:
        return HttpResponseLocation(url)
    return redirect(url)


def _add_line_without_javascript(request, editor):
    """ "Add a line" posted as a plain form (no htmx): the same form again with one more row, not saved."""
    index, line_no = editor.next_line_index(), editor.next_line_no()
    initial = {"line_no": line_no, "quantity": 1}
    editor.lines.append(LineForm(prefix=f"lines-{index}", initial=initial, choices=editor.choices))
    return _editor_response(request, editor)


@require_http_methods(["GET", "POST"])
@office_required
def order_new(request):
    editor = OrderEditor(request)
    if request.method == "POST" and "add_line" in request.POST:
        return _add_line_without_javascript(request, editor)
    if request.method == "POST":
        if _save(editor, request):
            return _saved(request, editor.order, f"Order {editor.order.order_no} created.")
        return _editor_response(request, editor, status=422)
    return _editor_response(request, editor)


@require_http_methods(["GET", "POST"])
@office_required
def order_edit(request, order_no):
    order = _get_order(order_no)
    editor = OrderEditor(request, order)
    if request.method == "POST" and "add_line" in request.POST:
        return _add_line_without_javascript(request, editor)
    if request.method == "POST":
        if _save(editor, request):
            return _saved(request, editor.order, f"Order {editor.order.order_no} saved.")
        return _editor_response(request, editor, status=409 if editor.stale else 422)
    return _editor_response(request, editor)


@require_GET
@office_required
def line_row(request):
    """An empty line row for the order form, and the counters moved on (out of band)."""
    index = _int(request.GET.get("lines-next"), 0, minimum=0)
    line_no = _int(request.GET.get("lines-next-no"), index + 1)
    form = LineForm(prefix=f"lines-{index}", initial={"line_no": line_no, "quantity": 1}, choices=ReferenceChoices())
    multi = request.GET.get("order_type") == Order.Type.MULTI or request.GET.get("multi") == "1"
    context = {"line": form, "is_multi": multi, "next_line_index": index + 1, "next_line_no": line_no + 1, "oob": True}
    return render(request, "orders/order_form.html#line-row", context)


@require_GET
@office_required
def group_row(request):
    index = _int(request.GET.get("groups-next"), 0, minimum=0)
    form = GroupForm(prefix=f"groups-{index}", initial={"sequence": index + 1, "country": "GB"})
    context = {"group": form, "next_group_index": index + 1, "oob": True}
    return render(request, "orders/order_form.html#group-row", context)


@require_GET
@office_required
def trunking_hint(request):
    """What a line's stock location and delivery method mean for trunking, from trunking.preview."""
    prefix = request.GET.get("prefix", "")
    if not re.fullmatch(r"lines-\d{1,4}", prefix):
        return HttpResponseBadRequest("Which line? (prefix=lines-N)")
    location = StockLocation.objects.filter(code=request.GET.get(f"{prefix}-stock_location", "")).first()
    method = (
        DeliveryMethod.objects.select_related("depot")
        .filter(code=request.GET.get(f"{prefix}-delivery_method", ""))
        .first()
    )
    on_hand = None
    raw = request.GET.get(f"{prefix}-on_hand_date", "")
    if raw:
        try:
            on_hand = date.fromisoformat(raw)
        except ValueError:
            on_hand = None
    context = {"ready": location is not None and method is not None}
    if context["ready"]:
        context["preview"] = trunking.preview(location, method, on_hand)
        context["depot"] = method.depot.code
    return render(request, "orders/order_form.html#trunking-hint", context)


# --- Detail, notes and status -------------------------------------------------------------------


def _get_order(order_no):
    """The order by its number, or 404: every office user may see every order."""
    return get_object_or_404(Order.objects.select_related("service_level", "failure_reason"), order_no=order_no)


def _detail_context(order):
    groups = list(order.groups.all())
    lines = list(order.lines.select_related("stock_location", "delivery_method", "group"))
    movements = list(
        order.movements.select_related("from_location", "to_location").prefetch_related("lines").order_by("id")
    )
    history = list(order.history.select_related("movement", "group").order_by("at", "id"))
    last_changes = {}
    for change in order.note_changes.order_by("at", "id"):
        last_changes[change.field] = change
    return {
        "section": "orders",
        "order": order,
        "groups": groups,
        "lines": lines,
        "movements": movements,
        "history": history,
        "last_changes": last_changes,
        "status_targets": _status_targets(order),
        "can_cancel": order.cancel_allowed(),
        "failure_reasons": FailureReason.objects.active(),
        "editable": order.is_editable(),
    }


# Hand moves offered on the detail page: the service that makes each one. Moves to awaiting_stock and
# ready happen by themselves (stock arriving, a line changing), so they are not offered by hand.
HAND_MOVES = {
    Order.Status.PLANNED: services.plan_order,
    Order.Status.IN_PROGRESS: services.start_order,
    Order.Status.COMPLETED: services.complete_order,
    Order.Status.FAILED: services.fail_order,
}


def _status_targets(order):
    return [
        (target, Order.Status(target).label)
        for target in HAND_MOVES
        if can_transition(order.status, target)
        and not (target == Order.Status.PLANNED and order.status == Order.Status.PLANNED)
    ]


@require_GET
@office_required
def order_detail(request, order_no):
    order = _get_order(order_no)
    response = render(request, "orders/order_detail.html", _detail_context(order))
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_http_methods(["GET", "POST"])
@office_required
def order_note(request, order_no, field):
    """Inline editor of driver notes / location instructions: GET the editor (or ?show=1 the text), POST saves."""
    if field not in services.NOTE_FIELDS:
        raise Http404("No such note.")
    order = _get_order(order_no)
    context = {"order": order, "field": field, "value": getattr(order, field), "original": getattr(order, field)}
    # Editors opened from the list show which note they are; the detail page has headings instead.
    context["labelled"] = request.GET.get("labelled") == "1" or request.POST.get("labelled") == "1"
    context["last_change"] = order.note_changes.filter(field=field).order_by("-at", "-id").first()
    if request.method == "GET":
        if request.GET.get("show"):
            return render(request, "orders/_note.html#display", context)
        if request.htmx:
            return render(request, "orders/_note.html#editor", context)
        return render(request, "orders/note_edit.html", {**context, "section": "orders"})

    form = NoteForm(request.POST)
    if not form.is_valid():
        context.update(value=request.POST.get("value", ""), error=" ".join(_flat(list(form.errors.values()))))
        return _note_error(request, context, status=422)
    try:
        order = services.update_notes(
            order,
            actor=Actor.for_user(request.user),
            field=field,
            value=form.cleaned_data["value"].replace("\r\n", "\n"),
            expected_value=form.cleaned_data["original"].replace("\r\n", "\n"),
        )
    except OrderError as exc:
        order.refresh_from_db()
        context.update(
            value=getattr(order, field),
            original=getattr(order, field),
            error=f"{exc.message} Yours was: “{form.cleaned_data['value']}”",
        )
        return _note_error(request, context, status=409)
    if not request.htmx:
        messages.success(request, "Saved.")
        return redirect("orders:order_detail", order.order_no)
    context.update(
        order=order,
        value=getattr(order, field),
        last_change=order.note_changes.filter(field=field).order_by("-at", "-id").first(),
    )
    return render(request, "orders/_note.html#display", context)


def _note_error(request, context, *, status):
    if request.htmx:
        return render(request, "orders/_note.html#editor", context, status=status)
    return render(request, "orders/note_edit.html", {**context, "section": "orders"}, status=status)


@require_POST
@office_required
def order_cancel(request, order_no):
    order = _get_order(order_no)
    reason = request.POST.get("reason", "").strip()[:500]
    try:
        services.cancel_order(
            order,
            actor=Actor.for_user(request.user),
            note=f"Cancelled in the office: {reason}" if reason else "Cancelled in the office.",
            expected_version=_int(request.POST.get("version"), None),
        )
    except OrderError as exc:
        return _detail_with_error(request, order, exc.message)
    return _saved(request, order, f"Order {order.order_no} cancelled.")


@require_POST
@office_required
def order_move_status(request, order_no):
    order = _get_order(order_no)
    form = StatusMoveForm(request.POST)
    if not form.is_valid():
        return _detail_with_error(request, order, "Choose the new status and write the reason.", form=form, status=400)
    target = form.cleaned_data["target"]
    if target not in dict(_status_targets(order)):
        return _detail_with_error(
            request,
            order,
            f"The order is {order.get_status_display().lower()}; it cannot become "
            f"{Order.Status(target).label.lower()} by hand from there.",
            form=form,
        )
    actor = Actor.for_user(request.user)
    note = f"By hand: {form.cleaned_data['reason']}"
    version = _int(request.POST.get("version"), None)
    try:
        if target == Order.Status.FAILED:
            services.fail_order(
                order,
                actor=actor,
                reason_code=form.cleaned_data["failure_reason"],
                notes=form.cleaned_data["reason"],
                expected_version=version,
            )
        else:
            HAND_MOVES[target](order, actor=actor, note=note, expected_version=version)
    except OrderError as exc:
        return _detail_with_error(request, order, exc.message, form=form)
    except DjangoValidationError as exc:
        return _detail_with_error(request, order, " ".join(exc.messages), form=form)
    return _saved(request, order, f"Order {order.order_no} is now {Order.Status(target).label.lower()}.")


def _detail_with_error(request, order, message, form=None, status=409):
    order.refresh_from_db()
    context = _detail_context(order)
    context.update(action_error=message, status_form=form)
    template = "orders/order_detail.html"
    if request.htmx:
        template += "#actions"
    return render(request, template, context, status=status)
