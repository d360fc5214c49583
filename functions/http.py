"""What both functions share over HTTP: JSON answers, JSON errors, dispatch into Flask."""

from __future__ import annotations

import logging
from typing import Any

import flask
from werkzeug.exceptions import HTTPException

from shared import events


def reply(status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
    response = flask.jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any):
    return reply(status, {"success": False, "error": message, **extra}, headers)


def json_body() -> Any:
    """The request's JSON body, or an HTTPException-shaped answer for the caller."""
    request = flask.request
    if not request.is_json:
        flask.abort(error(415, "Content-Type must be application/json"))
    try:
        return request.get_json()
    except HTTPException as exc:
        if exc.code == 413:
            raise
        flask.abort(error(400, "the body is not valid JSON", fields={"body": "invalid JSON"}))


def install_error_handlers(app: flask.Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.response is not None:
            return exc.response
        messages = {413: "the body is too large", 404: "not found", 405: "method not allowed"}
        return error(exc.code or 500, messages.get(exc.code or 0, exc.name))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        events.emit("http.unhandled", logging.ERROR, exc_info=True, error=type(exc).__name__)
        return error(500, "internal error")


def dispatch(app: flask.Flask, request: flask.Request):
    """Run a Flask app for the request functions-framework hands to an entry point."""
    with app.request_context(request.environ):
        return app.full_dispatch_request()
