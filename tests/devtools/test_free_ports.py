"""free_port: outside the kernel's ephemeral range (where every outgoing connection takes its
local port, and once took a stack's worker port between the pick and the bind), and never the
same port to two callers at once (make test starts several stacks together)."""

from __future__ import annotations

import multiprocessing
import socket
from pathlib import Path

from devtools.processes import FREE_PORTS, RESERVATIONS, free_port


def _ports(count: int) -> list[int]:
    return [free_port() for _ in range(count)]


def test_ports_are_outside_the_ephemeral_range():
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    low = int(ephemeral[0])
    assert FREE_PORTS.stop <= low
    for port in _ports(20):
        assert port in FREE_PORTS
        with socket.socket() as server:  # and free: a server binds it
            server.bind(("127.0.0.1", port))


def test_callers_at_once_never_get_the_same_port():
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        picks = [port for ports in pool.map(_ports, [200] * 4) for port in ports]
    assert len(picks) == len(set(picks)) == 800


def test_a_reserved_port_is_not_handed_out_again():
    port = free_port()
    assert (RESERVATIONS / str(port)).exists()
    assert port not in _ports(300)
