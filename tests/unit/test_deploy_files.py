"""The deployment files run what the platform needs: the sweeper next to the workers, with a real command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.core import TyperGroup
from typer.main import get_command

from vidpipe.cli import app

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return loaded


def test_compose_runs_a_sweeper_with_the_database_and_queues_the_workers_use() -> None:
    services = _compose()["services"]
    sweeper = services["sweeper"]
    assert sweeper["command"] == ["sweep"]
    cli = get_command(app)
    assert isinstance(cli, TyperGroup) and sweeper["command"][0] in cli.commands
    assert sweeper.get("profiles") is None, "a plain `docker compose up` must include the sweeper"
    for key in ("DB_URL", "AWS_ENDPOINT_URL", "AWS_QUEUE_PREFIX"):
        assert sweeper["environment"][key] == services["moderator"]["environment"][key]
    assert sweeper["restart"] == "unless-stopped"


def test_terraform_runs_the_sweeper_as_its_own_service() -> None:
    gateway_module = (REPO / "terraform/modules/gateway/main.tf").read_text()
    assert 'resource "aws_ecs_service" "sweeper"' in gateway_module
    assert 'command                = ["sweep"]' in gateway_module
    assert "task_role_arn            = var.sweeper_task_role_arn" in gateway_module
