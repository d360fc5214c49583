"""A taken port stops the stack before anything starts, naming the port and its variable."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from devtools.processes import port_in_use, write_pid_file
from devtools.stack import LocalStack, Ports, PortTaken
from tests.devtools.dev_run import processes_of

PORT_NAMES = [port.name for port in dataclasses.fields(Ports)]


def children() -> set[int]:
    """The live child processes of this test process."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] not in ("Z", "X"):
            found.add(int(stat.parent.name))
    return found


@pytest.mark.parametrize("name", PORT_NAMES)
def test_a_taken_port_fails_the_start_before_anything_starts(name, taken_port, tmp_path):
    ports = dataclasses.replace(Ports.free(), **{name: taken_port})
    before = children()
    stack = LocalStack(ports=ports, state_dir=tmp_path / "state", quiet=True)

    with pytest.raises(PortTaken) as raised:
        stack.start()

    message = str(raised.value)
    assert f"port {taken_port} ({name})" in message
    assert Ports.variable(name) in message  # API_PORT, TASKS_HTTP_PORT, ...
    assert children() == before  # nothing was started
    assert stack.processes() == {}
    assert not (tmp_path / "state").exists()  # not even a pid file
    others = [port for other, port in ports.items() if other != name]
    assert [port for port in others if port_in_use(port)] == []


def test_a_port_held_by_a_process_of_an_earlier_run_names_its_pid(taken_port, tmp_path):
    write_pid_file(tmp_path / "run" / "api.pid", os.getpid())  # this process holds the port
    stack = LocalStack(ports=dataclasses.replace(Ports.free(), api=taken_port), state_dir=tmp_path)
    with pytest.raises(PortTaken, match=f"PID {os.getpid()} .* stop it \\(kill {os.getpid()}\\)"):
        stack.start()


def test_two_processes_given_one_port_is_refused(tmp_path):
    ports = Ports.free()
    ports.worker = ports.api
    with pytest.raises(PortTaken, match="API_PORT and WORKER_PORT are both"):
        LocalStack(ports=ports, state_dir=tmp_path, quiet=True).start()


def test_a_port_variable_that_is_no_port_is_named(monkeypatch):
    monkeypatch.setenv("TASKS_HTTP_PORT", "http")
    with pytest.raises(ValueError, match="TASKS_HTTP_PORT='http' is not a port number"):
        Ports.from_env()


@pytest.mark.stack
def test_make_dev_with_the_api_port_taken_fails_and_leaves_nothing_running(make_dev, taken_port):
    run = make_dev(ports=dataclasses.replace(Ports.free(), api=taken_port)).start()

    assert run.wait_exit() == 1
    output = run.output()
    assert f"make dev: port {taken_port} (api) is already in use" in output
    assert "API_PORT" in output
    assert "Local stack running" not in output
    assert "curl" not in output
    assert processes_of(run.state_dir) == []
    assert not (run.state_dir / "run").exists()
