"""Pattern analysis: regularities in one user's recent events, and the workflows they suggest.

Found (times in UTC, since users have no time zone yet):
- HOUR_OF_DAY   a kind that mostly happens in one hour of the day;
- DAY_OF_WEEK   a kind that mostly happens on one weekday;
- SEQUENCE      kinds that follow each other within sessions (n-grams, n = 2..3, counted once
                per session, kept with a minimum support);
- TIME_OF_DAY   a kind whose first occurrence of the day recurs at about the same minute.

Patterns are upserted by a stable signature, so re-running changes counts, not identities.
A strong enough pattern gets one suggestion (unique per pattern), so suggestions are never
duplicated and a dismissed one never comes back.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.exceptions import IntegrityError

from api.resilience import flags
from api.runtime import Runtime
from api.services import pubsub
from models.events import Event
from models.patterns import Pattern, PatternKind, Suggestion

logger = logging.getLogger(__name__)

WINDOW = timedelta(days=30)
MAX_EVENTS = 50_000
MIN_SUPPORT = 5  # occurrences before a per-kind pattern counts
MIN_SESSIONS = 3  # sessions an n-gram must appear in
SESSION_GAP = timedelta(minutes=30)
HOUR_SHARE = 0.3
WEEKDAY_SHARE = 0.4
TIME_SPREAD_MINUTES = 20.0
SUGGEST_CONFIDENCE = 0.5
SUGGESTIONS_TOPIC = "suggestions"


@dataclass
class Found:
    kind: PatternKind
    signature: str
    description: str
    details: dict[str, Any]
    count: int
    confidence: float
    first_seen: datetime
    last_seen: datetime


def hour_of_day(events: list[Event]) -> list[Found]:
    found = []
    for kind, rows in _by_kind(events).items():
        if len(rows) < MIN_SUPPORT:
            continue
        hours = Counter(e.occurred_at.astimezone(UTC).hour for e in rows)
        hour, count = hours.most_common(1)[0]
        share = count / len(rows)
        if count >= MIN_SUPPORT and share >= HOUR_SHARE:
            found.append(
                Found(
                    PatternKind.HOUR_OF_DAY,
                    f"hour:{kind}:{hour:02d}",
                    f"{kind} mostly happens between {hour:02d}:00 and {hour:02d}:59 UTC",
                    {"event_kind": kind, "hour": hour},
                    count,
                    round(share, 3),
                    rows[0].occurred_at,
                    rows[-1].occurred_at,
                )
            )
    return found


def day_of_week(events: list[Event]) -> list[Found]:
    names = [
        "",
        "Mondays",
        "Tuesdays",
        "Wednesdays",
        "Thursdays",
        "Fridays",
        "Saturdays",
        "Sundays",
    ]
    found = []
    for kind, rows in _by_kind(events).items():
        if len(rows) < MIN_SUPPORT:
            continue
        days = Counter(e.occurred_at.astimezone(UTC).isoweekday() for e in rows)
        day, count = days.most_common(1)[0]
        share = count / len(rows)
        if count >= MIN_SUPPORT and share >= WEEKDAY_SHARE:
            found.append(
                Found(
                    PatternKind.DAY_OF_WEEK,
                    f"weekday:{kind}:{day}",
                    f"{kind} mostly happens on {names[day]}",
                    {"event_kind": kind, "weekday": day},
                    count,
                    round(share, 3),
                    rows[0].occurred_at,
                    rows[-1].occurred_at,
                )
            )
    return found


def sequences(events: list[Event]) -> list[Found]:
    sessions: list[list[Event]] = []
    for event in events:
        if sessions and event.occurred_at - sessions[-1][-1].occurred_at <= SESSION_GAP:
            sessions[-1].append(event)
        else:
            sessions.append([event])
    support: Counter[tuple[str, ...]] = Counter()
    seen_at: dict[tuple[str, ...], list[datetime]] = defaultdict(list)
    starts: Counter[str] = Counter()
    for session in sessions:
        kinds = [session[0].kind]
        for event in session[1:]:
            if event.kind != kinds[-1]:
                kinds.append(event.kind)
        grams = {tuple(kinds[i : i + n]) for n in (2, 3) for i in range(len(kinds) - n + 1)}
        for gram in grams:
            support[gram] += 1
            seen_at[gram].append(session[0].occurred_at)
        for kind in set(kinds):
            starts[kind] += 1
    found = []
    for gram, count in support.items():
        if count < MIN_SESSIONS:
            continue
        confidence = count / starts[gram[0]]
        label = " → ".join(gram)
        found.append(
            Found(
                PatternKind.SEQUENCE,
                "seq:" + ">".join(gram),
                f"{label} within a session",
                {"kinds": list(gram), "sessions": count},
                count,
                round(confidence, 3),
                min(seen_at[gram]),
                max(seen_at[gram]),
            )
        )
    return found


def time_of_day(events: list[Event]) -> list[Found]:
    found = []
    for kind, rows in _by_kind(events).items():
        first_per_day: dict[Any, datetime] = {}
        for e in rows:
            at = e.occurred_at.astimezone(UTC)
            first_per_day.setdefault(at.date(), at)
        if len(first_per_day) < 3:
            continue
        minutes = [t.hour * 60 + t.minute for t in first_per_day.values()]
        if statistics.pstdev(minutes) > TIME_SPREAD_MINUTES:
            continue
        usual = int(5 * round(statistics.median(minutes) / 5)) % (24 * 60)
        hour, minute = divmod(usual, 60)
        span = (max(first_per_day) - min(first_per_day)).days + 1
        found.append(
            Found(
                PatternKind.TIME_OF_DAY,
                f"tod:{kind}:{hour:02d}:{minute:02d}",
                f"{kind} usually starts the day at about {hour:02d}:{minute:02d} UTC",
                {"event_kind": kind, "hour": hour, "minute": minute, "days": len(first_per_day)},
                len(first_per_day),
                round(len(first_per_day) / span, 3),
                rows[0].occurred_at,
                rows[-1].occurred_at,
            )
        )
    return found


def _by_kind(events: list[Event]) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event.kind].append(event)
    return grouped


def proposal(found: Found) -> dict[str, Any] | None:
    """The workflow a strong pattern suggests, or None."""
    if found.confidence < SUGGEST_CONFIDENCE:
        return None
    details = found.details
    if found.kind == PatternKind.TIME_OF_DAY:
        hour, minute = details["hour"], details["minute"]
        # Five minutes ahead, so whatever it prepares is ready when the user starts.
        start = (hour * 60 + minute - 5) % (24 * 60)
        schedule = f"{start % 60} {start // 60} * * *"
        name = f"Before {details['event_kind']} ({hour:02d}:{minute:02d} UTC)"
    elif found.kind == PatternKind.HOUR_OF_DAY:
        schedule, name = f"0 {details['hour']} * * *", f"Hourly prep for {details['event_kind']}"
    elif found.kind == PatternKind.DAY_OF_WEEK:
        weekday = details["weekday"] % 7  # cron: Sunday is 0
        schedule, name = f"0 8 * * {weekday}", f"Weekly prep for {details['event_kind']}"
    else:
        schedule, name = None, f"After {details['kinds'][0]}: {' → '.join(details['kinds'][1:])}"
    return {
        "name": name[:200],
        "description": found.description,
        "schedule": schedule,
        "timezone": "UTC",
        "steps": [{"connector": "log", "config": {"message": f"Pattern: {found.description}"}}],
    }


async def analyze_user(rt: Runtime, user_id: UUID | str) -> dict[str, int]:
    if not await rt.flags.enabled(flags.PATTERN_ANALYSIS):
        # Skipped, not lost: the events stay stored and the nightly run covers them.
        logger.warning("pattern analysis is turned off; skipped for %s", user_id)
        return {"patterns": 0, "suggestions": 0, "skipped": 1}
    suggest = await rt.flags.enabled(flags.SUGGESTIONS)
    since = datetime.now(UTC) - WINDOW
    events = (
        await Event.filter(user_id=user_id, occurred_at__gte=since)
        .order_by("occurred_at", "id")
        .limit(MAX_EVENTS)
    )
    found = hour_of_day(events) + day_of_week(events) + sequences(events) + time_of_day(events)
    created = 0
    for item in found:
        pattern, _ = await Pattern.update_or_create(
            user_id=user_id,
            signature=item.signature,
            defaults={
                "kind": item.kind,
                "description": item.description,
                "details": item.details,
                "count": item.count,
                "confidence": item.confidence,
                "first_seen": item.first_seen,
                "last_seen": item.last_seen,
            },
        )
        proposed = proposal(item) if suggest else None
        if proposed is None or await Suggestion.exists(pattern=pattern):
            continue
        try:
            suggestion = await Suggestion.create(
                user_id=user_id,
                pattern=pattern,
                title=proposed["name"],
                description=item.description,
                proposed_workflow=proposed,
            )
        except IntegrityError:
            continue  # a concurrent analysis made it first
        created += 1
        await pubsub.publish(rt, user_id, SUGGESTIONS_TOPIC, {"id": str(suggestion.id)})
    if found:
        await rt.cache.invalidate(str(user_id))
    logger.info("analysis of %s: %d patterns, %d new suggestions", user_id, len(found), created)
    return {"patterns": len(found), "suggestions": created}


async def users_with_recent_events(since: datetime) -> list[UUID]:
    rows = await Event.filter(created_at__gte=since).distinct().values_list("user_id", flat=True)
    return [UUID(str(row)) for row in rows]
