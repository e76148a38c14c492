from __future__ import annotations

from schema.__main__ import SCHEMA_FILE, sdl


def test_committed_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == sdl(), (
        "schema.graphql is out of date: run `python -m schema` and commit it"
    )


def test_the_public_contract_names_are_there() -> None:
    text = SCHEMA_FILE.read_text()
    for name in (
        "interface Error",
        "type ValidationError implements Error",
        "union RegisterResult",
        "union AuthResult",
        "type RecordEventsPayload",
        "enum IngestStatus",
        "type EventConnection",
        "type PageInfo",
        "union WorkflowResult",
        "union WorkflowRunResult",
        "enum RunStatus",
        "input WorkflowInput",
        "input EventFilter",
        "scalar JSON",
    ):
        assert name in text, name
