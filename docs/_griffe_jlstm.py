"""A griffe extension that renders jlstm's docstrings as they are written.

mkdocstrings reads the docstrings of `jlstm/` statically; this extension only changes how
three of their conventions reach Markdown, never their text:

- `Example:` sections (Google style's singular name) are read as griffe's `Examples:`
  section, so their doctests render as Python code instead of quoted text;
- reStructuredText math, `.. math::` blocks and the inline `:math:` role, becomes
  `$$ ... $$` and `$ ... $` for MathJax (`pymdownx.arithmatex`);
- an argument line that names several arguments and wraps before its colon
  (`a, b,` / `c: as in ...`) is joined into one line, the form griffe's parser reads;
- a field of a `NamedTuple` with a trailing comment (`weight_ih: jax.Array  # (4*H, I)`)
  gets that comment as its docstring, so the fields render with their shapes.
"""

from __future__ import annotations

import io
import re
import textwrap
import tokenize
from typing import Any

import griffe

INLINE_MATH = re.compile(r":math:`([^`]*)`")
SECTION = re.compile(r"^(\s*)Example:\s*$")
SECTION_HEADER = re.compile(r"^\s*(Args|Arguments|Attributes):\s*$")
SEVERAL_NAMES = re.compile(r"^(\w+(?:, \w+)+):\s*(.*)$")


def block_math(lines: list[str]) -> list[str]:
    """`.. math::` blocks (with their indented body, or on one line) as `$$` blocks."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped.startswith(".. math::"):
            out.append(line)
            index += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        body = [stripped[len(".. math::") :].strip()]
        index += 1
        while index < len(lines) and (
            not lines[index].strip() or lines[index].startswith(indent + " ")
        ):
            body.append(lines[index].strip())
            index += 1
        while body and not body[-1]:
            body.pop()
        tex = "\n".join(part for part in body if part)
        if "&" in tex or "\\\\" in tex:
            tex = "\\begin{aligned}\n" + tex + "\n\\end{aligned}"
        out += [indent + "$$", *textwrap.indent(tex, indent).splitlines(), indent + "$$", ""]
    return out


def names_of_items(lines: list[str]) -> list[str]:
    """In `Args:` / `Attributes:`, split an item naming several entries into one per name.

    `a, b,` + indented `c: text` (or `a, b, c: text` on one line) becomes `a: text`,
    `b: text` and `c: text`, each followed by the item's further lines.
    """
    out: list[str] = []
    item_indent = None
    index = 0
    while index < len(lines):
        line = lines[index]
        indent = len(line) - len(line.lstrip())
        if SECTION_HEADER.match(line):
            item_indent = -1
        elif item_indent == -1 and line.strip():
            item_indent = indent
        elif line.strip() and indent < (item_indent or 0):
            item_indent = None
        if indent != item_indent or not line.strip():
            out.append(line)
            index += 1
            continue
        deeper = " " * (indent + 1)
        text, end = line.strip(), index + 1
        while text.endswith(",") and end < len(lines) and lines[end].startswith(deeper):
            text, end = text + " " + lines[end].strip(), end + 1
        several = SEVERAL_NAMES.match(text)
        if not several:
            out.append(line)
            index += 1
            continue
        body = []
        while end < len(lines) and lines[end].startswith(deeper):
            body.append(lines[end])
            end += 1
        for name in several.group(1).split(", "):
            out += [f"{' ' * indent}{name}: {several.group(2)}", *body]
        index = end
    return out


def normalise(text: str) -> str:
    """The docstring, with the three conventions above in the form griffe renders."""
    lines = [SECTION.sub(r"\1Examples:", line) for line in text.splitlines()]
    lines = names_of_items(block_math(lines))
    return INLINE_MATH.sub(lambda match: f"${match.group(1)}$", "\n".join(lines))


def trailing_comment(source: str) -> str | None:
    """The text of the `#` comment ending a line of source, if any."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    comments = [token.string for token in tokens if token.type == tokenize.COMMENT]
    return comments[-1].lstrip("#").strip() if comments else None


class JlstmDocstrings(griffe.Extension):
    """Apply `normalise` to every docstring and document `NamedTuple` fields."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = normalise(obj.docstring.value)
        parent = obj.parent
        if (
            obj.is_attribute
            and obj.docstring is None
            and isinstance(parent, griffe.Class)
            and any(str(base).endswith("NamedTuple") for base in parent.bases)
        ):
            comment = trailing_comment(obj.lines[0]) if obj.lines else None
            if comment:
                obj.docstring = griffe.Docstring(comment, parent=obj)
