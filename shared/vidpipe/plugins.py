"""Where services plug into the platform: Python entry points, so `vidpipe` never imports a service.

- `vidpipe.stages`: a `StageSpec` per stage (its handler factory, engine concurrency, shutdown grace);
- `vidpipe.commands`: typer command functions mounted on the `vidpipe` command line (`gateway`,
  `moderate`, `transcribe`, `summarize`, ...).

A service that is not installed simply has no entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from vidpipe.settings import Stage

if TYPE_CHECKING:
    # Not at run time: every `vidpipe` command imports this module, and the stage machinery (S3, SQS,
    # Postgres clients) is most of a second of imports that only a worker needs.
    from vidpipe.stage import HandlerFactory, StageSpec

STAGE_GROUP = "vidpipe.stages"
COMMAND_GROUP = "vidpipe.commands"


class StageNotInstalledError(LookupError):
    pass


def load_stage(stage: Stage) -> StageSpec:
    from vidpipe.stage import StageSpec

    for entry in entry_points(group=STAGE_GROUP):
        if entry.name == stage:
            spec = entry.load()
            if not isinstance(spec, StageSpec) or spec.name != stage:
                raise TypeError(f"entry point {entry.value} is not the StageSpec of {stage!r}")
            return spec
    raise StageNotInstalledError(f"no installed package provides the {stage!r} stage ({STAGE_GROUP} entry point)")


def load_handler_factory(target: str) -> HandlerFactory:
    """`module:attribute` of a handler factory, e.g. a test handler run in place of a stage's own."""
    module_name, _, attribute = target.partition(":")
    factory: HandlerFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


def installed_commands() -> dict[str, Callable[..., Any]]:
    """Command name → function; a command whose package fails to import is left out."""
    commands: dict[str, Callable[..., Any]] = {}
    for entry in entry_points(group=COMMAND_GROUP):
        try:
            commands[entry.name] = entry.load()
        except ImportError:
            continue
    return commands
