"""A functions-framework source for test_log_streams: main.py's module-level setup, run as
the framework runs it (configuration, logging), and one entry point whose requests fail
with secrets in the exception: `/inside` in an app of ours (its error handlers), `/outside`
in the framework's own app (as a failure to build an app would)."""

from __future__ import annotations

import os

import flask
import functions_framework

import main  # noqa: F401 - configures logging as the real entry points do
from functions.http import LazyApp, install_error_handlers

SECRET_TEXT = os.environ["LEAK_TEXT"]


def _app() -> flask.Flask:
    app = flask.Flask("leaky")
    install_error_handlers(app)

    @app.get("/inside")
    def inside() -> flask.Response:
        try:
            raise ValueError(f"cause: {SECRET_TEXT}")
        except ValueError as cause:
            raise RuntimeError(f"upstream answered: {SECRET_TEXT}") from cause

    return app


_leaky = LazyApp(_app)


@functions_framework.http
def leaky(request: flask.Request) -> flask.Response | str:
    if request.path == "/ready":
        return "ready"
    if request.path == "/outside":
        raise RuntimeError(f"could not build the app: {SECRET_TEXT}")
    return _leaky(request)
