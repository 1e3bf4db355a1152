"""The identifier rule (orders/identifiers.py): what an order number and a reference-data code may be.

A table of values and the exact message each door shows, written from the survivors of mutation
testing (docs/mutation.md); the API's own checks of the same rule are in test_api_hardening.py.
"""

import pytest
from django.core.exceptions import ValidationError

from orders.identifiers import (
    code_problem,
    order_no_problem,
    order_path,
    validate_code,
    validate_order_no,
)

BLANK = "This field may not be blank."
ENDS = "No spaces at either end."


def character(ch):
    return f"The character U+{ord(ch):04X} is not allowed: use printable characters only."


def forbidden(ch):
    return f"{ch!r} is not allowed; use letters, digits and punctuation other than / \\ ? # %."


ORDER_NOS = [
    ("SO-1", None),
    ("SO 1", None),
    ("Ölçü-7", None),
    ("注文-1", None),
    ("bulky", None),
    ("...", None),
    ("A" * 50, None),
    ("A" * 51, "Use at most 50 characters."),
    ("", BLANK),
    (None, BLANK),
    (7, BLANK),
    (" SO-1", ENDS),
    ("SO-1 ", ENDS),
    ("SO-1\n", ENDS),
    ("SO/1", forbidden("/")),
    ("SO\\1", forbidden("\\")),
    ("SO?1", forbidden("?")),
    ("SO#1", forbidden("#")),
    ("SO%1", forbidden("%")),
    ("SO\x001", character("\x00")),
    ("SO\x7f1", character("\x7f")),
    ("SO\u200b1", character("\u200b")),
    ("SO\u202e1", character("\u202e")),
    ("SO\ue0001", character("\ue000")),
    ("SO\u03781", character("\u0378")),
    ("SO\u20281", character("\u2028")),
    ("SO\u20291", character("\u2029")),
    ("SO\u00a01", character("\u00a0")),
    ("SO\u30001", character("\u3000")),
    ("bulk", "'bulk' is reserved and cannot be used."),
    ("BULK", "'BULK' is reserved and cannot be used."),
    ("Import", "'Import' is reserved and cannot be used."),
    (".", "'.' is reserved and cannot be used."),
    ("..", "'..' is reserved and cannot be used."),
]


@pytest.mark.parametrize(("value", "problem"), ORDER_NOS)
def test_an_order_number(value, problem):
    assert order_no_problem(value) == problem


CODES = [
    ("BHM", None),
    ("BHM-VANS", None),
    ("bulk", None),
    ("import", None),
    ("A" * 20, None),
    ("A" * 21, "Use at most 20 characters."),
    ("A B", character(" ")),
    ("A\u00a0B", character("\u00a0")),
    ("A/B", forbidden("/")),
    ("A\u200bB", character("\u200b")),
    (" BHM", ENDS),
    ("", BLANK),
    (None, BLANK),
    (20, BLANK),
    (".", "'.' is reserved and cannot be used."),
    ("..", "'..' is reserved and cannot be used."),
]


@pytest.mark.parametrize(("value", "problem"), CODES)
def test_a_reference_data_code(value, problem):
    assert code_problem(value) == problem


def test_the_validators_raise_the_problem_with_their_code():
    validate_order_no("SO-1")
    validate_code("BHM")
    with pytest.raises(ValidationError) as caught:
        validate_order_no("bulk")
    assert (caught.value.messages, caught.value.code) == (
        ["'bulk' is reserved and cannot be used."],
        "invalid_order_no",
    )
    with pytest.raises(ValidationError) as caught:
        validate_code("A B")
    assert (caught.value.messages, caught.value.code) == ([character(" ")], "invalid_code")


def test_an_order_path_percent_encodes_the_number():
    assert order_path("SO-1") == "/api/v1/orders/SO-1/"
    assert order_path("SO 1:é") == "/api/v1/orders/SO%201%3A%C3%A9/"
