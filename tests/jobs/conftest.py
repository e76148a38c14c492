"""Worker helpers live in tests/workers.py (shared with other test packages)."""

from __future__ import annotations

from tests.workers import StartWorker, eventually

__all__ = ["StartWorker", "eventually"]
