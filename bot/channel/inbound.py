"""Reading request bodies safely, and writing invoke responses: no input may give a 5xx.

The body size is bounded by the application (`client_max_size`, a 413 beyond); here the JSON
is parsed, its nesting depth bounded (a deep body made `json` or a later recursive step raise
`RecursionError`, which escaped as a 500), and text that cannot be encoded (lone surrogates,
valid in JSON escapes but not in UTF-8) refused, all as a 400 with a short JSON reason.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from aiohttp import web
from botbuilder.core.serializer_helper import serializer_helper

MAX_DEPTH = 64  # a Teams activity nests about eight levels; Adaptive Card values are flat


def _bad_request(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": reason}), content_type="application/json")


def check_shape(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Depth and text of a parsed JSON value, walked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise _bad_request("invalid text") from None
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            raise _bad_request("nested too deeply")
        if isinstance(node, dict):
            stack.extend((key, depth) for key in node)
            stack.extend((item, depth + 1) for item in node.values())
        else:
            stack.extend((item, depth + 1) for item in node)


async def read_json(request: web.Request, *, max_depth: int = MAX_DEPTH) -> Any:
    """The request's JSON body, or an HTTP 400 (malformed, too deep) / 413 (too large) raised."""
    raw = await request.read()
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _bad_request("nested too deeply") from None
    except ValueError:  # UnicodeDecodeError is one too
        raise _bad_request("malformed JSON") from None
    check_shape(value, max_depth=max_depth)
    return value


def invoke_body(body: Any) -> Any:
    """An invoke response's body as JSON data. botbuilder leaves msrest models there, and puts
    an `Exception(code, message)` in the value of its Adaptive Card error responses, where the
    Bot Framework expects `{"code", "message"}`."""
    if body is None or isinstance(body, dict | list | str | int | float | bool):
        return body
    error = getattr(body, "value", None)
    if isinstance(error, BaseException):
        code, message = [*map(str, error.args), "", ""][:2]
        body = copy.copy(body)
        body.value = {"code": code, "message": message}
    return serializer_helper(body)
