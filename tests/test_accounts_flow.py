"""End to end, through GraphQL over HTTP, a real arq worker and a real SMTP server:
register → read the email → verify → login → refresh → replay the old refresh token → the
whole family is revoked → reset the password through the emailed link → sign in again."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from tests.factories import LOGIN, ME, REFRESH
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, env_with, start_cli

REGISTER = """mutation($e: String!) {
  register(input: {email: $e, username: "grace", password: "first-password-77"}) {
    __typename ... on User { id isVerified } } }"""
VERIFY = """mutation($t: String!) { verifyEmail(token: $t) {
  __typename ... on User { isVerified } ... on AuthError { code } } }"""
REQUEST_RESET = "mutation($e: String!) { requestPasswordReset(email: $e) }"
RESET = """mutation($t: String!) { resetPassword(token: $t, newPassword: "second-password-88") {
  __typename ... on User { id } ... on AuthError { code } } }"""


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    worker = start_cli("worker", env=env_with(SMTP_URL=sink.url), log=tmp_path / "worker.log")
    try:
        yield sink
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        sink.stop()


def _link_token(message: Message, path: str) -> str:
    body = message.get_payload(decode=True).decode()
    found = re.search(rf"/{path}\?token=([A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


async def test_the_whole_account_lifecycle(api: GraphQLClient, mail: SmtpSink) -> None:
    email = "grace@example.com"
    registered = (await api.gql(REGISTER, {"e": email}))["register"]
    assert registered == {"__typename": "User", "id": registered["id"], "isVerified": False}

    welcome = mail.wait_for(1)[0]
    assert welcome["To"] == email
    verify_token = _link_token(welcome, "verify-email")
    verified = (await api.gql(VERIFY, {"t": verify_token}))["verifyEmail"]
    assert verified == {"__typename": "User", "isVerified": True}

    session = (await api.gql(LOGIN, {"email": email, "password": "first-password-77"}))["login"]
    assert session["__typename"] == "AuthPayload"
    me = (await api.gql(ME, token=session["accessToken"]))["me"]
    assert me["isVerified"] is True

    rotated = (await api.gql(REFRESH, {"token": session["refreshToken"]}))["refreshToken"]
    assert rotated["__typename"] == "AuthPayload"
    replay = (await api.gql(REFRESH, {"token": session["refreshToken"]}))["refreshToken"]
    assert replay["code"] == "TOKEN_REUSED"
    dead = (await api.gql(REFRESH, {"token": rotated["refreshToken"]}))["refreshToken"]
    assert dead["code"] == "TOKEN_REVOKED"

    assert (await api.gql(REQUEST_RESET, {"e": email}))["requestPasswordReset"] is True
    reset_mail = mail.wait_for(2)[1]
    assert reset_mail["Subject"] == "Reset your Pulse password"
    reset_token = _link_token(reset_mail, "reset-password")
    assert (await api.gql(RESET, {"t": reset_token}))["resetPassword"]["__typename"] == "User"
    assert (await api.gql(RESET, {"t": reset_token}))["resetPassword"]["code"] == "TOKEN_USED"

    old = (await api.gql(LOGIN, {"email": email, "password": "first-password-77"}))["login"]
    assert old["code"] == "INVALID_CREDENTIALS"
    new = (await api.gql(LOGIN, {"email": email, "password": "second-password-88"}))["login"]
    assert new["__typename"] == "AuthPayload"
