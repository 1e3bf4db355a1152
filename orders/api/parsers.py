"""The API's one JSON parser: text the database cannot store is refused here, at the edge.

JSON can carry a lone UTF-16 surrogate (`"\\ud800"`) or a NUL (`"\\u0000"`); neither can be stored
in PostgreSQL text, so without this every field of every write would need its own check, and the
one forgotten would answer 500. Both are refused wherever they appear, keys included, with a 400.
Bodies nested deeper than the parser can follow are refused the same way.
"""

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def unstorable_text(value):
    """The first string in a parsed JSON document that cannot be stored, with why; or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "NUL (\\u0000) is not allowed in text."
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "A lone UTF-16 surrogate (\\ud800–\\udfff) is not allowed in text."
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, then one walk over the document for text that cannot be stored."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.")
        problem = unstorable_text(data)
        if problem:
            raise ParseError(f"JSON parse error - {problem}")
        return data


def loads(text):
    """Parse JSON text from outside with the same rule (imports, inbound webhooks)."""
    data = json.loads(text)
    problem = unstorable_text(data)
    if problem:
        raise ValueError(problem)
    return data
