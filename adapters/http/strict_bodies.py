"""Strict decoding of command bodies: a value of the wrong JSON type is a 422 naming the field.

litestar converts request bodies with msgspec in lax mode (`strict=False`, meant for query
strings), which turns `"5"` into 5, `"30"` into a 30-day window and `"true"` into True. docs/api.md
gives every field a JSON type, and a client sending a string for an amount has a bug it should
hear about. So each command controller checks its body strictly first, against the same struct,
and reports a problem the way litestar reports its own validation errors (errors.py maps both).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException


async def strict_body(request: Request[Any, Any, Any]) -> None:
    """A before-request hook: 422 when the body's JSON types do not match the handler's struct."""
    parameter = request.route_handler.parsed_fn_signature.parameters.get("data")
    if parameter is None:
        return
    try:
        # Untyped first: a body that is not JSON must stay a 400 even if a typed decoder
        # would have met an unknown field before the syntax error.
        document = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        return  # litestar's own decoding answers 400, as before
    try:
        msgspec.convert(document, type=parameter.annotation, strict=True)
    except msgspec.ValidationError as error:
        # msgspec: "Expected `int`, got `str` - at `$.value.amount_minor`".
        message, _, where = str(error).partition(" - at `$")
        key = where.rstrip("`").lstrip(".") or "data"
        raise ValidationException(detail=message, extra=[
            {"message": message, "key": key, "source": "body"}]) from None
