"""Every setting is documented in .env.example, and the file itself loads."""

from __future__ import annotations

import re
from pathlib import Path

from api.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))
    assert {name.upper() for name in Settings.model_fields} <= documented


def test_env_example_loads_as_is() -> None:
    settings = load_settings(_env_file=ROOT / ".env.example")
    assert settings.cors_origins == ["http://localhost:5173", "http://127.0.0.1:5173"]
