"""A faithful local Cloud Tasks v2 server, for development and tests.

Google ships no Cloud Tasks emulator. This package serves the Cloud Tasks v2 gRPC API on
127.0.0.1 so that `tasks_v2.CloudTasksClient` on an insecure channel works unchanged: queues,
named and unnamed HTTP tasks, name de-duplication, schedule times, rate and concurrency
limits, retries with the queue's backoff, OIDC tokens signed by a local key (JWKS over
HTTP), all kept in SQLite so that a restart loses nothing.

Run it with `python -m devtools.cloud_tasks_server`; `runner.CloudTasksServer` runs it as a
subprocess for tests, benchmarks and `make dev`.
See README.md beside this file.
"""
