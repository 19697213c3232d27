"""The dependency rules of the code base, checked on its source: the platform imports no service, and no
package imports in a cycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from vidpipe.plugins import load_stage
from vidpipe.stage import StageSpec

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "vidpipe": ROOT / "shared" / "vidpipe",
    "vidpipe_gateway": ROOT / "services" / "gateway" / "vidpipe_gateway",
    "vidpipe_moderator": ROOT / "services" / "moderator" / "vidpipe_moderator",
    "vidpipe_transcriber": ROOT / "services" / "transcriber" / "vidpipe_transcriber",
    "vidpipe_summarizer": ROOT / "services" / "summarizer" / "vidpipe_summarizer",
}
SERVICES = set(PACKAGES) - {"vidpipe"}


def module_name(package: str, path: Path) -> str:
    relative = path.relative_to(PACKAGES[package]).with_suffix("")
    parts = [package, *relative.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, *, top_level_only: bool) -> set[str]:
    """Modules a file imports; with top_level_only, not those inside functions or `if TYPE_CHECKING`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.iter_child_nodes(tree) if top_level_only else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def all_modules() -> dict[str, Path]:
    return {module_name(p, f): f for p, d in PACKAGES.items() for f in d.rglob("*.py")}


def test_the_platform_imports_no_service_anywhere_not_even_lazily() -> None:
    offenders = {
        module_name("vidpipe", f): sorted(i for i in imports_of(f, top_level_only=False) if i.split(".")[0] in SERVICES)
        for f in PACKAGES["vidpipe"].rglob("*.py")
    }
    assert {m: i for m, i in offenders.items() if i} == {}


def test_no_service_imports_another_service() -> None:
    offenders: dict[str, list[str]] = {}
    for package in SERVICES:
        for f in PACKAGES[package].rglob("*.py"):
            other = sorted(i for i in imports_of(f, top_level_only=False) if i.split(".")[0] in SERVICES - {package})
            if other:
                offenders[module_name(package, f)] = other
    assert offenders == {}


def test_no_module_import_cycle() -> None:
    modules = all_modules()
    graph = {
        name: {i for i in imports_of(path, top_level_only=True) if i in modules and i != name}
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


@pytest.mark.parametrize("stage", ["moderate", "transcribe", "summarize"])
def test_every_stage_is_plugged_in_through_its_entry_point(stage: str) -> None:
    spec = load_stage(stage)  # type: ignore[arg-type]
    assert isinstance(spec, StageSpec)
    assert spec.name == stage
    assert spec.max_concurrency >= 1
    assert spec.shutdown_grace_s >= 60


def test_every_named_query_is_used_somewhere() -> None:
    sql = (PACKAGES["vidpipe"] / "db" / "queries.sql").read_text(encoding="utf-8")
    names = re.findall(r"^-- name: (\w+)", sql, flags=re.MULTILINE)
    code = "\n".join(f.read_text(encoding="utf-8") for d in PACKAGES.values() for f in d.rglob("*.py"))
    assert [n for n in names if f"queries.{n}" not in code] == []


def test_the_env_example_lists_every_setting_as_the_settings_classes_define_it() -> None:
    import subprocess
    import sys

    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "env_example.py"), "--check"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
