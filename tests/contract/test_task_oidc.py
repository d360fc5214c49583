"""TaskOidcVerifier against tokens signed by a test key served as a Google-style JWKS."""

from __future__ import annotations

import pytest

from shared.adapters.jwt_keys import (
    GOOGLE_OIDC_JWKS_URL,
    JwksKeys,
    KeysUnavailable,
    RemoteKeySource,
    X509Keys,
)
from shared.adapters.task_oidc import TaskOidcVerifier
from shared.domain.errors import Forbidden, Unauthenticated
from tests.servers.keys import KeyServer, TestKey, forge_hs256, mint, unsigned
from tests.servers.receiver import Receiver
from tests.waiting import wait_for

AUDIENCE = "https://europe-west1-demo-creator.cloudfunctions.net/video_worker/steps"
SERVICE_ACCOUNT = "tasks-invoker@demo-creator.iam.gserviceaccount.com"
NOW = 1_750_000_000.0
LEAKS = ("signature", "audience", "issuer", "expired", SERVICE_ACCOUNT)


@pytest.fixture(scope="module")
def key() -> TestKey:
    return TestKey.generate()


@pytest.fixture(scope="module")
def server(key):
    with KeyServer([key], max_age=3600) as s:
        yield s


@pytest.fixture
def verifier(server) -> TaskOidcVerifier:
    keys = RemoteKeySource(server.jwks_url, "jwks")
    return TaskOidcVerifier(AUDIENCE, SERVICE_ACCOUNT, keys=keys, now=lambda: NOW)


def claims(**overrides):
    base = {
        "aud": AUDIENCE,
        "azp": "112233445566778899000",
        "email": SERVICE_ACCOUNT,
        "email_verified": True,
        "exp": int(NOW) + 3000,
        "iat": int(NOW) - 600,
        "iss": "https://accounts.google.com",
        "sub": "112233445566778899000",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_valid_token_gives_the_email(verifier, key):
    assert verifier.verify(bearer(mint(claims(), key))) == SERVICE_ACCOUNT


def test_issuer_without_https(verifier, key):
    token = mint(claims(iss="accounts.google.com"), key)
    assert verifier.verify(bearer(token)) == SERVICE_ACCOUNT


def test_email_verified_as_a_string(verifier, key):
    token = mint(claims(email_verified="true"), key)
    assert verifier.verify(bearer(token)) == SERVICE_ACCOUNT


def test_several_callers(server, key):
    scheduler = "scheduler@demo-creator.iam.gserviceaccount.com"
    verifier = TaskOidcVerifier(
        AUDIENCE,
        (SERVICE_ACCOUNT, scheduler),
        keys=RemoteKeySource(server.jwks_url, "jwks"),
        now=lambda: NOW,
    )
    for email in (SERVICE_ACCOUNT, scheduler):
        assert verifier.verify(bearer(mint(claims(email=email), key))) == email
    with pytest.raises(Forbidden):
        verifier.verify(bearer(mint(claims(email="x@demo.iam.gserviceaccount.com"), key)))


def test_email_case_is_ignored(verifier, key):
    token = mint(claims(email=SERVICE_ACCOUNT.upper()), key)
    assert verifier.verify(bearer(token)) == SERVICE_ACCOUNT.upper()


def test_alternative_audiences(server, key):
    base = "https://europe-west1-demo-creator.cloudfunctions.net/video_worker"
    verifier = TaskOidcVerifier(
        [base, base + "/steps"],
        SERVICE_ACCOUNT,
        keys=RemoteKeySource(server.jwks_url, "jwks"),
        now=lambda: NOW,
    )
    for aud in (base, base + "/steps"):
        assert verifier.verify(bearer(mint(claims(aud=aud), key))) == SERVICE_ACCOUNT
    for aud in (base + "/other", "https://example.com", [base, "https://example.com"]):
        with pytest.raises(Unauthenticated):
            verifier.verify(bearer(mint(claims(aud=aud), key)))
    assert verifier.verify(bearer(mint(claims(aud=[base]), key))) == SERVICE_ACCOUNT


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"email": "someone-else@demo-creator.iam.gserviceaccount.com"}, id="email"),
        pytest.param({"email": None}, id="no-email"),
        pytest.param({"email_verified": False}, id="unverified"),
        pytest.param({"email_verified": "false"}, id="unverified-string"),
        pytest.param({"email_verified": None}, id="no-email-verified"),
        pytest.param({"email_verified": 1}, id="email-verified-1"),
        pytest.param({"email": [SERVICE_ACCOUNT]}, id="email-list"),
    ],
)
def test_another_caller_is_forbidden(verifier, key, overrides):
    with pytest.raises(Forbidden) as info:
        verifier.verify(bearer(mint(claims(**overrides), key)))
    assert SERVICE_ACCOUNT not in str(info.value)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": "https://example.com/video_worker"}, id="wrong-aud"),
        pytest.param({"aud": None}, id="no-aud"),
        pytest.param({"iss": "https://securetoken.google.com/demo-creator"}, id="firebase-iss"),
        pytest.param({"iss": "https://evil.example.com"}, id="other-iss"),
        pytest.param({"iss": None}, id="no-iss"),
        pytest.param({"iss": ["https://accounts.google.com"]}, id="iss-list"),
        pytest.param({"aud": {"x": AUDIENCE}}, id="aud-object"),
        pytest.param({"exp": int(NOW) - 11}, id="expired"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"iat": int(NOW) + 60}, id="iat-future"),
        pytest.param({"iat": None}, id="no-iat"),
    ],
)
def test_bad_tokens_are_unauthenticated(verifier, key, overrides):
    token = mint(claims(**overrides), key)
    with pytest.raises(Unauthenticated) as info:
        verifier.verify(bearer(token))
    message = str(info.value)
    assert message == "Invalid or expired identity token"  # the same for every cause
    assert token not in message
    rest = message.lower().replace("invalid or expired identity token", "")
    for word in LEAKS:
        assert word not in rest


def test_bad_claims_of_another_caller_are_unauthenticated_first(verifier, key):
    token = mint(claims(email="x@example.com", exp=int(NOW) - 60), key)
    with pytest.raises(Unauthenticated):
        verifier.verify(bearer(token))


def test_forgeries_are_unauthenticated(verifier, key):
    other = TestKey.generate()
    forgeries = [
        mint(claims(), other, kid=key.kid),
        mint(claims(), key, kid="unknown"),
        unsigned(claims(), kid=key.kid),
        forge_hs256(claims(), key.public_pem, kid=key.kid),
        mint(claims(), key, algorithm="RS384"),
        "garbage",
    ]
    for token in forgeries:
        with pytest.raises(Unauthenticated, match="^Invalid or expired identity token$"):
            verifier.verify(bearer(token))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Missing Authorization header"),
        ("", "Missing Authorization header"),
        ("Basic x", "Expected a Bearer token"),
    ],
)
def test_header_problems(verifier, header, message):
    with pytest.raises(Unauthenticated, match=f"^{message}$"):
        verifier.verify(header)


def test_jwks_is_cached(key):
    with KeyServer([key]) as server:
        verifier = TaskOidcVerifier(
            AUDIENCE,
            SERVICE_ACCOUNT,
            keys=RemoteKeySource(server.jwks_url, "jwks"),
            now=lambda: NOW,
        )
        for _ in range(10):
            verifier.verify(bearer(mint(claims(), key)))
        assert server.count("/jwks") == 1


def test_key_server_down_is_keys_unavailable(key):
    server = KeyServer([key])
    url = server.jwks_url
    server.close()
    verifier = TaskOidcVerifier(
        AUDIENCE, SERVICE_ACCOUNT, keys=RemoteKeySource(url, "jwks", timeout=2), now=lambda: NOW
    )
    with pytest.raises(KeysUnavailable):
        verifier.verify(bearer(mint(claims(), key)))


def test_default_keys_are_googles_jwks():
    verifier = TaskOidcVerifier(AUDIENCE, SERVICE_ACCOUNT)
    assert verifier._keys.url == GOOGLE_OIDC_JWKS_URL
    assert verifier._keys.key_format == "jwks"


@pytest.mark.parametrize(
    ("audience", "account"),
    [("", SERVICE_ACCOUNT), ([], SERVICE_ACCOUNT), ([""], SERVICE_ACCOUNT), (AUDIENCE, "")],
)
def test_configuration_is_checked(audience, account):
    with pytest.raises(ValueError):
        TaskOidcVerifier(audience, account)


# --- a token minted by the local Cloud Tasks server ------------------------------------------


def test_a_token_minted_by_the_local_cloud_tasks_server():
    from google.cloud import tasks_v2

    from devtools.cloud_tasks_server.runner import CloudTasksServer

    queue = "projects/demo-creator/locations/europe-west1/queues/identity"
    receiver = Receiver()
    by_url = receiver.url("/by-url")
    try:
        with CloudTasksServer(queues=[queue]) as server:
            client = server.client()
            # One path per token: the two deliveries may arrive in either order.
            for path, audience in (("/with-audience", AUDIENCE), ("/by-url", None)):
                oidc = tasks_v2.OidcToken(service_account_email=SERVICE_ACCOUNT)
                if audience:  # None: the audience is the task URL
                    oidc.audience = audience
                task = tasks_v2.Task(
                    http_request=tasks_v2.HttpRequest(
                        url=receiver.url(path),
                        http_method=tasks_v2.HttpMethod.POST,
                        headers={"Content-Type": "application/json"},
                        body=b"{}",
                        oidc_token=oidc,
                    )
                )
                client.create_task(parent=queue, task=task)

            def token(path: str) -> str:
                [delivery] = wait_for(lambda: receiver.got(path), timeout=20)
                return delivery.headers["Authorization"]

            with_audience, with_url = token("/with-audience"), token("/by-url")
            keys = JwksKeys(server.jwks_url)
            verifier = TaskOidcVerifier([AUDIENCE, by_url], SERVICE_ACCOUNT, keys=keys)
            assert verifier.verify(with_audience) == SERVICE_ACCOUNT
            assert verifier.verify(with_url) == SERVICE_ACCOUNT
            assert keys.fetches == 1

            only_audience = TaskOidcVerifier(AUDIENCE, SERVICE_ACCOUNT, keys=keys)
            with pytest.raises(Unauthenticated):
                only_audience.verify(with_url)
            other_caller = TaskOidcVerifier(
                AUDIENCE, "other@demo.iam.gserviceaccount.com", keys=keys
            )
            with pytest.raises(Forbidden):
                other_caller.verify(with_audience)
            firebase_keys_here = X509Keys(server.jwks_url)  # the wrong form: unreadable
            with pytest.raises(KeysUnavailable):
                TaskOidcVerifier(AUDIENCE, SERVICE_ACCOUNT, keys=firebase_keys_here).verify(
                    with_audience
                )
    finally:
        receiver.shutdown()
