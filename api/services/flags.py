"""Changing feature flags (admins only; audited). Reading them: api/resilience/flags.py."""

from __future__ import annotations

from api.resilience.flags import DESCRIPTIONS, KNOWN, FeatureFlags
from api.services import audit
from api.services.errors import ValidationFailed
from models.flags import FeatureFlag
from models.users import User


async def set_flag(flags: FeatureFlags, actor: User, name: str, enabled: bool) -> FeatureFlag:
    if name not in KNOWN:
        raise ValidationFailed(f"Unknown flag {name!r}; known: {', '.join(sorted(KNOWN))}.", "name")
    before = await FeatureFlag.get_or_none(name=name)
    row, _ = await FeatureFlag.update_or_create(
        name=name,
        defaults={"enabled": enabled, "description": DESCRIPTIONS[name], "updated_by": actor},
    )
    await audit.record(
        actor=actor,
        owner=None,
        action="feature_flag.set",
        target_type="feature_flag",
        target_id=name,
        before={"enabled": before.enabled if before else True},
        after={"enabled": enabled},
    )
    flags.forget()
    return row
