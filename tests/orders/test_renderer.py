"""The API's JSON renderer (orders/api/renderers.py) writes exactly the bytes DRF's JSONRenderer writes."""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils.functional import lazy
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from orders.api.renderers import JSONRenderer
from tests.conftest import line


@dataclass
class Point:
    x: int
    y: int


lazy_text = lazy(lambda: "lazy text", str)

CASES = [
    None,
    {},
    [],
    {"a": 1, "b": [1, 2.5, -3, True, False, None], "c": {"d": "e"}},
    {"when": datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC), "day": date(2026, 11, 28), "at": time(9, 30)},
    {"naive": datetime(2026, 11, 28, 10, 0), "span": timedelta(hours=1, seconds=5)},
    {"money": Decimal("12.50"), "weight": Decimal("0.001"), "id": uuid.UUID(int=7)},
    {"text": "Zoë — ünïcode ✓ 🚚", "controls": 'tab\tnew\nline "quote" back\\slash \x01', "seps": "a\u2028b\u2029c"},
    {"lazy": lazy_text(), "error": [ErrorDetail("This field is required.", code="required")]},
    ReturnDict({"k": ReturnList([1, 2], serializer=None)}, serializer=None),
    {"tuple": (1, 2), "nested": [[{"x": [()]}]]},
    {"big": 2**70, "small": -(2**70)},
    {1: "int key", "s": "str key"},
    {"floats": [0.1, 0.0001, 53.480759, -2.242631, 123456789.123, 1e15, -0.0, 7.0]},
]


@pytest.mark.parametrize("data", CASES)
def test_the_bytes_are_drf_s(data):
    assert JSONRenderer().render(data) == renderers.JSONRenderer().render(data)


def test_a_small_float_may_be_written_otherwise_but_is_the_same_number():
    data = {"tiny": 1.2e-05, "tinier": 1e-07, "huge": 1e16}

    ours, drf = JSONRenderer().render(data), renderers.JSONRenderer().render(data)

    assert ours == b'{"tiny":0.000012,"tinier":1e-7,"huge":1e+16}'
    assert drf == b'{"tiny":1.2e-05,"tinier":1e-07,"huge":1e+16}'
    assert json.loads(ours) == json.loads(drf) == data


def test_what_drf_cannot_render_fails_the_same_way():
    with pytest.raises(TypeError):
        renderers.JSONRenderer().render({"point": Point(1, 2)})
    with pytest.raises(TypeError):
        JSONRenderer().render({"point": Point(1, 2)})


def test_an_indent_asked_for_is_honoured_as_drf_does():
    data = {"a": [1, {"b": 2}]}
    for media_type in ("application/json; indent=4", "application/json; indent=0"):
        assert JSONRenderer().render(data, media_type) == renderers.JSONRenderer().render(data, media_type)


def test_an_order_list_page_is_rendered_as_drf_renders_it(alice_api, alice, depots, make_order):
    make_order("SO-R1", client=alice[0], lines=[line(1, "MAN"), line(2)])
    make_order("SO-R2", client=alice[0])

    response = alice_api.get("/api/v1/orders/")

    assert response.status_code == 200
    assert response.content == renderers.JSONRenderer().render(response.json())
