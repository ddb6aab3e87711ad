"""Reading a JSON request body safely (ASVS-10): the one place both systems parse JSON input.

`json.loads` raises RecursionError (not ValueError) on a document nested deeper than the
interpreter's recursion limit, e.g. `[[[[...]]]]` 1,500 deep; uncaught, that is a 500.
Here every way a body can fail to be JSON (bad syntax, bad encoding, too deep, NaN or
Infinity, which JSON does not have) becomes one exception, `InvalidJSON`, so a caller
answers 400 with its own error body. Neutral: imports no app, so the ID.me sandbox uses it too.
"""

from __future__ import annotations

import json
from typing import Any


class InvalidJSON(ValueError):
    """The body is not a JSON document this service accepts."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: bytes | str) -> Any:
    """The parsed document, or `InvalidJSON` (never RecursionError or UnicodeDecodeError)."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidJSON("The JSON document is nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidJSON(f"The body is not valid JSON ({exc}).") from None
