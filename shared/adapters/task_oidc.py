"""Google-signed OIDC ID tokens of service accounts: proof that a `video_worker` request
comes from our queue, and that a `POST /api/credits` comes from the payments backend.

A task created with `http_request.oidc_token` reaches the worker with
`Authorization: Bearer <Google-signed OIDC ID token>`: RS256 by one of Google's OIDC keys,
`iss` `https://accounts.google.com` (or `accounts.google.com`), `aud` the task's audience
(by default the task URL), `email` the task's service account with `email_verified` true.
Cloud Scheduler's OIDC tokens have the same shape, so one verifier may accept both callers;
so do the ID tokens a server gets for its own service account (the metadata server's
`identity?audience=...`, `google.oauth2.id_token.fetch_id_token`), which the payments
backend sends to the api (audience: the api's URL).

A missing, malformed, forged, expired token, or one for another audience or issuer ->
`Unauthenticated`; a valid token of another account (or an unverified email) -> `Forbidden`.
A key set that cannot be fetched raises `KeysUnavailable` (an IdentityUnavailable): our
outage, answered 503 so that Cloud Tasks retries the task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from shared.adapters.jwt_keys import (
    INVALID_TOKEN,
    InvalidToken,
    KeySource,
    KeysUnavailable,
    bearer_token,
    check_times,
    google_oidc_keys,
    verified_claims,
)
from shared.domain.errors import Forbidden, Unauthenticated

__all__ = ["GOOGLE_ISSUERS", "KeysUnavailable", "TaskOidcVerifier"]

_log = logging.getLogger("creator.identity.tasks")

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
NOT_THE_QUEUE = "The caller is not the task queue's service account"
NOT_A_PAYMENTS_CALLER = "The caller is not a payments service account (CREDIT_CALLERS)"


class TaskOidcVerifier:
    """TaskAuthenticator: a Cloud Tasks OIDC token -> the service account email.

    `audience`: the one audience, or several (e.g. the function URL with and without the
    path); `service_account`: the caller, or several (e.g. Cloud Tasks' and Cloud
    Scheduler's). Emails compare case-insensitively. `refusal`: the sentence a valid token
    of another account gets (403)."""

    def __init__(
        self,
        audience: str | Sequence[str],
        service_account: str | Sequence[str],
        *,
        keys: KeySource | None = None,
        issuers: Sequence[str] = GOOGLE_ISSUERS,
        clock_skew_seconds: int = 10,
        now: Callable[[], float] = time.time,
        refusal: str = NOT_THE_QUEUE,
    ) -> None:
        audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError("at least one non-empty audience is required")
        accounts = (service_account,) if isinstance(service_account, str) else service_account
        if not accounts or not all(isinstance(a, str) and a for a in accounts):
            raise ValueError("at least one non-empty service account is required")
        if isinstance(issuers, str) or not issuers:
            raise ValueError("issuers must be a non-empty sequence of strings")
        self.audiences = frozenset(audiences)
        self.service_accounts = frozenset(a.casefold() for a in accounts)
        self.issuers = frozenset(issuers)
        self._keys = keys if keys is not None else google_oidc_keys()
        self._skew = clock_skew_seconds
        self._now = now
        self._refusal = refusal

    def verify(self, authorization: str | None) -> str:
        """The caller's email. Raises Unauthenticated, Forbidden, or KeysUnavailable (503)."""
        token = bearer_token(authorization)
        try:
            claims = verified_claims(token, self._keys)
            if not self._audience_ok(claims.get("aud")):
                raise InvalidToken("wrong audience")
            iss = claims.get("iss")
            if not isinstance(iss, str) or iss not in self.issuers:
                raise InvalidToken("wrong issuer")
            check_times(claims, self._now(), self._skew)
        except InvalidToken as exc:
            _log.debug("oidc token refused: %s", exc)
            raise Unauthenticated(INVALID_TOKEN) from None
        email = claims.get("email")
        verified = claims.get("email_verified")
        if (
            not isinstance(email, str)
            or email.casefold() not in self.service_accounts
            or not (verified is True or verified == "true")  # older tokens: a string
        ):
            _log.warning(
                "oidc token of another caller refused email=%.100s email_verified=%.10s",
                email,
                verified,
            )
            raise Forbidden(self._refusal)
        return email

    def _audience_ok(self, aud: object) -> bool:
        if isinstance(aud, str):
            return aud in self.audiences
        # A list audience is legal JWT; Google mints a string, but accept a list that holds
        # exactly one of ours (no more: a token for several parties is not for us alone).
        return (
            isinstance(aud, list)
            and len(aud) == 1
            and isinstance(aud[0], str)
            and aud[0] in self.audiences
        )
