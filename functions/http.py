"""What both functions share over HTTP: JSON answers, JSON errors, bodies, dispatch.

Every answer is JSON, errors included: `{"success": false, "code": "<stable code>",
"error": "<sentence>", ...}`, `code` for programs (README lists them), `error` for people;
which error gets which answer is one table (functions/errors.py). Every answer carries
`X-Content-Type-Options: nosniff`. Every 5xx answer logs one event, `http.server_error`,
with its cause, from one place (`_after`), whichever code made the answer.
"""

from __future__ import annotations

import json
import logging
import re
import sys
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

_CAUSE = "server_error_cause"  # flask.g: why this request's answer is a 5xx
_LOGGED = "server_error_logged"  # on a response: its event is written already (once, even
# when functions-framework's app, which holds ours, sees the same response after us)


def reply(
    status: int,
    body: BaseModel | dict[str, Any],
    headers: dict[str, str] | None = None,
    *,
    cause: str | None = None,
) -> flask.Response:
    """A JSON answer; the api's are built through their models (functions/schemas.py), as
    its OpenAPI document says. `cause`: why a 5xx answer is one (logged with it)."""
    data = body if isinstance(body, dict) else body.model_dump(mode="json")
    response = flask.jsonify(data)
    response.status_code = status
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    if cause is not None:
        setattr(flask.g, _CAUSE, cause)
    return response


def error(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    cause: str | None = None,
    **extra: Any,
) -> flask.Response:
    from functions.schemas import ErrorBody

    body = ErrorBody(code=code, error=message, **extra)
    return reply(status, body.model_dump(mode="json", exclude_none=True), headers, cause=cause)


def answer(exc: Exception) -> flask.Response:
    """The answer to `exc`, from the table (functions/errors.py)."""
    from functions.errors import answer_for

    deps = flask.current_app.extensions.get("deps")
    found = answer_for(exc, deps.policy if deps is not None else None)
    return error(
        found.status,
        found.code,
        found.message,
        found.all_headers(),
        cause=_cause(exc),
        **found.fields,
    )


def _cause(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


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
    """Answer every error from the table, in JSON; log every 5xx answer; nosniff on all.

    Also for an app that is not ours: functions-framework's own (`/robots.txt`,
    `/favicon.ico`, its crash answer), see `LazyApp`."""
    from functions.errors import TABLE

    # `/a//b` would be a 308 redirect with an HTML body (werkzeug merges slashes): a 404 here.
    app.url_map.merge_slashes = False

    def _answer(exc: Exception) -> flask.Response:
        if isinstance(exc, HTTPException) and isinstance(exc.response, flask.Response):
            return exc.response  # an answer of ours, carried by flask.abort
        response = answer(exc)
        if response.status_code >= 500 and sys.exc_info()[1] is exc:
            # Logged here, while its traceback is at hand (a bug's 500 needs it).
            _log_server_error(response, exc_info=not isinstance(exc, HTTPException))
        return response

    for kind in TABLE:
        app.register_error_handler(kind, _answer)
    app.after_request(_after)


def _after(response: flask.Response) -> flask.Response:
    """Every answer of the app passes here: nosniff, and the log line of a 5xx."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.status_code >= 500 and not getattr(response, _LOGGED, False):
        _log_server_error(response)
    return response


def _log_server_error(response: flask.Response, *, exc_info: bool = False) -> None:
    """The one event of a 5xx answer: its status, code, route and cause."""
    setattr(response, _LOGGED, True)
    body = response.get_json(silent=True) if response.is_json else None
    events.emit(
        "http.server_error",
        logging.ERROR,
        exc_info=exc_info,
        status=response.status_code,
        code=body.get("code") if isinstance(body, dict) else None,
        method=flask.request.method,
        route=flask.request.url_rule.rule if flask.request.url_rule else None,
        cause=flask.g.get(_CAUSE) or "not recorded (an answer made without a cause)",
    )


def dispatch(app: flask.Flask, request: flask.Request) -> flask.Response:
    """Run a Flask app for the request functions-framework hands to an entry point."""
    with app.request_context(request.environ):
        return app.full_dispatch_request()


class LazyApp:
    """An entry point's Flask app, built on its first request (not at import: cold start).

    functions-framework runs main.py inside the app context of its own Flask app, which
    routes every request to the entry points but answers some itself (`/robots.txt`,
    `/favicon.ico`, a `//` in a path, its crash page) in HTML. Made there, a LazyApp gives
    that host app the same JSON error answers and headers as ours."""

    def __init__(self, build: Callable[[], flask.Flask]) -> None:
        self._build = build
        self._app: flask.Flask | None = None
        self._lock = threading.Lock()
        if flask.has_app_context():
            adopt_host(flask.current_app._get_current_object())  # type: ignore[attr-defined]

    @property
    def app(self) -> flask.Flask:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._build()
        return self._app

    def __call__(self, request: flask.Request) -> flask.Response:
        return dispatch(self.app, request)


def adopt_host(app: flask.Flask) -> None:
    """Give functions-framework's own app (which routes to our entry points) our JSON error
    answers, nosniff and 5xx log lines; once per app."""
    if app.extensions.get("json_errors"):
        return
    app.extensions["json_errors"] = True
    install_error_handlers(app)


# The Idempotency-Key header: 1 to 128 visible ASCII characters.
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


def idempotency_key() -> str | None:
    key = flask.request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        flask.abort(invalid({"Idempotency-Key": "1 to 128 visible ASCII characters"}))
    return key


def required_idempotency_key() -> str:
    key = idempotency_key()
    if key is None:
        flask.abort(invalid({"Idempotency-Key": "required: one per grant, reused on retries"}))
    return key
