"""Small template helpers of the office pages."""

import functools
import html
import re
from urllib.parse import quote

from django import template
from django.template.defaultfilters import date as date_filter
from django.template.loader import render_to_string
from django.urls import get_script_prefix, reverse
from django.utils.html import format_html
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import get_language

from ..filters import reference_options
from ..models import Order, StockMovement

register = template.Library()

# A badge says its status in words; the colour only helps the eye (netbox keeps them together too).
ORDER_BADGES = {
    Order.Status.AWAITING_STOCK: "amber",
    Order.Status.READY: "green",
    Order.Status.PLANNED: "blue",
    Order.Status.IN_PROGRESS: "purple",
    Order.Status.COMPLETED: "grey",
    Order.Status.FAILED: "red",
    Order.Status.CANCELLED: "grey",
}
MOVEMENT_BADGES = {
    StockMovement.Status.PENDING: "amber",
    StockMovement.Status.DISPATCHED: "blue",
    StockMovement.Status.RECEIVED: "green",
    StockMovement.Status.CANCELLED: "grey",
}


@register.simple_tag
def status_badge(status):
    """An order's (or group's) status as a coloured badge with its words."""
    try:
        value = Order.Status(status)
    except ValueError:
        return format_html('<span class="badge badge-grey">{}</span>', status or "—")
    return format_html('<span class="badge badge-{}">{}</span>', ORDER_BADGES[value], value.label)


@register.simple_tag
def movement_badge(status):
    try:
        value = StockMovement.Status(status)
    except ValueError:
        return format_html('<span class="badge badge-grey">{}</span>', status or "—")
    return format_html('<span class="badge badge-{}">{}</span>', MOVEMENT_BADGES[value], value.label)


@register.filter
def address(obj):
    """An address on one line: its parts, or its position when it has only lat/lng."""
    parts = [getattr(obj, f) for f in ("line1", "line2", "line3", "town", "county", "postal_code", "country")]
    text = ", ".join(str(p) for p in parts if p)
    if not text and obj.lat is not None:
        text = f"{obj.lat}, {obj.lng}"
    return text or "—"


@register.filter
def status_label(value):
    """The words for an order or movement status value."""
    for choices in (Order.Status, StockMovement.Status):
        try:
            return choices(value).label
        except ValueError:
            continue
    return value


# --- {% url %} for the rows of long lists ---------------------------------------------------------

_SLOT = "zqslot{}zq"
_SLOTS = re.compile(r"zqslot(\d)zq")
_URL_SAFE = RFC3986_SUBDELIMS + "/~:@"  # what reverse() leaves unquoted


@functools.lru_cache(maxsize=64)
def _url_parts(name, count, prefix):
    """reverse(name) with placeholders, split around them: (text, slot, text, slot, ..., text)."""
    parts = _SLOTS.split(reverse(name, args=[_SLOT.format(i) for i in range(count)]))
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


@register.simple_tag
def row_url(name, *args):
    """`{% url name args %}`, the same text, for a table of many rows: Django's reverse() runs once per
    URL name (and script prefix) and each value is quoted into its place as reverse() quotes it. A value
    its `<str:…>` converter refuses (empty, or with a slash) goes through reverse() itself, which says so."""
    values = [str(arg) for arg in args]
    if any(not value or "/" in value for value in values):
        return reverse(name, args=values)
    parts = _url_parts(name, len(values), get_script_prefix())
    return "".join(quote(values[p], safe=_URL_SAFE) if i % 2 else p for i, p in enumerate(parts))


# --- The order list's rows and the inline notes, built in Python ----------------------------------
#
# The office list renders 50–100 rows, each with two inline notes: through the template engine that
# was most of the page's time (an include and ~40 variable lookups per row). The markup lives here
# once: the list's rows call these functions directly and `_note.html#display` calls `note_display`.

_NOTE_NAMES = {"driver_notes": ("Driver:", "driver notes")}
_OTHER_NOTE = ("Location:", "location instructions")
_NOTE_FIELDS = ("driver_notes", "location_instructions")


def _esc(value):
    """conditional_escape without its lazy-string wrapper (the same text: html.escape, as Django's escape)."""
    return value.__html__() if hasattr(value, "__html__") else html.escape(str(value))


_NOTE = (
    '\n<div class="inline-note">\n  {}\n  <span class="inline-value">{}</span>\n  {}\n'
    '  <a href="{}" hx-get="{}{}"\n'
    '     hx-target="closest .inline-note" hx-swap="outerHTML" hx-push-url="false">Edit'
    '<span class="visually-hidden"> {} of {}</span></a>\n</div>\n'
)


@register.simple_tag
def note_display(order_no, field, value, labelled=False, last_change=None):
    """An order's driver notes or location instructions with its Edit control (docs/dashboard.md)."""
    label, spoken = _NOTE_NAMES.get(field, _OTHER_NOTE)
    url = _esc(row_url("orders:order_note", order_no, field))
    meta = ""
    if last_change:
        meta = format_html(
            '<div class="meta">Changed by {}, {}</div>',
            last_change.actor_label,
            date_filter(template_localtime(last_change.at), "D j M H:i"),
        )
    return mark_safe(  # noqa: S308 - every value is escaped
        _NOTE.format(
            f'<span class="note-label">{label}</span>' if labelled else "",
            _esc(value or "—"),
            meta,
            url,
            url,
            "?labelled=1" if labelled else "",
            spoken,
            _esc(order_no),
        )
    )


_ROW = (
    '\n        <tr>\n          <td><a href="{}">{}</a></td>\n          <td>{}</td>\n          <td>{}</td>\n'
    '          <td class="col-optional">{}</td>\n          <td class="col-optional">{}</td>\n'
    '          <td>{}</td>\n          <td class="col-optional">{}</td>\n          <td>{}</td>\n'
    "          <td>\n            {}\n            {}\n          </td>\n        </tr>\n"
)

# The columns of a row, in this order: the list reads them with one `values_list()` (no model instances).
ROW_FIELDS = (
    "order_no",
    "customer_name",
    "postal_code",
    "customer_reference",
    "order_type",
    "required_date",
    "service_level__code",
    "status",
    "driver_notes",
    "location_instructions",
)
# An order number that reverse() and escape() both leave as it is (the bench's and most real ones).
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]+")


@functools.lru_cache(maxsize=2048)
def _day(value, language):
    return _esc(date_filter(value, "D j M Y") or "—")


def _labelled_note(field, value, url, order_no):
    """`note_display(order_no, field, value, labelled=True)` with its pieces given as format fields."""
    label, spoken = _NOTE_NAMES.get(field, _OTHER_NOTE)
    label = f'<span class="note-label">{label}</span>'
    return _NOTE.format(label, value, "", url, url, "?labelled=1", spoken, order_no)


# A row's markup as one format string: 0 detail URL, 1 order number, 2 customer, 3 postal code,
# 4 reference, 5 type, 6 required date, 7 service level, 8 status badge, 9 driver notes and 10 their
# URL, 11 location instructions and 12 their URL. Every value is escaped before it goes in.
_ROW_FORMAT = _ROW.format(
    *(f"{{{n}}}" for n in range(9)),
    _labelled_note("driver_notes", "{9}", "{10}", "{1}"),
    _labelled_note("location_instructions", "{11}", "{12}", "{1}"),
)


@functools.lru_cache(maxsize=16)
def _row_words(language, prefix):
    """What every row repeats, worked out once per language and script prefix: each status's badge,
    each type's words, and the text around the order number in the detail and note URLs."""
    badges = {value: str(status_badge(value)) for value in Order.Status.values}
    types = {value: _esc(label) for value, label in Order.Type.choices}
    urls = []
    for name, fields in (("orders:order_detail", ()), *(("orders:order_note", (f,)) for f in _NOTE_FIELDS)):
        parts = _url_parts(name, 1 + len(fields), prefix)  # text, slot, text[, slot, text]
        urls.append((parts[0], parts[2] + "".join(f + parts[4] for f in fields)))
    return badges, types, urls


@register.simple_tag
def order_rows(rows):
    """The office list's table rows (`orders/order_list.html`), one `<tr>` per tuple of ROW_FIELDS,
    the same markup as `note_display` and `{% url %}` make, built without them for the usual order
    number (letters, digits, `-_.~`: nothing to quote or escape)."""
    language = get_language()
    badges, types, ((detail, detail_end), (driver, driver_end), (location, location_end)) = _row_words(
        language, get_script_prefix()
    )
    escape = html.escape
    plain = _PLAIN.fullmatch
    out = []
    for order_no, customer, postal_code, reference, order_type, required, service, status, notes, where in rows:
        if plain(order_no):
            urls = (detail + order_no + detail_end, driver + order_no + driver_end, location + order_no + location_end)
            number = order_no
        else:  # quoted by reverse() and escaped, as {% url %} and note_display do
            urls = (
                _esc(row_url("orders:order_detail", order_no)),
                *(_esc(row_url("orders:order_note", order_no, field)) for field in _NOTE_FIELDS),
            )
            number = escape(order_no)
        out.append(
            _ROW_FORMAT.format(
                urls[0],
                number,
                escape(customer),
                escape(postal_code),
                escape(reference),
                types.get(order_type) or escape(order_type),
                _day(required, language),
                escape(service or "—"),
                badges.get(status) or status_badge(status),
                escape(notes or "—"),
                urls[1],
                escape(where or "—"),
                urls[2],
            )
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


# --- The order list's filter fields, rendered once per distinct query ------------------------------

_FILTER_FIELDS = {}
_FILTER_FIELDS_KEPT = 256


@register.simple_tag
def filter_fields(filterset):
    """The filter fields of `orders/order_list.html` (`orders/_order_filters.html`).

    Django renders every widget and every option through its template engine, a fifth of the list's
    time; the result depends only on the fields' values, the language and the reference data offered
    in the three selects, so it is kept per process for the last few hundred distinct keys. The
    reference data is read on every request (one statement for the three selects, which the order
    list's full page shares with its latest change), so a new or
    renamed depot shows at once; a form with errors is never kept."""
    form = filterset.form
    options = getattr(filterset, "reference_options", None)  # read with the list's latest change
    if options is None:
        options = reference_options()
    choices = []
    for name, objs in options.items():
        if name in form.fields:
            form.fields[name].options = objs
            choices.append(tuple((obj.pk, obj.code) for obj in objs))
    bound = tuple((name, tuple(form.data.getlist(name))) for name in form.fields) if form.is_bound else None
    key = (bound, get_language(), tuple(choices))
    html_text = _FILTER_FIELDS.get(key)
    if html_text is None:
        html_text = render_to_string("orders/_order_filters.html", {"filter": filterset})
        if form.is_bound and form.errors:
            return html_text
        if len(_FILTER_FIELDS) >= _FILTER_FIELDS_KEPT:
            _FILTER_FIELDS.pop(next(iter(_FILTER_FIELDS)))
        _FILTER_FIELDS[key] = html_text
    return html_text
