"""Key rotation with a grace period: tokens signed with a previous key stay valid until they
expire; a key removed from the set is refused at once; rotating logs nobody out."""

from __future__ import annotations

from api.app import create_app
from api.settings import Settings
from tests.factories import ME, REFRESH, login, make_user
from tests.support import GraphQLClient, serve_app

KEY_A = "a" * 48
KEY_B = "b" * 48


async def _me(settings: Settings, token: str) -> int:
    async with serve_app(create_app(settings)) as url:
        client = GraphQLClient(url)
        try:
            return (await client.post(ME, token=token)).status_code
        finally:
            await client.aclose()


async def test_rotation_keeps_old_tokens_until_their_key_is_removed(settings: Settings) -> None:
    only_a = settings.model_copy(update={"jwt_keys": [("key-a", KEY_A)]})
    b_then_a = settings.model_copy(update={"jwt_keys": [("key-b", KEY_B), ("key-a", KEY_A)]})
    only_b = settings.model_copy(update={"jwt_keys": [("key-b", KEY_B)]})

    async with serve_app(create_app(only_a)) as url:
        client = GraphQLClient(url)
        await make_user()
        pair = await login(client, "ada@example.com")
        await client.aclose()
    token_a = pair["accessToken"]

    # Rotated: B signs new tokens, A still verifies.
    assert await _me(b_then_a, token_a) == 200
    async with serve_app(create_app(b_then_a)) as url:
        client = GraphQLClient(url)
        # The refresh token from before the rotation still works: nobody is logged out.
        refreshed = (await client.gql(REFRESH, {"token": pair["refreshToken"]}))["refreshToken"]
        await client.aclose()
    assert refreshed["__typename"] == "AuthPayload"
    token_b = refreshed["accessToken"]
    assert token_b != token_a

    # A removed: its tokens are refused at once; B's are fine.
    assert await _me(only_b, token_a) == 401
    assert await _me(only_b, token_b) == 200
