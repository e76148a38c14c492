"""Feature flags as kill switches.

Every flag is on unless turned off. A flag's value comes from, first to last:
1. the environment (`FEATURE_FLAGS=ingestion=off,connector.webhook=on`): an operator's
   override that no admin can undo;
2. the `feature_flags` table, changed by admins with `setFeatureFlag` (audited);
3. on.
Reads are cached in-process for `CACHE_SECONDS`, so a change reaches every instance within
that time without a database read per request.

What a disabled flag does: resolvers answer `FEATURE_DISABLED`; jobs skip their work, log
it, and leave it to be done once the flag is back on (events stay stored, runs stay queued).
"""

from __future__ import annotations

import time
from typing import Final

from api.services.errors import FeatureDisabled
from models.flags import FeatureFlag

INGESTION: Final = "ingestion"
PATTERN_ANALYSIS: Final = "pattern_analysis"
SUGGESTIONS: Final = "suggestions"
WORKFLOW_EXECUTION: Final = "workflow_execution"
UPLOADS: Final = "uploads"
SUBSCRIPTIONS: Final = "subscriptions"
CONNECTORS: Final = ("connector.webhook", "connector.email", "connector.log", "connector.delay")

KNOWN: Final = frozenset(
    {
        INGESTION,
        PATTERN_ANALYSIS,
        SUGGESTIONS,
        WORKFLOW_EXECUTION,
        UPLOADS,
        SUBSCRIPTIONS,
        *CONNECTORS,
    }
)
DESCRIPTIONS: Final = {
    INGESTION: "recordEvent(s) accept events",
    PATTERN_ANALYSIS: "the worker analyses events for patterns",
    SUGGESTIONS: "analysis turns patterns into suggestions",
    WORKFLOW_EXECUTION: "the worker executes workflow runs",
    UPLOADS: "event files can be uploaded",
    SUBSCRIPTIONS: "clients can subscribe to live updates",
    **{name: f"workflow steps may use the {name.split('.')[1]} connector" for name in CONNECTORS},
}
CACHE_SECONDS = 5.0


def connector_flag(connector: str) -> str:
    return f"connector.{connector}"


class FeatureFlags:
    def __init__(self, overrides: dict[str, bool]) -> None:
        unknown = set(overrides) - KNOWN
        if unknown:
            raise ValueError(f"unknown feature flags in FEATURE_FLAGS: {sorted(unknown)}")
        self.overrides = overrides
        self._cache: dict[str, bool] = {}
        self._loaded_at = float("-inf")

    async def _stored(self) -> dict[str, bool]:
        if time.monotonic() - self._loaded_at > CACHE_SECONDS:
            rows = await FeatureFlag.all()
            self._cache = {row.name: row.enabled for row in rows}
            self._loaded_at = time.monotonic()
        return self._cache

    async def enabled(self, name: str) -> bool:
        if name in self.overrides:
            return self.overrides[name]
        return (await self._stored()).get(name, True)

    async def require(self, name: str) -> None:
        if not await self.enabled(name):
            raise FeatureDisabled(f"{DESCRIPTIONS.get(name, name)}: turned off for now.")

    async def all(self) -> dict[str, bool]:
        stored = await self._stored()
        return {name: self.overrides.get(name, stored.get(name, True)) for name in sorted(KNOWN)}

    def forget(self) -> None:
        """Drop the cache (after a change on this instance)."""
        self._loaded_at = float("-inf")
