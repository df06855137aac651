"""The documentation site: every Python block of every page runs, the API reference is whole.

Each page under `docs/` is one reader's session: its ```python blocks run in order in one
fresh namespace. A block that must not run (a shell command, a multi-process launch, printed
output) is fenced as ```bash or ```text; any other fence fails, so no Python block is skipped.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import re
import subprocess
import sys
import warnings

import jax
import pytest

ROOT = pathlib.Path(__file__).parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
PUBLIC = ["jlstm", "jlstm.convert", "jlstm.train", "jlstm.flax"]
RUN, SHOWN = {"python"}, {"bash", "text"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
ENTRY = re.compile(r"^:::\s+(\S+)\s*$", re.MULTILINE)


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """`(line, language, code)` of every fenced block, indented ones included."""
    blocks, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, marker, language = opening.groups()
        start, body = index + 1, []
        index += 1
        while index < len(lines) and lines[index].strip() != marker:
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        assert index < len(lines), f"line {start}: a fence that never closes"
        blocks.append((start, language, "\n".join(body) + "\n"))
        index += 1
    return blocks


def page_id(page: pathlib.Path) -> str:
    return str(page.relative_to(DOCS))


def python_blocks(page: pathlib.Path) -> list[tuple[int, str]]:
    """`(line, code)` of the page's blocks that run."""
    return [
        (line, code) for line, language, code in fenced_blocks(page.read_text()) if language in RUN
    ]


def test_every_page_is_found():
    names = {page_id(page) for page in PAGES}
    assert {"index.md", "getting-started.md", "api/core.md"} <= names
    assert sum(len(python_blocks(page)) for page in PAGES) >= 20


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_fences_are_python_or_shown(page):
    for line, language, _ in fenced_blocks(page.read_text()):
        assert language in RUN | SHOWN, (
            f"{page_id(page)}:{line}: fence language {language!r}; use python (run) "
            f"or one of {sorted(SHOWN)} (shown, not run)"
        )


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_python_blocks_run_in_order(page, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.chdir(tmp_path)  # anything a block writes stays out of the repository
    namespace = {"__name__": "__main__"}
    # A reader's session: default rank promotion, and Keras' NumPy 2 deprecation is theirs.
    with jax.numpy_rank_promotion("allow"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for line, code in python_blocks(page):
            # Compiled with the page's line numbers, so a traceback points into the page.
            exec(compile("\n" * line + code, str(page), "exec"), namespace)


def api_entries() -> list[str]:
    """The objects of every `::: name` entry of the API reference pages."""
    pages = sorted((DOCS / "api").glob("*.md"))
    return [name for page in pages for name in ENTRY.findall(page.read_text())]


@pytest.mark.parametrize("module_name", PUBLIC)
def test_api_reference_has_every_public_name(module_name):
    module = importlib.import_module(module_name)
    entries = set(api_entries())
    missing = [name for name in module.__all__ if f"{module_name}.{name}" not in entries]
    assert not missing, f"docs/api/*.md has no `::: {module_name}.<name>` for {missing}"


def public_names() -> list[str]:
    """`module.name` for every name in the `__all__` of the public packages."""
    return [
        f"{module_name}.{name}"
        for module_name in PUBLIC
        for name in importlib.import_module(module_name).__all__
    ]


def test_api_reference_names_only_public_objects():
    public = set(PUBLIC) | set(public_names())
    entries = api_entries()
    assert sorted(set(entries) - public) == [], "entries that are no public name"
    assert len(entries) == len(set(entries)), "an object rendered twice"


@pytest.mark.slow
def test_site_builds_strictly_with_an_entry_per_public_name(tmp_path):
    pytest.importorskip("mkdocstrings_handlers.python", reason="needs pip install -e '.[docs]'")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # no MkDocs 2.0 banner
    )
    assert build.returncode == 0, build.stdout + build.stderr
    html = "".join(page.read_text() for page in (tmp_path / "site" / "api").rglob("*.html"))
    missing = [name for name in public_names() if f'id="{name}"' not in html]
    assert not missing, f"no rendered entry for {missing}"
