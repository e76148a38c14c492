"""Reading one line of an import file: what becomes an event draft and what is rejected."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.services.events import EventDraft
from api.services.imports import MAX_LINE_BYTES, Rejection, parse_line

AT = "2026-01-02T03:04:05+00:00"


def test_a_full_line_becomes_a_draft() -> None:
    raw = (
        b'{"kind": "git.push", "source": "cli", "occurredAt": "2026-01-02T03:04:05Z",'
        b' "durationMs": 7, "data": {"repo": "r"}, "clientId": "c-1"}'
    )
    assert parse_line(raw, 1) == EventDraft(
        kind="git.push",
        source="cli",
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        duration_ms=7,
        data={"repo": "r"},
        client_id="c-1",
    )


@pytest.mark.parametrize(
    ("raw", "reason", "mentions"),
    [
        (b"{not json", "INVALID_JSON", ""),
        (b'{"kind": "a", "kind": }', "INVALID_JSON", ""),
        (b"\xff\xfe{}", "INVALID_JSON", ""),
        (b"[1, 2]", "INVALID_INPUT", "object"),
        (b'"text"', "INVALID_INPUT", "object"),
        (b'{"source": "cli", "occurredAt": "' + AT.encode() + b'"}', "INVALID_INPUT", "kind"),
        (b'{"kind": 1, "source": "cli", "occurredAt": "x"}', "INVALID_INPUT", "kind"),
        (b'{"kind": "a", "source": "cli", "occurredAt": 5}', "INVALID_INPUT", "occurredAt"),
        (b'{"kind": "a", "source": "cli", "occurredAt": "soon"}', "INVALID_INPUT", "ISO 8601"),
        (
            b'{"kind": "a", "source": "cli", "occurredAt": "'
            + AT.encode()
            + b'", "durationMs": true}',
            "INVALID_INPUT",
            "durationMs",
        ),
        (
            b'{"kind": "a", "source": "cli", "occurredAt": "' + AT.encode() + b'", "clientId": 3}',
            "INVALID_INPUT",
            "clientId",
        ),
        (
            b'{"kind": "a", "source": "cli", "occurredAt": "'
            + AT.encode()
            + b'", "occurred_at": 1}',
            "INVALID_INPUT",
            "occurred_at",
        ),
        (b'{"kind": "' + b"a" * MAX_LINE_BYTES + b'"}', "LINE_TOO_LONG", ""),
    ],
)
def test_bad_lines_are_rejected_with_a_reason(raw: bytes, reason: str, mentions: str) -> None:
    parsed = parse_line(raw, 42)
    assert isinstance(parsed, Rejection)
    assert (parsed.line, parsed.reason) == (42, reason)
    assert mentions in (parsed.message or "")


def test_the_event_checks_are_left_to_ingestion() -> None:
    # A badly named kind is a well-formed line: recordEvents' checks reject it later, with
    # the same reason codes as recordEvents.
    parsed = parse_line(
        b'{"kind": "Not Valid", "source": "cli", "occurredAt": "' + AT.encode() + b'"}', 1
    )
    assert isinstance(parsed, EventDraft)
