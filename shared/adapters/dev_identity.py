"""Dev identities for local mode: `Authorization: Bearer dev:<uid>` names the user directly.

Local mode only. Nothing is verified beyond the shape of the header, so the bootstrap (and the
configuration before it) refuses this adapter in any other environment.
"""

from __future__ import annotations

import re

from shared.domain.errors import Unauthenticated
from shared.domain.identity import Identity, check_uid

_HEADER = re.compile(r"(?i:bearer) dev:(.*)", re.DOTALL)
_EXPECTED = "Expected 'Authorization: Bearer dev:<uid>' in local mode"


class DevIdentityVerifier:
    """Trusts `Bearer dev:<uid>`, for any uid the uid rule accepts (shared.domain.identity:
    the same as for Firebase users, so that local runs meet the ids production will). The
    uids in `admin_uids` (ADMIN_UIDS, default `admin`) are operators."""

    def __init__(self, admin_uids: tuple[str, ...] = ()) -> None:
        self.admin_uids = frozenset(admin_uids)

    def identify(self, authorization: str | None) -> Identity:
        uid = self.verify(authorization)
        return Identity(uid, admin=uid in self.admin_uids)

    def verify(self, authorization: str | None) -> str:
        return check_uid(_named(authorization, _HEADER, _EXPECTED))


def _named(authorization: str | None, header: re.Pattern[str], expected: str) -> str:
    """What a local `Bearer dev...:<name>` header names; Unauthenticated otherwise."""
    if authorization is None or not authorization.strip():
        raise Unauthenticated("Missing Authorization header")
    match = header.fullmatch(authorization)
    if match is None:
        raise Unauthenticated(expected)
    return match.group(1)


_SERVICE_HEADER = re.compile(r"(?i:bearer) dev-service:(.*)", re.DOTALL)
_EXPECTED_SERVICE = "Expected 'Authorization: Bearer dev-service:<service account email>'"


class DevServiceVerifier:
    """Local mode's stand-in for a payments backend's Google-signed ID token:
    `Bearer dev-service:<email>` names the calling service account; an email outside
    `callers` (CREDIT_CALLERS, default `payments@local`) is refused (403), as in production."""

    def __init__(self, callers: tuple[str, ...]) -> None:
        self.callers = frozenset(c.casefold() for c in callers)

    def verify(self, authorization: str | None) -> str:
        from shared.adapters.task_oidc import NOT_A_PAYMENTS_CALLER
        from shared.domain.errors import Forbidden

        email = _named(authorization, _SERVICE_HEADER, _EXPECTED_SERVICE).strip()
        if email.casefold() not in self.callers:
            raise Forbidden(NOT_A_PAYMENTS_CALLER)
        return email
