"""The Cloud Functions entry points, and nothing else.

    api           public HTTPS function: the app's frontend calls it
    video_worker  private function: Cloud Tasks (steps) and Cloud Scheduler (reconcile) call it

The configuration is read and checked here, at start: an instance with a missing or unsafe
setting (a local convenience in production) refuses to start with a message naming it.
Each function's app is built on its first request, from the process's container.
"""

import flask
import functions_framework

from functions.http import LazyApp
from shared.bootstrap import container
from shared.config import load_settings, startup_warnings
from shared.logs import configure_logging

_settings = load_settings()
configure_logging(_settings)
startup_warnings(_settings)


def _api_app() -> flask.Flask:
    from functions.api import create_app

    return create_app(container())


def _worker_app() -> flask.Flask:
    from functions.worker import create_app

    return create_app(container())


_api = LazyApp(_api_app)
_worker = LazyApp(_worker_app)


@functions_framework.http
def api(request: flask.Request) -> flask.Response:
    return _api(request)


@functions_framework.http
def video_worker(request: flask.Request) -> flask.Response:
    return _worker(request)
