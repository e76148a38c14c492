"""`python -m schema`: write the SDL to schema.graphql, which is committed so SPA clients can
generate types from it (a test fails when it drifts from the code)."""

from __future__ import annotations

from pathlib import Path

from schema import build_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def sdl() -> str:
    return build_schema(production=False).as_str() + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(sdl())
