"""Imports flow one way: web -> the domain packages -> infra -> models (docs/ARCHITECTURE.md).

A domain rule that imported a view, or the database layer that imported a domain rule, would
tie the layers back together; this test names the import that does it. Inside web, each
audience's blueprint package stands on the shared modules (petitions/web/*.py), never on
another audience's package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "petitions"
# The shared ground every layer may stand on.
BASE = {"config", "extensions", "clock", "exceptions"}
RANK = {
    "models": 0,
    "infra": 1,
    "signatures": 2,
    "counting": 2,
    "campaigns": 2,
    "moderation": 2,
    "accounts": 2,
    "transparency": 2,
    "webhooks": 2,
    "web": 3,
}
# The entry points wire everything together and may import anything. The log verifier is a command
# too; tests/transparency/test_standalone.py holds it to the standard library, cryptography and infra.tlog.
ENTRY = {"__init__", "cli", "worker", "verify"}


def _part(module: str) -> str | None:
    """The top-level part of petitions a dotted module name is in, or None outside petitions."""
    parts = module.split(".")
    return parts[1] if parts[0] == "petitions" and len(parts) > 1 else None


def _imports(path: Path) -> list[str]:
    """Every petitions module a file imports (each name of `from petitions import a, b` counted)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "petitions":
                found += [f"petitions.{alias.name}" for alias in node.names]
            elif node.module.startswith("petitions."):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("petitions.")]
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0].removesuffix(".py") not in ENTRY)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_its_own_layer_or_below(path: Path) -> None:
    here = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    wrong = []
    for module in _imports(path):
        there = _part(module)
        if there is None or there in BASE or there == here:
            continue
        if here in BASE:
            if there != "models":
                wrong.append(module)  # the shared ground stands on nothing but the models
        elif there in ENTRY or RANK.get(there, 99) > RANK[here]:
            wrong.append(module)
    assert not wrong, f"petitions/{path.relative_to(PACKAGE)} ({here}) imports upward: {wrong}"


def test_only_the_entry_points_and_the_shared_ground_are_loose_modules() -> None:
    loose = {p.stem for p in PACKAGE.glob("*.py")}
    assert loose <= ENTRY | BASE, loose - (ENTRY | BASE)
    assert len(loose) <= 8


WEB = PACKAGE / "web"


def _blueprint_packages() -> set[str]:
    """The blueprint packages: the folders of petitions/web (its loose modules are what they share)."""
    return {p.name for p in WEB.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def _blueprint_of(module: str) -> str | None:
    """The blueprint package a dotted module name is in, or None outside them."""
    parts = module.split(".")
    if parts[:2] != ["petitions", "web"] or len(parts) < 3:
        return None
    return parts[2] if parts[2] in _blueprint_packages() else None


def _web_imports(path: Path) -> list[str]:
    """Every petitions module a file imports, `from petitions.web import public` counted as petitions.web.public."""
    found = _imports(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "petitions.web" and node.level == 0:
            found += [f"petitions.web.{alias.name}" for alias in node.names]
    return found


@pytest.mark.parametrize("path", sorted(WEB.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_blueprint_imports_no_other_blueprint(path: Path) -> None:
    """Each audience's views stand on the shared web modules (petitions/web/*.py), never on another
    audience's package; the shared modules stand on no blueprint at all."""
    inside = path.relative_to(WEB).parts
    here = inside[0] if len(inside) > 1 else None  # None: a shared module at petitions/web/*.py
    wrong = [m for m in _web_imports(path) if (there := _blueprint_of(m)) is not None and there != here]
    where = f"the {here} blueprint" if here else "a shared web module"
    assert not wrong, f"petitions/{path.relative_to(PACKAGE)} ({where}) imports another blueprint: {wrong}"


def test_the_blueprint_packages_are_the_audiences() -> None:
    """Every folder of petitions/web is one audience's blueprint (docs/ARCHITECTURE.md); what they share
    is a loose module beside them, so a new folder is a new audience and belongs in this list."""
    assert _blueprint_packages() == {"public", "auth", "account", "campaign", "press", "admin"}
