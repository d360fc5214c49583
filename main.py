"""The Cloud Functions entry points, and nothing else.

    api           public HTTPS function: the app's frontend calls it
    video_worker  private function: Cloud Tasks (steps) and Cloud Scheduler (reconcile) call it

The configuration is read and checked here, at start: an instance with a missing or unsafe
setting (a local convenience in production) refuses to start with a message naming it.
"""

import functions_framework

from functions import api as _api
from functions import worker as _worker
from shared.config import load_settings
from shared.logs import configure_logging

configure_logging(load_settings())


@functions_framework.http
def api(request):
    return _api.handle(request)


@functions_framework.http
def video_worker(request):
    return _worker.handle(request)
