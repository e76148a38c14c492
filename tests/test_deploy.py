"""docker-compose.yml and Dockerfile can't run here (no Docker engine), so check their shape:
every command is a real entry point of the package, dependencies wait for health, data lives
in named volumes and required secrets fail fast."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from api.__main__ import cli

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
COMMANDS = set(get_command(cli).commands)


def _entry_point(command: list[str]) -> str:
    assert command[:3] == ["python", "-m", "api"], command
    assert command[3] in COMMANDS, f"{command[3]!r} is not a `python -m api` command"
    return command[3]


def test_the_expected_services_exist() -> None:
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(SERVICES)


@pytest.mark.parametrize(
    ("service", "command"), [("migrate", "migrate"), ("api", "serve"), ("worker", "worker")]
)
def test_app_services_run_real_entry_points(service: str, command: str) -> None:
    assert _entry_point(SERVICES[service]["command"]) == command


def test_worker_healthcheck_is_a_real_command() -> None:
    test = SERVICES["worker"]["healthcheck"]["test"]
    assert test[0] == "CMD" and _entry_point(test[1:]) == "worker" and "--check" in test


def test_dockerfile_default_command_is_serve() -> None:
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M)
    assert cmd is not None
    assert _entry_point(yaml.safe_load(cmd.group(1))) == "serve"


def test_services_wait_for_healthy_dependencies() -> None:
    for name in ("postgres", "redis", "api", "worker"):
        assert "healthcheck" in SERVICES[name], name
    for name in ("api", "worker"):
        depends = SERVICES[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_api_and_worker_are_scalable() -> None:
    for name in ("api", "worker"):
        assert "container_name" not in SERVICES[name]
    # A fixed host port would collide when scaled; only the container port is given.
    assert all(":" not in str(port) for port in SERVICES["api"].get("ports", []))


def test_data_lives_in_named_volumes() -> None:
    named = set(COMPOSE["volumes"])
    assert SERVICES["postgres"]["volumes"][0].split(":")[0] in named
    for name in ("api", "worker"):
        assert "uploads:/data/uploads" in SERVICES[name]["volumes"]
    assert "uploads" in named


def test_required_secrets_fail_fast() -> None:
    env = SERVICES["api"]["environment"]
    for key in ("SECRET_KEY", "CORS_ORIGINS", "SMTP_URL", "PUBLIC_URL"):
        assert re.fullmatch(r"\$\{" + key + r":\?.+\}", env[key]), key
    assert ":?" in env["DATABASE_URL"]
    assert env["ENVIRONMENT"] == "production"
    assert SERVICES["worker"]["environment"] == env
