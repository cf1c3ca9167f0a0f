"""The package's shape (docs/architecture.md): layers checked by import-linter in .ci/run; here what it does not
check: no package-internal import inside a function (the way import cycles hide), no module over MAX_LINES lines."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jaqg"
MAX_LINES = 400
MODULES = sorted(PACKAGE.rglob("*.py"))


def package_imports_inside_functions(tree: ast.Module) -> list[int]:
    top = {id(n) for n in tree.body}
    return [n.lineno for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and id(n) not in top
            and (n.level > 0 or (n.module or "").split(".")[0] == "jaqg")]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_package_imports_are_at_module_level(path):
    assert package_imports_inside_functions(ast.parse(path.read_text(encoding="utf-8"))) == []


def test_the_check_finds_an_import_inside_a_function():
    tree = ast.parse("import os\nfrom .core import io\n\ndef f():\n    from .data import formats\n    import json\n")
    assert package_imports_inside_functions(tree) == [5]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_is_over_the_line_limit(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES
