"""The HTTP request of one dispatch attempt, as the service sends it: the task's method, URL,
headers and body, the queue's http_target overrides, the X-CloudTasks-* headers and the
task's OIDC or OAuth token."""

from __future__ import annotations

import urllib.parse
from typing import NamedTuple

from google.cloud import tasks_v2

from devtools.cloud_tasks_server import names
from devtools.cloud_tasks_server.oidc import Signer
from devtools.cloud_tasks_server.protobuf_time import to_seconds
from devtools.cloud_tasks_server.state import PbMessage, TaskRow

IF_NOT_EXISTS = tasks_v2.UriOverride.UriOverrideEnforceMode.IF_NOT_EXISTS
SCHEME_HTTP = tasks_v2.UriOverride.Scheme.HTTP
_METHODS = {
    0: "POST",
    1: "POST",
    2: "GET",
    3: "HEAD",
    4: "PUT",
    5: "DELETE",
    6: "PATCH",
    7: "OPTIONS",
}
_BODYLESS = ("GET", "HEAD", "DELETE", "OPTIONS")
# Headers of the task that are replaced or dropped, as the service does.
_DROPPED = {"host", "content-length", "user-agent", "connection", "transfer-encoding"}
_DROPPED_PREFIXES = ("x-google-", "x-appengine-", "x-cloudtasks-")


class OutgoingRequest(NamedTuple):
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


def build_request(row: TaskRow, target: PbMessage | None, signer: Signer) -> OutgoingRequest:
    """The request of the next attempt of a task; `target` is its queue's HttpTarget, if any,
    whose method, URI override, header overrides and token win over the task's."""
    task = row.task
    request = task.http_request
    method = _METHODS.get(request.http_method, "POST")
    url = request.url
    auth_source = request
    overrides: list[tuple[str, str]] = []
    if target is not None:
        if target.http_method:
            method = _METHODS.get(target.http_method, method)
        if target.HasField("uri_override"):
            url = override_uri(url, target.uri_override)
        overrides = [(h.header.key, h.header.value) for h in target.header_overrides]
        if target.HasField("oidc_token") or target.HasField("oauth_token"):
            auth_source = target
    body = None if method in _BODYLESS else request.body or None
    headers: dict[str, str] = {}
    for key, value in [*request.headers.items(), *overrides]:
        lower = key.lower()
        if lower not in _DROPPED and not lower.startswith(_DROPPED_PREFIXES):
            _put(headers, key, value)
    headers["User-Agent"] = "Google-Cloud-Tasks"
    headers["X-CloudTasks-QueueName"] = names.short_id(row.queue)
    headers["X-CloudTasks-TaskName"] = names.short_id(task.name)
    headers["X-CloudTasks-TaskRetryCount"] = str(task.dispatch_count)
    headers["X-CloudTasks-TaskExecutionCount"] = str(row.executions)
    headers["X-CloudTasks-TaskETA"] = f"{to_seconds(task.schedule_time):.6f}"
    if row.prev_status is not None:
        headers["X-CloudTasks-TaskPreviousResponse"] = str(row.prev_status)
    if task.dispatch_count and row.retry_reason:
        headers["X-CloudTasks-TaskRetryReason"] = row.retry_reason
    if auth_source.HasField("oidc_token"):
        token = auth_source.oidc_token
        audience = token.audience or url
        _put(
            headers,
            "Authorization",
            "Bearer " + signer.token(token.service_account_email, audience),
        )
    elif auth_source.HasField("oauth_token"):
        email = auth_source.oauth_token.service_account_email
        _put(headers, "Authorization", "Bearer local-oauth-token-for-" + email)
    return OutgoingRequest(method, url, headers, body)


def _put(headers: dict[str, str], key: str, value: str) -> None:
    """Set a header, replacing any of the same name in another case."""
    lower = key.lower()
    for existing in [k for k in headers if k.lower() == lower]:
        del headers[existing]
    headers[key] = value


def override_uri(url: str, override: PbMessage) -> str:
    """Apply a queue's UriOverride to a task URL (ALWAYS, or IF_NOT_EXISTS per part)."""
    parts = urllib.parse.urlsplit(url)
    always = override.uri_override_enforce_mode != IF_NOT_EXISTS
    scheme = parts.scheme
    if override.HasField("scheme") and always:
        scheme = "http" if override.scheme == SCHEME_HTTP else "https"
    host = parts.hostname or ""
    if override.HasField("host") and always:
        host = override.host
    port = parts.port
    if override.HasField("port") and (always or port is None):
        port = override.port or None
    path = parts.path
    if override.HasField("path_override") and (always or path in ("", "/")):
        path = override.path_override.path
        if path and not path.startswith("/"):
            path = "/" + path
    query = parts.query
    if override.HasField("query_override") and (always or not query):
        query = override.query_override.query_params
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc += f":{port}"
    return urllib.parse.urlunsplit((scheme, netloc, path, query, parts.fragment))
