"""What an identifier may contain: order numbers and reference-data codes.

One definition, used at every door: the model fields carry it as a validator (admin and office
forms), the API's serializers and its path lookups use it, and `services.create_order` checks the
order number whatever door it came through. An identifier ends up in a URL path, a `Location`
header and a CSV cell, so it is printable text: no control, format, private-use or invisible
characters, no `/` (a path separator), none of `\\ ? # %` (which URLs read specially), and not a
dot segment or a word the API's own paths use. Letters of any script are fine; links to them are
percent-encoded (`order_path`).
"""

import functools
import unicodedata
from urllib.parse import quote

from django.core.exceptions import ValidationError

ORDER_NO_MAX_LENGTH = 50
CODE_MAX_LENGTH = 20

# Path segments that are not order numbers: /orders/bulk/, /orders/import/, and dot segments,
# which clients and proxies rewrite before the request arrives.
RESERVED_ORDER_NOS = frozenset({"bulk", "import", ".", ".."})
RESERVED_CODES = frozenset({".", ".."})

FORBIDDEN_CHARACTERS = "/\\?#%"
# Unicode categories refused: controls, format characters (zero-width, bidi overrides), surrogates,
# private use, unassigned, and every separator but the plain space (line and paragraph separators,
# no-break and other odd spaces).
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# The same rule as a JSON Schema pattern (ECMA regex), so that the OpenAPI schema says it and fuzzers
# generate within it. It covers ASCII exactly; the Unicode categories are named in the description.
SCHEMA_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f/\\?#%\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]+$"
ORDER_NO_DESCRIPTION = (
    f"1–{ORDER_NO_MAX_LENGTH} printable characters, unique across the whole business: no control, format or "
    "invisible characters, none of / \\ ? # %, no spaces at either end, and not `bulk`, `import`, `.` or `..`."
)
CODE_DESCRIPTION = (
    f"1–{CODE_MAX_LENGTH} printable characters without spaces: no control, format or invisible characters, "
    "none of / \\ ? # %, and not `.` or `..`."
)


def _problem(value, *, max_length, reserved, spaces):
    if not isinstance(value, str) or not value:
        return "This field may not be blank."
    if len(value) > max_length:
        return f"Use at most {max_length} characters."
    if value != value.strip():
        return "No spaces at either end."
    for ch in value:
        if ch in FORBIDDEN_CHARACTERS:
            return f"{ch!r} is not allowed; use letters, digits and punctuation other than / \\ ? # %."
        category = unicodedata.category(ch)
        if category in FORBIDDEN_CATEGORIES or (category == "Zs" and (ch != " " or not spaces)):
            return f"The character U+{ord(ch):04X} is not allowed: use printable characters only."
    if value.lower() in reserved:
        return f"{value!r} is reserved and cannot be used."
    return None


def order_no_problem(value):
    """Why `value` cannot be an order number, or None when it can."""
    return _problem(value, max_length=ORDER_NO_MAX_LENGTH, reserved=RESERVED_ORDER_NOS, spaces=True)


def code_problem(value):
    """Why `value` cannot be a reference-data code, or None when it can."""
    if isinstance(value, str) and len(value) <= CODE_MAX_LENGTH:
        return _text_code_problem(value)
    return _problem(value, max_length=CODE_MAX_LENGTH, reserved=RESERVED_CODES, spaces=False)


@functools.lru_cache(maxsize=4096)
def _text_code_problem(value):
    # A bulk or an import names the same few codes on every line: each is checked once per process.
    return _problem(value, max_length=CODE_MAX_LENGTH, reserved=RESERVED_CODES, spaces=False)


def validate_order_no(value):
    """Django validator (model field, forms): the order-number rule."""
    problem = order_no_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_order_no")


def validate_code(value):
    """Django validator (model fields, forms): the reference-code rule."""
    problem = code_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_code")


def order_path(order_no):
    """The API path of an order, percent-encoded so any valid number makes a valid URL and header."""
    return f"/api/v1/orders/{quote(order_no, safe='')}/"
