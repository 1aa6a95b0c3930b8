"""The layout of tests/ (issue 16 item 7): test modules sit in subject folders (codec/, pcap/,
cli/, interop/<oracle>/), what they share sits in tests/support/, and no test module imports
another test module (importing one runs its module-level set-up and couples two subjects)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SUBJECTS = ("codec", "pcap", "cli", "interop")


def _test_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if "data" not in p.relative_to(TESTS).parts
                  and "regressions" not in p.relative_to(TESTS).parts)


def _is_test_module_name(dotted: str) -> bool:
    return any(part.startswith("test_") for part in dotted.split("."))


def _imports_of_test_modules(path: Path) -> list[str]:
    """Every import in ``path`` (top level or inside functions) that names a test module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if _is_test_module_name(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if _is_test_module_name(module):
                found.append(module)
            else:  # `from tests.codec import test_x` or `from . import test_x`
                found += [f"{module}.{a.name}" if node.module else module + a.name
                          for a in node.names if a.name.startswith("test_")]
    return [f"{path.relative_to(TESTS.parent)}:{name}" for name in found]


def test_no_test_module_imports_another_test_module():
    offenders = [hit for p in _test_modules() + sorted((TESTS / "support").rglob("*.py"))
                 for hit in _imports_of_test_modules(p)]
    assert not offenders, ("move what is shared into tests/support/ and import it from there: "
                           + ", ".join(offenders))


def test_test_modules_sit_in_a_subject_folder():
    misplaced = [str(p.relative_to(TESTS)) for p in _test_modules()
                 if p.parent == TESTS and p != Path(__file__).resolve()
                 or p.parent != TESTS and p.relative_to(TESTS).parts[0] not in SUBJECTS]
    assert not misplaced, f"put these under one of tests/{{{','.join(SUBJECTS)}}}/: {misplaced}"


def test_every_test_folder_is_a_package():
    """Without __init__.py pytest imports two test files of the same name as one module."""
    folders = {p.parent for p in _test_modules()} | {TESTS / "support"}
    for folder in folders:
        for d in [folder, *folder.relative_to(TESTS).parents]:
            d = TESTS / d if not d.is_absolute() else d
            assert (d / "__init__.py").exists(), f"{d.relative_to(TESTS.parent)} has no __init__.py"
