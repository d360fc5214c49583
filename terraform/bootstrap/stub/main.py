"""The placeholder both functions are first created from (terraform/functions.tf).

Terraform never ships the real code: `make deploy` does. Until then every request gets a
503 with Retry-After, so a task that reaches the worker early is retried, not lost.
"""

import functions_framework

_BODY = '{"success": false, "error": "not deployed yet: run make deploy"}'
_HEADERS = {"Content-Type": "application/json", "Retry-After": "60"}


@functions_framework.http
def api(request):
    return _BODY, 503, _HEADERS


@functions_framework.http
def video_worker(request):
    return _BODY, 503, _HEADERS
