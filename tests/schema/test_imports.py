"""Event file imports over real HTTP multipart, with real workers: counts, rejected lines
with reasons, refused files (nothing kept), the kill switch, ownership, CSRF, and the
progress subscription over a real websocket."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api.app import create_app
from api.settings import Settings, load_settings
from models.users import Role
from tests.factories import make_user, token_for
from tests.jobs.conftest import StartWorker, eventually
from tests.support import GraphQLClient, serve_app
from tests.ws_client import subscriber

IMPORT = """mutation($file: Upload!) { importEvents(file: $file) {
  __typename
  ... on EventImport { id status filename sizeBytes sha256 }
  ... on ValidationError { code message field } } }"""
STATUS = """query($id: ID!) { eventImport(id: $id) {
  id status totalRows processedRows accepted duplicates rejected error
  rejections { line reason message } } }"""
PROGRESS = """subscription($id: ID!) { importProgress(importId: $id) {
  id status totalRows processedRows accepted duplicates rejected } }"""
EVENTS = "{ events(first: 100) { edges { node { kind clientId data } } } }"


def event_line(i: int, **change: Any) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(hours=2) + timedelta(seconds=i)
    return {
        "kind": "file.modified",
        "source": "import",
        "occurredAt": at.isoformat(),
        "durationMs": 5,
        "data": {"path": f"src/f{i}.py"},
        "clientId": f"line-{i}",
        **change,
    }


def jsonl(items: list[Any]) -> bytes:
    return "".join(
        (item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items
    ).encode()


async def upload(
    api: GraphQLClient,
    content: bytes,
    *,
    token: str | None,
    filename: str = "events.jsonl",
    preflight: bool = True,
) -> httpx.Response:
    """`importEvents` as the GraphQL multipart request spec sends it."""
    headers = {"X-Pulse-Preflight": "1"} if preflight else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    operations = {"query": IMPORT, "variables": {"file": None}}
    return await api.http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": (filename, content, "application/x-ndjson")},
        headers=headers,
    )


async def imported(api: GraphQLClient, content: bytes, token: str) -> dict[str, Any]:
    response = await upload(api, content, token=token)
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    result = body["data"]["importEvents"]
    assert isinstance(result, dict)
    return result


async def wait_finished(api: GraphQLClient, import_id: str, token: str) -> dict[str, Any]:
    state: dict[str, Any] = {}

    async def finished() -> bool:
        nonlocal state
        state = (await api.gql(STATUS, {"id": import_id}, token=token))["eventImport"]
        return state["status"] in {"COMPLETED", "FAILED"}

    await eventually(finished, timeout=60, interval=0.1)
    return state


def upload_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def settings(upload_dir: Path) -> Settings:
    # A small upload cap so that the over-size cases stay cheap.
    return load_settings(_env_file=None, upload_dir=upload_dir, max_upload_bytes=256 * 1024)


@pytest.fixture
async def tokens(api: GraphQLClient) -> dict[str, str]:
    await make_user("ada@example.com")
    await make_user("bob@example.com")
    await make_user("root@example.com", role=Role.ADMIN)
    return {name: await token_for(api, f"{name}@example.com") for name in ("ada", "bob", "root")}


@pytest.fixture
def worker(start_worker: StartWorker, upload_dir: Path) -> StartWorker:
    def start(**env: str | None) -> Any:
        return start_worker(UPLOAD_DIR=str(upload_dir), **env)

    return start


async def test_an_uploaded_file_is_imported_by_the_worker(
    api: GraphQLClient,
    tokens: dict[str, str],
    pg: asyncpg.Connection,
    worker: StartWorker,
    upload_dir: Path,
) -> None:
    worker()
    lines = [event_line(i) for i in range(120)] + [event_line(0)]  # the last: a duplicate
    content = jsonl(lines)
    result = await imported(api, content, tokens["ada"])
    assert result["__typename"] == "EventImport"
    assert result["status"] == "PENDING"
    assert result["sizeBytes"] == len(content)
    assert result["filename"] == "events.jsonl"

    state = await wait_finished(api, result["id"], tokens["ada"])
    assert state["status"] == "COMPLETED", state
    assert (state["totalRows"], state["processedRows"]) == (121, 121)
    assert (state["accepted"], state["duplicates"], state["rejected"]) == (120, 1, 0)
    rows = await pg.fetch("SELECT client_id, import_job_id FROM events")
    assert sorted(r["client_id"] for r in rows) == sorted(f"line-{i}" for i in range(120))
    assert {str(r["import_job_id"]) for r in rows} == {result["id"]}
    # Dispatched to the pipeline like recordEvents: every event gets processed.

    async def processed() -> bool:
        return await pg.fetchval("SELECT count(*) FROM events WHERE processed_at IS NULL") == 0

    await eventually(processed)
    # The file was stored under a name of ours, and deleted once imported.
    assert upload_files(upload_dir) == []


async def test_bad_lines_are_rejected_with_reasons_and_good_ones_accepted(
    api: GraphQLClient, tokens: dict[str, str], pg: asyncpg.Connection, worker: StartWorker
) -> None:
    worker()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    content = jsonl(
        [
            event_line(1),
            "{not json",
            "",  # blank lines are not rows
            event_line(2, kind="Bad Kind"),
            [event_line(3)],
            event_line(4, occurredAt="yesterday"),
            event_line(5, occurredAt=future),
            event_line(6, surprise=True),
            event_line(7, durationMs="5"),
            event_line(8),
        ]
    )
    result = await imported(api, content, tokens["ada"])
    state = await wait_finished(api, result["id"], tokens["ada"])
    assert state["status"] == "COMPLETED", state
    assert (state["totalRows"], state["accepted"], state["rejected"]) == (9, 2, 7)
    reasons = [(r["line"], r["reason"]) for r in state["rejections"]]
    assert reasons == [
        (2, "INVALID_JSON"),
        (4, "INVALID_KIND"),
        (5, "INVALID_INPUT"),
        (6, "INVALID_INPUT"),
        (7, "OCCURRED_IN_FUTURE"),
        (8, "INVALID_INPUT"),
        (9, "INVALID_INPUT"),
    ]
    messages = {r["line"]: r["message"] for r in state["rejections"]}
    assert "occurredAt" in messages[6] and "surprise" in messages[8]
    stored = await pg.fetch("SELECT client_id FROM events ORDER BY client_id")
    assert [r["client_id"] for r in stored] == ["line-1", "line-8"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "UTF-8"),
        (b"kind,source,occurredAt\nfile.modified,cli,2024-01-01T00:00:00Z\n", "JSON Lines"),
        (jsonl([[event_line(1), event_line(2)]]), "JSON array"),
        (b"\n \n", "no events"),
    ],
    ids=["binary", "csv", "json array", "empty"],
)
async def test_a_file_that_is_not_json_lines_is_a_validation_error_and_nothing_is_kept(
    api: GraphQLClient,
    tokens: dict[str, str],
    pg: asyncpg.Connection,
    upload_dir: Path,
    content: bytes,
    message: str,
) -> None:
    result = await imported(api, content, tokens["ada"])
    assert result["__typename"] == "ValidationError", result
    assert result["field"] == "file" and message in result["message"]
    assert await pg.fetchval("SELECT count(*) FROM event_imports") == 0
    assert upload_files(upload_dir) == []


async def test_an_oversize_upload_is_refused_and_nothing_is_kept(
    api: GraphQLClient,
    tokens: dict[str, str],
    pg: asyncpg.Connection,
    settings: Settings,
    upload_dir: Path,
) -> None:
    line = jsonl([event_line(0, data={"pad": "x" * 1000})])
    # Over MAX_UPLOAD_BYTES: a typed error from the resolver.
    too_big = line * (settings.max_upload_bytes // len(line) + 1)
    result = await imported(api, too_big, tokens["ada"])
    assert result["__typename"] == "ValidationError", result
    assert result["field"] == "file" and "limit" in result["message"]
    # Over the multipart body limit: 413 before anything runs.
    huge = line * (settings.max_multipart_bytes // len(line) + 1)
    response = await upload(api, huge, token=tokens["ada"])
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await pg.fetchval("SELECT count(*) FROM event_imports") == 0
    assert upload_files(upload_dir) == []


async def test_uploads_turned_off_answer_feature_disabled_and_keep_nothing(
    api: GraphQLClient, tokens: dict[str, str], pg: asyncpg.Connection, upload_dir: Path
) -> None:
    await api.gql(
        'mutation { setFeatureFlag(name: "uploads", enabled: false) { __typename } }',
        token=tokens["root"],
    )
    response = await upload(api, jsonl([event_line(1)]), token=tokens["ada"])
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "FEATURE_DISABLED", body
    assert await pg.fetchval("SELECT count(*) FROM event_imports") == 0
    assert upload_files(upload_dir) == []


async def test_uploads_need_a_signed_in_user_and_the_preflight_header(
    api: GraphQLClient, tokens: dict[str, str], pg: asyncpg.Connection
) -> None:
    anonymous = (await upload(api, jsonl([event_line(1)]), token=None)).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    no_preflight = await upload(api, jsonl([event_line(1)]), token=tokens["ada"], preflight=False)
    assert no_preflight.status_code == 415
    assert no_preflight.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    # A JSON request naming a string as the file is refused as such.
    as_json = await api.gql(IMPORT, {"file": "events.jsonl"}, token=tokens["ada"])
    assert as_json["importEvents"]["__typename"] == "ValidationError"
    assert await pg.fetchval("SELECT count(*) FROM event_imports") == 0


async def test_the_client_filename_is_a_label_never_a_path(
    api: GraphQLClient, tokens: dict[str, str], pg: asyncpg.Connection, upload_dir: Path
) -> None:
    result = await imported_named(api, tokens["ada"], "../../etc/passwd")
    assert result["filename"] == "passwd"
    path = await pg.fetchval("SELECT storage_path FROM event_imports")
    assert ".." not in path and "passwd" not in path
    assert [p.relative_to(upload_dir).as_posix() for p in upload_files(upload_dir)] == [path]


async def imported_named(api: GraphQLClient, token: str, filename: str) -> dict[str, Any]:
    response = await upload(api, jsonl([event_line(1)]), token=token, filename=filename)
    result = response.json()["data"]["importEvents"]
    assert result["__typename"] == "EventImport", result
    assert isinstance(result, dict)
    return result


async def test_someone_elses_import_is_not_found(
    api: GraphQLClient, tokens: dict[str, str]
) -> None:
    result = await imported(api, jsonl([event_line(1)]), tokens["ada"])
    assert (await api.gql(STATUS, {"id": result["id"]}, token=tokens["bob"]))["eventImport"] is None
    assert (await api.gql(STATUS, {"id": "not-a-uuid"}, token=tokens["bob"]))["eventImport"] is None
    listed = await api.gql("{ eventImports { edges { node { id } } } }", token=tokens["bob"])
    assert listed["eventImports"]["edges"] == []
    async with subscriber(api.base_url, tokens["bob"]) as bob:
        await bob.subscribe(PROGRESS, {"id": result["id"]})
        message = await bob.receive()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def _collect(stream: Any, into: list[dict[str, Any]]) -> None:
    while True:
        message = await stream.receive(timeout=60)
        if message["type"] == "complete":
            return
        assert message["type"] == "next", message
        into.append(message["payload"]["data"]["importProgress"])


async def test_progress_is_streamed_until_the_import_completes(
    api: GraphQLClient, tokens: dict[str, str], worker: StartWorker
) -> None:
    content = jsonl([event_line(i) for i in range(300)])
    result = await imported(api, content, tokens["ada"])
    seen: list[dict[str, Any]] = []
    async with subscriber(api.base_url, tokens["ada"]) as ada:
        await ada.subscribe(PROGRESS, {"id": result["id"]})
        # The current state first: no worker runs yet.
        first = await ada.next_data()
        assert first["importProgress"]["status"] == "PENDING"
        worker(IMPORT_BATCH_ROWS="50")
        await asyncio.wait_for(_collect(ada, seen), 60)
    assert seen[-1]["status"] == "COMPLETED"
    assert seen[-1]["accepted"] == 300 and seen[-1]["processedRows"] == 300
    processing = [s["processedRows"] for s in seen if s["status"] == "PROCESSING"]
    assert len(processing) >= 2, seen  # live updates while it ran, not just the end
    assert processing == sorted(processing)


async def test_progress_of_a_finished_import_is_its_state_then_complete(
    api: GraphQLClient, tokens: dict[str, str], worker: StartWorker
) -> None:
    worker()
    result = await imported(api, jsonl([event_line(1)]), tokens["ada"])
    await wait_finished(api, result["id"], tokens["ada"])
    async with subscriber(api.base_url, tokens["ada"]) as ada:
        await ada.subscribe(PROGRESS, {"id": result["id"]})
        assert (await ada.next_data())["importProgress"]["status"] == "COMPLETED"
        assert (await ada.receive())["type"] == "complete"


async def test_uploads_are_charged_by_size_against_the_rate_limit(
    settings: Settings, pg: asyncpg.Connection, upload_dir: Path
) -> None:
    """One unit per KiB: under a 150-unit limit a 100 KiB file goes in, a second one does
    not (429, nothing kept)."""
    limited = settings.model_copy(update={"rate_limit_user": "150/minute"})
    async with serve_app(create_app(limited)) as url:
        await make_user("ada@example.com")
        client = GraphQLClient(url)
        token = await token_for(client, "ada@example.com")
        line = jsonl([event_line(0, data={"pad": "x" * 1000})])
        content = line * (100 * 1024 // len(line))
        first = await upload(client, content, token=token)
        assert first.json()["data"]["importEvents"]["__typename"] == "EventImport", first.text
        second = await upload(client, content, token=token)
        assert second.status_code == 429, second.text
        assert second.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert int(second.headers["retry-after"]) >= 1
        await client.aclose()
    assert await pg.fetchval("SELECT count(*) FROM event_imports") == 1
    assert len(upload_files(upload_dir)) == 1
