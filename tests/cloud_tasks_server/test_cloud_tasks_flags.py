"""The flags of `python -m devtools.cloud_tasks_server` and their environment fallbacks:
the flag, else CLOUD_TASKS_SERVER_<NAME>, else (for the ports) the stack's TASKS_PORT and
TASKS_HTTP_PORT, which `make tasks-server` and `make dev` share, else the default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devtools.cloud_tasks_server.__main__ import parse_args


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for variable in list(os.environ):
        if variable.startswith("CLOUD_TASKS_SERVER_") or variable in (
            "TASKS_PORT",
            "TASKS_HTTP_PORT",
        ):
            monkeypatch.delenv(variable)


def test_the_defaults():
    args = parse_args([])
    assert (args.host, args.port, args.http_port) == ("127.0.0.1", 8123, 8124)
    assert args.db == Path(".local/cloud-tasks.sqlite3")
    assert (args.name_reservation_seconds, args.min_dispatch_deadline) == (3600.0, 15.0)
    assert (args.queue, args.disable_queue, args.fresh, args.log_level) == ([], [], False, "INFO")


STACK = {"TASKS_PORT": "9123", "TASKS_HTTP_PORT": "9124"}
OWN = {"CLOUD_TASKS_SERVER_PORT": "7123", "CLOUD_TASKS_SERVER_HTTP_PORT": "7124"}


@pytest.mark.parametrize(
    ("variables", "argv", "ports"),
    [
        (STACK, [], (9123, 9124)),
        ({**STACK, **OWN}, [], (7123, 7124)),
        ({**STACK, **OWN}, ["--port", "6123", "--http-port", "6124"], (6123, 6124)),
    ],
    ids=["the stack variables", "the server's own win", "a flag wins over every variable"],
)
def test_the_ports_come_from_the_flag_the_server_variable_or_the_stack_one(
    monkeypatch, variables, argv, ports
):
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)
    args = parse_args(argv)
    assert (args.port, args.http_port) == ports


def test_every_other_setting_has_its_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("CLOUD_TASKS_SERVER_HOST", "::1")
    monkeypatch.setenv("CLOUD_TASKS_SERVER_DB", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("CLOUD_TASKS_SERVER_QUEUES", " projects/p/locations/l/queues/a, ,b ")
    monkeypatch.setenv("CLOUD_TASKS_SERVER_FRESH", "1")
    monkeypatch.setenv("CLOUD_TASKS_SERVER_NAME_RESERVATION_SECONDS", "1.5")
    monkeypatch.setenv("CLOUD_TASKS_SERVER_MIN_DISPATCH_DEADLINE", "0.5")
    monkeypatch.setenv("CLOUD_TASKS_SERVER_LOG_LEVEL", "debug")
    args = parse_args([])
    assert (args.host, args.db) == ("::1", tmp_path / "db.sqlite3")
    assert args.queue == ["projects/p/locations/l/queues/a", "b"]
    assert args.fresh is True
    assert (args.name_reservation_seconds, args.min_dispatch_deadline) == (1.5, 0.5)
    assert args.log_level == "debug"


def test_a_port_variable_that_is_no_number_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv("TASKS_PORT", "eighty")
    with pytest.raises(SystemExit) as exit_:
        parse_args([])
    assert exit_.value.code == 2
    assert "invalid int value: 'eighty'" in capsys.readouterr().err
