"""The shape of the package: small modules, short functions, one-way imports, public homes."""

from __future__ import annotations

import ast
import importlib
import pathlib
import shutil
import subprocess

import pytest

PACKAGE = pathlib.Path(__file__).parents[1] / "jlstm"
MODULES = sorted(PACKAGE.rglob("*.py"))
PUBLIC = ["jlstm", "jlstm.convert", "jlstm.train", "jlstm.flax"]
MAX_MODULE_LINES = 300
MAX_BODY_LINES = 60


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The lines of a function's body, its docstring left out."""
    body = node.body
    if ast.get_docstring(node) is not None:
        body = body[1:]
    return node.end_lineno - body[0].lineno + 1 if body else 0


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_modules_and_functions_are_short(path):
    lines = path.read_text().splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{path}: {len(lines)} lines"
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert body_lines(node) <= MAX_BODY_LINES, f"{path}:{node.lineno} {node.name}"


def only_reexports(tree: ast.Module) -> bool:
    """Whether a module holds only a docstring, imports, `__all__` and import guards."""
    for node in tree.body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        exports = isinstance(node, ast.Assign) and all(
            isinstance(target, ast.Name) and target.id.startswith("__") for target in node.targets
        )
        guard = isinstance(node, ast.Try) and all(
            isinstance(inner, ast.Import | ast.ImportFrom) for inner in node.body
        )
        if not (docstring or exports or guard or isinstance(node, ast.Import | ast.ImportFrom)):
            return False
    return True


@pytest.mark.parametrize("path", [p for p in MODULES if p.name == "__init__.py"], ids=str)
def test_package_inits_only_reexport(path):
    assert only_reexports(ast.parse(path.read_text())), path


@pytest.mark.parametrize("name", PUBLIC)
def test_public_objects_report_their_public_module(name):
    module = importlib.import_module(name)
    for attribute in module.__all__:
        assert getattr(module, attribute).__module__ == name, attribute


def test_imports_run_one_way():
    """The import-linter contract of pyproject.toml: the core never imports upwards."""
    command = shutil.which("lint-imports")
    if command is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    done = subprocess.run(
        [command], cwd=PACKAGE.parent, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
