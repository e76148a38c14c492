"""Pattern analysis on real events: what it finds, the suggestions it makes, no duplicates,
dismissed suggestions stay dismissed; and the debounced job in a real worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from api.runtime import Runtime
from api.services import analysis
from api.settings import Settings
from models.patterns import Pattern, PatternKind, Suggestion, SuggestionStatus
from models.users import User
from tests.factories import make_user, token_for
from tests.jobs.conftest import StartWorker, eventually
from tests.support import GraphQLClient

RECORD = "mutation($i: [EventInput!]!) { recordEvents(inputs: $i) { accepted } }"
DISMISS = "mutation($id: ID!) { dismissSuggestion(id: $id) { __typename } }"


def _workday_events(days: int = 7) -> list[dict[str, object]]:
    """Every morning at ~09:0x: pull, test, push within a few minutes; a stray event later."""
    base = (datetime.now(UTC) - timedelta(days=days)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    events = []
    for day in range(days):
        start = base + timedelta(days=day, minutes=day % 3)
        for offset, kind in ((0, "git.pull"), (4, "test.run"), (9, "git.push")):
            events.append(
                {
                    "kind": kind,
                    "source": "cli",
                    "occurredAt": (start + timedelta(minutes=offset)).isoformat(),
                }
            )
        stray = start + timedelta(hours=5 + day)
        events.append({"kind": f"misc.k{day}", "source": "cli", "occurredAt": stray.isoformat()})
    return events


@pytest.fixture
async def runtime(api: GraphQLClient, settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.create(settings)
    yield rt
    await rt.close()


async def _seed(api: GraphQLClient) -> tuple[User, str]:
    user = await make_user()
    token = await token_for(api, user.email)
    result = await api.gql(RECORD, {"i": _workday_events()}, token=token)
    assert result["recordEvents"]["accepted"] == 28
    return user, token


async def test_finds_times_hours_and_sequences(api: GraphQLClient, runtime: Runtime) -> None:
    user, _ = await _seed(api)
    await analysis.analyze_user(runtime, user.id)
    patterns = {p.signature: p for p in await Pattern.filter(user=user)}
    assert "tod:git.pull:09:00" in patterns
    assert patterns["tod:git.pull:09:00"].kind == PatternKind.TIME_OF_DAY
    assert patterns["hour:git.pull:09"].confidence == 1.0
    sequence = patterns["seq:git.pull>test.run>git.push"]
    assert sequence.count == 7 and sequence.kind == PatternKind.SEQUENCE
    assert not any(sig.startswith("hour:misc.") for sig in patterns)  # below minimum support
    assert sequence.first_seen < sequence.last_seen


async def test_suggestions_are_made_once_and_dismissed_ones_stay(
    api: GraphQLClient, runtime: Runtime
) -> None:
    user, token = await _seed(api)
    first = await analysis.analyze_user(runtime, user.id)
    assert first["suggestions"] > 0
    suggestion = await Suggestion.get(user=user, pattern__signature="tod:git.pull:09:00")
    assert suggestion.proposed_workflow["schedule"] == "55 8 * * *"
    again = await analysis.analyze_user(runtime, user.id)
    assert again["suggestions"] == 0
    assert await Suggestion.filter(user=user).count() == first["suggestions"]

    dismissed = await api.gql(DISMISS, {"id": str(suggestion.id)}, token=token)
    assert dismissed["dismissSuggestion"]["__typename"] == "Suggestion"
    await analysis.analyze_user(runtime, user.id)
    await suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.DISMISSED
    assert await Suggestion.filter(pattern__signature="tod:git.pull:09:00").count() == 1


async def test_new_events_trigger_a_debounced_analysis_in_the_worker(
    api: GraphQLClient, start_worker: StartWorker, pg: asyncpg.Connection
) -> None:
    start_worker(ANALYSIS_DEBOUNCE_SECONDS="0.5")
    await _seed(api)

    async def suggested() -> bool:
        return bool(await pg.fetchval("SELECT count(*) FROM suggestions"))

    await eventually(suggested, timeout=30)
