"""Tortoise models: one module per feature. `MODEL_MODULES` is what the ORM and aerich load."""

from __future__ import annotations

MODEL_MODULES = [
    "models.users",
    "models.events",
    "models.patterns",
    "models.workflows",
    "models.audit",
    "models.flags",
    "models.imports",
]
