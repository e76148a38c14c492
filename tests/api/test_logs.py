"""Log helpers."""

from __future__ import annotations

import logging
import time

import pytest

from api.logs import Throttle


def test_a_repeated_warning_is_let_through_once_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    throttle = Throttle(logging.getLogger("test.throttle"), seconds=0.2)
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        for attempt in range(5):
            throttle.warning("storage unavailable: %s", f"error {attempt}")
        throttle.warning("another message")
        assert [r.getMessage() for r in caplog.records] == [
            "storage unavailable: error 0",
            "another message",
        ]
        caplog.clear()
        time.sleep(0.25)
        throttle.warning("storage unavailable: %s", "error 5")
    assert [r.getMessage() for r in caplog.records] == [
        "storage unavailable: error 5 (and 4 more since)"
    ]
