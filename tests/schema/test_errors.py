"""Unexpected errors are masked ("Unexpected error." plus the request id) and logged in full;
expected ones keep their code. A tiny schema with the production extensions shows both."""

from __future__ import annotations

import logging

import pytest
import strawberry

from api.logs import request_id_var
from api.services.errors import RateLimited
from schema import MaskUnexpectedErrors, PublicErrorCodes, _should_mask


@strawberry.type
class Query:
    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError('relation "users" does not exist; SELECT password_hash FROM users')

    @strawberry.field
    def limited(self) -> str:
        raise RateLimited("Slow down.", retry_after=3)


SCHEMA = strawberry.Schema(
    query=Query, extensions=[PublicErrorCodes, lambda: MaskUnexpectedErrors(_should_mask)]
)


async def test_unexpected_errors_are_masked_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = request_id_var.set("req-42")
    try:
        with caplog.at_level(logging.ERROR):
            result = await SCHEMA.execute("{ broken }")
    finally:
        request_id_var.reset(token)
    assert result.errors is not None
    error = result.errors[0].formatted
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert "password_hash" not in str(error)
    # The full error, with its traceback, is in the log for whoever gets the request id.
    assert "password_hash" in caplog.text and "Traceback" in caplog.text


async def test_expected_errors_keep_their_message_and_code() -> None:
    result = await SCHEMA.execute("{ limited }")
    assert result.errors is not None
    error = result.errors[0].formatted
    assert error["message"] == "Slow down."
    assert error["extensions"]["code"] == "RATE_LIMITED"
