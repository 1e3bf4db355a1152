"""The office list's status links and column headers, made in Python since session 6, are byte for
byte what the template's loops made (orders/views/orders.py: `_status_links`, `_column_headers`)."""

import pytest
from django.template import Context, Engine

from orders.views.orders import COLUMNS, _column_headers, _columns, _status_links

# The loops as they were in templates/orders/order_list.html, whitespace included.
OLD_STATUS_LOOP = """    {% for item in status_counts %}
    <li><a href="{{ item.url }}" hx-get="{{ item.url }}" hx-target="#order-results" hx-swap="outerHTML" hx-push-url="true"{% if current_status == item.value %} aria-current="true"{% endif %}><span class="badge badge-{{ item.badge }}">{{ item.label }} {{ item.count }}</span></a></li>
    {% endfor %}
"""  # noqa: E501
OLD_COLUMN_LOOP = """          {% for column in columns %}
          <th scope="col"{% if column.optional %} class="col-optional"{% endif %}{% if column.aria %} aria-sort="{{ column.aria }}"{% endif %}>{% if column.key %}<a href="{{ column.url }}" hx-get="{{ column.url }}" hx-target="#order-results" hx-swap="outerHTML" hx-push-url="true">{{ column.label }}{% if column.aria == "ascending" %} ▲{% elif column.aria == "descending" %} ▼{% endif %}</a>{% else %}{{ column.label }}{% endif %}</th>
          {% endfor %}
"""  # noqa: E501
# What the template has in their place now: the same text before and after the loop.
NEW = "    {}\n"
NEW_COLUMNS = "          {}\n"


def render(source, **context):
    return Engine().from_string(source).render(Context(context))


def hostile_link(**changes):
    return "?" + "&".join(f"{k}={v}" for k, v in changes.items() if v is not None) + '&q=<x> "a\'b"&amp;'


@pytest.mark.parametrize("current", ["", "ready", "cancelled", '<b>"x"</b>'])
def test_the_status_links_are_the_old_loops_markup(current):
    items = [
        {"value": v, "label": label, "count": n, "badge": badge, "url": hostile_link(status=v, page=None)}
        for n, (v, label, badge) in enumerate(
            [("ready", "Ready", "green"), ("cancelled", "Cancelled", "grey"), ("x<y", 'A & "B"', "amber")]
        )
    ]
    old = render(OLD_STATUS_LOOP, status_counts=items, current_status=current)
    assert NEW.format(_status_links(items, current)) == old
    assert 'href="?status=ready&amp;q=&lt;x&gt; &quot;a&#x27;b&quot;&amp;amp;"' in old


@pytest.mark.parametrize(
    "sort", ["-created", "required_date", "-required_date", "customer", "-customer", "status", "order_no", "-order_no"]
)
def test_the_column_headers_are_the_old_loops_markup(sort):
    columns = _columns(sort, hostile_link)
    old = render(OLD_COLUMN_LOOP, columns=columns)
    assert NEW_COLUMNS.format(_column_headers(columns)) == old
    assert old.count("<th ") == len(COLUMNS)


def test_hostile_column_labels_are_escaped_like_the_template():
    columns = [
        {"label": '<i>"x"</i>', "key": None, "aria": None, "optional": True},
        {"label": "A & B", "key": "k", "aria": "ascending", "optional": False, "url": hostile_link(sort="k")},
    ]
    assert NEW_COLUMNS.format(_column_headers(columns)) == render(OLD_COLUMN_LOOP, columns=columns)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "status=ready&sort=required_date",
        "q=%3Cx%3E+%22a%27b%22%26amp%3B&status=failed&page=3",
        "q=caf%C3%A9+%E2%82%AC&q=second&per_page=100",
        "q=a%3Db%26c%3Dd&required_from=2026-01-01&x+y=1%2B1",
    ],
)
@pytest.mark.parametrize(
    "changes", [{}, {"page": None}, {"status": "ready", "page": None}, {"sort": "-customer", "page": None}, {"page": 2}]
)
def test_the_links_are_djangos_querystring(raw, changes):
    from django.http import QueryDict
    from django.template.defaulttags import querystring

    from orders.views.orders import _linker

    query = QueryDict(raw, mutable=True)
    assert _linker(query)(**changes) == querystring(None, query, **changes)
