"""The HTTP clients that dispatches go out through."""

from __future__ import annotations

import ssl

import httpx


class ClientPool:
    """Many small httpx clients instead of one big one.

    httpcore's connection pool does O(requests x connections) work on every request, which
    at a hundred concurrent dispatches costs more CPU than everything else together. So each
    dispatch borrows the least busy of several clients of at most `per_client` connections,
    and a new client is made when all are full.
    """

    def __init__(self, per_client: int = 8) -> None:
        self.per_client = per_client
        self._clients: list[httpx.AsyncClient] = []
        self._busy: list[int] = []
        self._ssl: ssl.SSLContext | None = None

    def _new_client(self) -> httpx.AsyncClient:
        if self._ssl is None:  # loading the CA bundle costs ~20 ms: once, not per client
            self._ssl = ssl.create_default_context()
        return httpx.AsyncClient(
            verify=self._ssl,
            limits=httpx.Limits(
                max_connections=self.per_client, max_keepalive_connections=self.per_client
            ),
            timeout=httpx.Timeout(None),
            follow_redirects=True,
            trust_env=False,
        )

    def acquire(self) -> int:
        """Borrow a slot on the least busy client (a new one when all are full)."""
        best = min(range(len(self._busy)), key=self._busy.__getitem__, default=-1)
        if best < 0 or self._busy[best] >= self.per_client:
            self._clients.append(self._new_client())
            self._busy.append(0)
            best = len(self._clients) - 1
        self._busy[best] += 1
        return best

    def client(self, index: int) -> httpx.AsyncClient:
        return self._clients[index]

    def release(self, index: int) -> None:
        self._busy[index] -= 1

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
