"""The fast create-body validator (orders/api/validation.py) answers exactly as OrderSerializer does.

Every body here goes through both: `validation.check_order` and `OrderSerializer(data=...).is_valid()`,
with the same reference tables, and the validated data (types included), the messages and their
field paths must be identical. The rest of the suite cross-checks every body it posts the same way
(tests/conftest.py switches ORDER_VALIDATION_CROSSCHECK on), so the API tests, the hostile-string
tests and schemathesis cover it too.
"""

import copy
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test.utils import override_settings

from orders import reference
from orders.api import validation
from orders.api.serializers import OrderSerializer
from orders.models import ServiceLevel
from tests.conftest import line, order_body

pytestmark = pytest.mark.django_db


def multi_body(order_no="SO-M"):
    return {
        "order_no": order_no,
        "order_type": "multi",
        "customer": {"name": "Ann Smith"},
        "groups": [
            {
                "sequence": 1,
                "group_type": "collection",
                "address": {"line1": "1 A Street", "postal_code": "b1 1aa", "country": "gb"},
                "required_time_from": "09:00",
                "required_time_to": "12:00:30",
                "lines": [line(1, stock_location="BHM", delivery_method="BHM-VANS")],
            },
            {
                "sequence": 2,
                "group_type": "delivery",
                "address": {"lat": "52.4862", "lng": -1.8904},
                "required_date": date.today().isoformat(),
                "lines": [line(2, stock_location="MAN", delivery_method="BHM-VANS", sequence=2)],
            },
        ],
    }


def with_(body, path, value):
    """A copy of `body` with the value at `path` (a tuple of keys and indexes) set, or removed for DELETE."""
    out = copy.deepcopy(body)
    target = out
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return out


DELETE = object()
HUGE = 10**400
TEXTS = ["", "  ", " x ", "x" * 101, "x" * 5001, 5, 5.5, True, None, [], {}, ["a"], {"a": 1}, "a\tb", "é" * 100]
NUMBERS = [0, 1, -1, 1.0, 1.5, "2", "2.0", " 3 ", "x", "", None, True, False, HUGE, -HUGE, 1e308, "1e3", [], {}]
DATES = ["2026-12-01", "2026-02-30", "01/12/2026", "2026-1-1", "20261201", "9999-12-31", "", None, 5, []]
DATES += ["2026-12-01T10:00", "２０２６-12-01"]
TIMES = ["09:30", "9:30", "09:30:15", "24:00", "09:30:15.5", "09:30+01:00", "", None, 930, "noon"]
CODES = ["BHM", "bhm", "NOWHERE", "", " BHM", None, 5, [], "A/B", "x" * 21, "OLD-SL"]
DECIMALS = ["12.5", 12.5, 12, "1e3", "NaN", "Infinity", "-1", "1234567.0001", "0.0001", "", None, "x", True, HUGE]

CASES = [
    order_body(),
    order_body(service_level="2MAN-ROC", unload_minutes=None, customer_reference="  PO 1  "),
    multi_body(),
    order_body(order_type="collection"),
    order_body(order_no="  SO-TRIM  "),
    order_body(customer_address={"line1": "9 Bill St", "postal_code": "m1 1aa", "country": "GB", "lat": 1}),
    order_body(customer_address=None),
    order_body(address={"lat": 52.1, "lng": -1.2}),
    order_body(address={"line1": "1 High Street"}),
    order_body(address=None),
    order_body(address="1 High Street"),
    order_body(customer=None),
    order_body(customer="Ann"),
    order_body(customer={}),
    order_body(lines=None),
    order_body(lines=[]),
    order_body(lines={"0": {}}),
    order_body(lines=[None, 5, "x", {}]),
    order_body(lines=[line(n) for n in range(1, 502)]),
    order_body(groups=multi_body()["groups"]),
    with_(multi_body(), ("groups",), [None]),
    with_(multi_body(), ("groups",), "x"),
    with_(multi_body(), ("groups", 0, "lines"), [{"line_no": 1}]),
    with_(multi_body(), ("groups", 0, "required_time_to"), "08:00"),
    with_(multi_body(), ("groups", 0, "address"), DELETE),
    with_(multi_body(), ("groups", 1, "address", "lat"), 91),
    with_(multi_body(), ("groups", 0, "lines", 0, "sequence"), 0),
    with_(multi_body(), ("lines",), [line(1)]),
    order_body(required_time_from="10:00", required_time_to="09:00"),
    order_body(order_type="parcel"),
    order_body(order_type=None),
    order_body(order_type=""),
    order_body(extra_field="ignored", status="done", version=9),
    None,
    [],
    "order",
    5,
    {},
    {"order_no": None},
]
SCALARS = [
    (("order_no",), TEXTS + ["bulk", "A/B", "a\u200bb", "x" * 51]),
    (("order_date",), DATES),
    (("customer", "name"), TEXTS),
    (("customer", "email"), [*TEXTS, "ann@example.com", "not-an-email", " ann@example.com "]),
    (("customer", "mobile"), TEXTS),
    (("address", "postal_code"), [*TEXTS, "B2 4QA", "ZZZ"]),
    (("address", "country"), [*TEXTS, "gb", "GBR", "XX"]),
    (("address", "lat"), DECIMALS + [90, -90.0000001, "52.4862123"]),
    (("service_level",), CODES + ["2MAN-ROC"]),
    (("unload_minutes",), NUMBERS + [1440, 1441]),
    (("required_date",), DATES),
    (("required_time_from",), TIMES),
    (("order_notes",), TEXTS),
    (("lines", 0, "line_no"), NUMBERS + [9999, 10000]),
    (("lines", 0, "sequence"), NUMBERS),
    (("lines", 0, "sku"), TEXTS),
    (("lines", 0, "quantity"), NUMBERS + [100000, 100001]),
    (("lines", 0, "weight_kg"), DECIMALS),
    (("lines", 0, "cube_m3"), DECIMALS),
    (("lines", 0, "stock_location"), CODES),
    (("lines", 0, "delivery_method"), CODES + ["MAN-VANS"]),
    (("lines", 0, "on_hand_date"), [*DATES, "9998-12-31"]),
    (("lines", 0, "assembly_minutes"), NUMBERS),
    (("lines", 0, "notes"), TEXTS),
]
for path, values in SCALARS:
    CASES.append(with_(order_body(), path, DELETE))
    CASES += [with_(order_body(), path, value) for value in values]


@pytest.fixture
def tables(depots):
    ServiceLevel.objects.create(code="OLD-SL", name="Retired", active=False)
    return lambda body: reference.load([body]).tables


@override_settings(ORDER_VALIDATION_CROSSCHECK=False)
@pytest.mark.parametrize("body", CASES, ids=range(len(CASES)))
def test_the_fast_validator_answers_as_order_serializer(tables, body):
    codes = tables(body)
    got_data, got_errors = validation.check_order(copy.deepcopy(body), codes)

    serializer = OrderSerializer(data=copy.deepcopy(body), context={"reference": codes})
    if serializer.is_valid():
        expected = (serializer.validated_data, None)
    else:
        expected = (None, validation.flatten(serializer.errors))

    assert validation._same((got_data, got_errors), expected), ((got_data, got_errors), expected)


def test_the_validated_data_keeps_the_serializers_types_and_normalisation(tables):
    body = order_body("  SO-9  ", service_level="2MAN-ROC", lines=[line(1, weight_kg="12.5", stock_location="MAN")])
    data, errors = validation.check_order(body, tables(body))

    assert errors is None
    assert data["order_no"] == "SO-9"
    assert data["postal_code"] == "B2 4QA"
    assert data["order_type"] == "delivery"
    assert data["required_date"] == date.today()
    assert data["service_level"].code == "2MAN-ROC"
    assert data["lines"][0]["stock_location"].code == "MAN"
    assert data["lines"][0]["weight_kg"] == Decimal("12.500") and str(data["lines"][0]["weight_kg"]) == "12.500"


def test_errors_are_named_by_dotted_path_as_the_api_answers(tables):
    body = with_(multi_body(), ("groups", 1, "lines", 0, "quantity"), 0)
    body = with_(body, ("customer", "email"), "nope")
    data, errors = validation.check_order(body, tables(body))

    assert data is None
    assert errors == {
        "customer.email": ["Enter a valid email address."],
        "groups.1.lines.0.quantity": ["Ensure this value is greater than or equal to 1."],
    }


def test_the_cross_check_fails_loudly_when_the_two_disagree(tables, monkeypatch, settings):
    settings.ORDER_VALIDATION_CROSSCHECK = True
    body = order_body()
    monkeypatch.setattr(validation._ORDER, "errors", lambda data, tables: ({"order_no": "other"}, None))

    with pytest.raises(AssertionError, match="differs from OrderSerializer"):
        validation.check_order(body, tables(body))


def test_an_on_hand_date_at_the_end_of_the_calendar_is_refused_by_the_serializers_own_hook(tables):
    body = order_body(lines=[line(1, on_hand_date=(date.max - timedelta(days=1)).isoformat())])
    assert validation.check_order(body, tables(body)) == (
        None,
        {"lines.0.on_hand_date": ["Use a date before the year 9999."]},
    )
