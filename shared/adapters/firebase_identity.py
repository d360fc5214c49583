"""Firebase Auth ID tokens: the production identity of the `api` function.

Implements the checks Firebase documents for verifying ID tokens with a third-party JWT
library: an RS256 signature by the key its `kid` names among Google's securetoken
certificates, `aud` the project id, `iss` `https://securetoken.google.com/<project id>`,
`exp` in the future, `iat` and `auth_time` in the past, `sub` (the uid) a non-empty string of
at most 128 characters. Times allow `clock_skew_seconds` of tolerance. Then our own rule
(`shared.domain.identity`): a valid token whose uid cannot be a Firestore document id and a
media key segment is refused with its own clear message (and a warning log line), never mapped.

Every refusal is the same `Unauthenticated` with a safe generic message; why it failed goes
to a debug log line (never the token). A key set that cannot be fetched raises
`KeysUnavailable` (an IdentityUnavailable) instead: our outage, which the api maps to 503.

Revocation (`check_revoked`) and disabled users are not checked: that needs the Admin SDK
and a call to Google per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shared.adapters.jwt_keys import (
    INVALID_TOKEN,
    InvalidToken,
    KeySource,
    KeysUnavailable,
    bearer_token,
    check_times,
    firebase_keys,
    verified_claims,
)
from shared.domain.errors import Unauthenticated
from shared.domain.identity import UNSUPPORTED_UID, Identity, uid_problem

__all__ = ["FirebaseIdentityVerifier", "KeysUnavailable"]

_log = logging.getLogger("creator.identity.firebase")

MAX_UID_LENGTH = 128


class FirebaseIdentityVerifier:
    """IdentityVerifier: `Authorization: Bearer <Firebase ID token>` -> the uid."""

    def __init__(
        self,
        project_id: str,
        *,
        keys: KeySource | None = None,
        clock_skew_seconds: int = 10,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not project_id:
            raise ValueError("project_id is required")
        self.project_id = project_id
        self.issuer = f"https://securetoken.google.com/{project_id}"
        self._keys = keys if keys is not None else firebase_keys()
        self._skew = clock_skew_seconds
        self._now = now

    def verify(self, authorization: str | None) -> str:
        """The uid. Raises Unauthenticated, or KeysUnavailable (503) when keys cannot be had."""
        return self.identify(authorization).uid

    def identify(self, authorization: str | None) -> Identity:
        """The uid, and `admin` from the token's custom claim (`admin: true`, set with the
        Admin SDK's setCustomUserClaims)."""
        token = bearer_token(authorization)
        try:
            uid, claims = self._uid(token)
        except InvalidToken as exc:
            _log.debug("firebase id token refused: %s", exc)
            raise Unauthenticated(INVALID_TOKEN) from None
        problem = uid_problem(uid)
        if problem is not None:  # a real user we cannot serve: worth a warning, not a debug
            _log.warning("firebase uid refused: %s: %.80r", problem, uid)
            raise Unauthenticated(UNSUPPORTED_UID)
        return Identity(uid, admin=claims.get("admin") is True)

    def _uid(self, token: str) -> tuple[str, dict[str, object]]:
        claims = verified_claims(token, self._keys)
        if claims.get("aud") != self.project_id:
            raise InvalidToken("wrong audience")
        if claims.get("iss") != self.issuer:
            raise InvalidToken("wrong issuer")
        check_times(claims, self._now(), self._skew, issued=("iat", "auth_time"))
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > MAX_UID_LENGTH:
            raise InvalidToken("sub missing, empty or too long")
        return sub, claims
