"""What both functions share over HTTP: JSON answers, JSON errors, bodies, dispatch.

Every error body is `{"success": false, "code": "<stable code>", "error": "<sentence>", ...}`:
`code` is for programs (README lists them), `error` for people.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import flask
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from shared import events

if TYPE_CHECKING:  # pydantic is imported by the first request, not at the cold start
    from pydantic import BaseModel

    from shared.bootstrap import Container

M = TypeVar("M", bound="BaseModel")

MAX_JSON_DEPTH = 32  # our bodies are two levels deep; anything deeper is not ours

_HTTP_CODES = {
    400: ("invalid_request", "the request is not valid"),
    404: ("not_found", "not found"),
    405: ("method_not_allowed", "method not allowed"),
    413: ("payload_too_large", "the body is too large"),
    415: ("unsupported_media_type", "Content-Type must be application/json"),
}


def reply(
    status: int, body: BaseModel | dict[str, Any], headers: dict[str, str] | None = None
) -> flask.Response:
    """A JSON answer; the api's are built through their models (functions/schemas.py), as
    its OpenAPI document says."""
    data = body if isinstance(body, dict) else body.model_dump(mode="json")
    response = flask.jsonify(data)
    response.status_code = status
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def error(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> flask.Response:
    from functions.schemas import ErrorBody

    body = ErrorBody(code=code, error=message, **extra)
    return reply(status, body.model_dump(mode="json", exclude_none=True), headers)


def invalid(fields: dict[str, str]) -> flask.Response:
    """400 naming each field that is wrong."""
    return error(400, "invalid_request", "invalid request", fields=fields)


def json_body() -> Any:
    """The request's JSON body, or an answer for the caller: 415, 413, or 400 naming it."""
    request = flask.request
    if not request.is_json:
        flask.abort(error(415, "unsupported_media_type", "Content-Type must be application/json"))
    data = _body_bytes(request)
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        flask.abort(invalid({"body": "invalid JSON"}))
    if _depth(value) > MAX_JSON_DEPTH:
        flask.abort(invalid({"body": f"JSON nested more than {MAX_JSON_DEPTH} levels deep"}))
    return value


def validated(model: type[M]) -> M:
    """The JSON body as `model`, or a 400 naming each wrong field (and 413, 415 as above)."""
    from pydantic import ValidationError

    from functions.schemas import field_errors

    try:
        return model.model_validate(json_body())
    except ValidationError as exc:
        flask.abort(invalid(field_errors(exc)))


def app_deps() -> Container:
    """The dependencies the running app was built with (`create_app(deps)`)."""
    deps: Container = flask.current_app.extensions["deps"]
    return deps


def _body_bytes(request: flask.Request) -> bytes:
    """The body, refused with 413 past the limit. A chunked body has no Content-Length, and
    werkzeug silently cuts it at the limit (a 400 for broken JSON, not a 413): read it from
    the server's stream, one byte past the limit, to tell."""
    limit = request.max_content_length
    if request.content_length is not None or limit is None:
        return request.get_data(cache=True)  # werkzeug answers 413 past the limit
    stream = request.environ.get("wsgi.input")
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise RequestEntityTooLarge()
    return data


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def install_error_handlers(app: flask.Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> flask.Response:
        if isinstance(exc.response, flask.Response):
            return exc.response  # an answer of ours, carried by flask.abort
        status = exc.code or 500
        code, message = _HTTP_CODES.get(status, ("http_error", exc.name))
        # Keep what the exception says about itself, e.g. `Allow` on a 405.
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return error(status, code, message, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> flask.Response:
        events.emit("http.unhandled", logging.ERROR, exc_info=True, error=type(exc).__name__)
        return error(500, "internal", "internal error")


def dispatch(app: flask.Flask, request: flask.Request) -> flask.Response:
    """Run a Flask app for the request functions-framework hands to an entry point."""
    with app.request_context(request.environ):
        return app.full_dispatch_request()


class LazyApp:
    """An entry point's Flask app, built on its first request (not at import: cold start)."""

    def __init__(self, build: Callable[[], flask.Flask]) -> None:
        self._build = build
        self._app: flask.Flask | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> flask.Flask:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._build()
        return self._app

    def __call__(self, request: flask.Request) -> flask.Response:
        return dispatch(self.app, request)
