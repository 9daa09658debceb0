"""Report sections as data: the schema of ``results["sections"]`` and helpers to build them.

A section is plain data (no markup): ``report.html`` is rendered from it by a Jinja2 template with autoescape
(:mod:`voxquant.report.html`), and the same data can feed any other renderer (Markdown, a notebook, ...).

Schema (JSON)::

    {"title": str,
     "blocks": [
        {"kind": "text",    "text": str},
        {"kind": "warning", "text": str},
        {"kind": "list",    "items": [str, ...]},
        {"kind": "table",   "columns": [str, ...], "rows": [[cell, ...], ...],
                            "highlight": [[row, col], ...],      # optional, 0-based; col = -1: the whole row
                            "caption": str},                     # optional
        {"kind": "figure",  "name": str, "data": {...}, "caption": str}   # drawn at render time by name
     ]}

``cell`` is ``str | int | float | bool | None`` (``None`` shows as a dash). Text may use two inline marks,
rendered by the template after escaping: ``**bold**`` and ```code```. Any HTML tag in any string is rejected
(:class:`SectionError`), so ``results.json`` never carries markup.

Figures are stored as the *data* they plot; ``name`` selects the drawing function at render time
(:data:`FIGURES` in :mod:`voxquant.report.html`, e.g. ``"layer_sensitivity"``). An unknown name renders as a
warning, never as an error.

Build sections with the helpers (they validate)::

    section("Int8 kernel check", [
        text("Each static int8 variant runs twice: ..."),
        table(["variant", "QDQ acc %", "kernel acc %"], [["int8_static_minmax", "91.2", "84.0"]],
              highlight=[[0, 2]], caption="amber: kernels disagree with the QDQ arithmetic"),
    ])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voxquant.errors import VoxquantError

__all__ = [
    "Section", "SectionError", "TableBlock", "figure", "find_markup", "is_legacy_section", "list_block", "section",
    "table", "text", "validate_section", "warning",
]  # fmt: skip

#: An HTML/XML tag, comment or entity-free doctype: ``<b>``, ``</p>``, ``<img ...>``, ``<!-- -->``. Plain
#: comparisons such as ``p < 0.05`` or ``a<b`` followed by a space are not tags.
_TAG = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>|<!--|<!\w")
#: Entities (``&amp;``, ``&#9888;``) are markup too: the template escapes, so they would show literally.
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);")

Cell = Union[str, int, float, bool, None]


class SectionError(VoxquantError, ValueError):
    """A report section does not follow the schema (the message names the section and the field)."""


def _no_markup(s: str) -> str:
    if _TAG.search(s) or _ENTITY.search(s):
        raise ValueError(f"markup is not allowed in report sections (plain text only): {s[:80]!r}")
    return s


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextBlock(_Block):
    """A paragraph of plain text (``**bold**`` and ```code``` allowed)."""

    kind: Literal["text"] = "text"
    text: str

    @field_validator("text")
    @classmethod
    def _plain(cls, v):
        return _no_markup(v)


class WarningBlock(_Block):
    """A paragraph shown with a WARNING badge."""

    kind: Literal["warning"] = "warning"
    text: str

    @field_validator("text")
    @classmethod
    def _plain(cls, v):
        return _no_markup(v)


class ListBlock(_Block):
    """A bulleted list of plain-text items."""

    kind: Literal["list"] = "list"
    items: list[str]

    @field_validator("items")
    @classmethod
    def _plain(cls, v):
        return [_no_markup(x) for x in v]


class TableBlock(_Block):
    """A table: ``columns`` (headers), ``rows`` (each as long as ``columns``), optional ``highlight`` cells
    (``[row, col]``, 0-based into ``rows``; ``col = -1`` highlights the whole row) and ``caption``."""

    kind: Literal["table"] = "table"
    columns: list[str]
    rows: list[list[Cell]]
    highlight: list[tuple[int, int]] = Field(default_factory=list)
    caption: str = ""

    @field_validator("columns", "caption")
    @classmethod
    def _plain(cls, v):
        return [_no_markup(x) for x in v] if isinstance(v, list) else _no_markup(v)

    @model_validator(mode="after")
    def _shape(self):
        for i, r in enumerate(self.rows):
            if len(r) != len(self.columns):
                raise ValueError(f"rows[{i}] has {len(r)} cells, columns has {len(self.columns)}")
            for c in r:
                if isinstance(c, str):
                    _no_markup(c)
        for r, c in self.highlight:
            if not (0 <= r < len(self.rows)) or not (-1 <= c < len(self.columns)):
                raise ValueError(f"highlight [{r}, {c}] is outside the {len(self.rows)} x {len(self.columns)} table")
        return self


class FigureBlock(_Block):
    """A figure stored as its data; ``name`` picks the drawing function when the report is rendered."""

    kind: Literal["figure"] = "figure"
    name: str
    data: dict[str, Any] = Field(default_factory=dict)
    caption: str = ""

    @field_validator("caption")
    @classmethod
    def _plain(cls, v):
        return _no_markup(v)


Block = Annotated[Union[TextBlock, WarningBlock, ListBlock, TableBlock, FigureBlock], Field(discriminator="kind")]


class Section(_Block):
    """One extra report section: a title and its blocks (see the module docstring)."""

    title: str
    blocks: list[Block]

    @field_validator("title")
    @classmethod
    def _plain(cls, v):
        return _no_markup(v)


def is_legacy_section(s: Any) -> bool:
    """``True`` for the pre-schema form ``{"title": str, "html": str}``: no producer writes it any more; it is read
    only to re-render results.json files written before sections became data (e.g. ``docs/results/default``)."""
    return isinstance(s, Mapping) and "html" in s and "blocks" not in s


def validate_section(s: Any, where: str = "section") -> dict:
    """Validate one section and return it as a plain JSON-ready dict (defaults filled in).

    Raises:
        SectionError: ``s`` does not follow the schema or holds markup; the message names ``where`` and the field.
    """
    try:
        return Section.model_validate(s).model_dump(mode="json")
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(x) for x in e["loc"])
        raise SectionError(f"{where}.{loc}: {e['msg']}") from None


def section(title: str, blocks: Iterable[Mapping]) -> dict:
    """A validated section dict (see :func:`validate_section`)."""
    return validate_section({"title": title, "blocks": list(blocks)}, where=f"section {title!r}")


def text(s: str) -> dict:
    """A text block (plain text; ``**bold**`` and ```code``` allowed)."""
    return {"kind": "text", "text": s}


def warning(s: str) -> dict:
    """A warning block."""
    return {"kind": "warning", "text": s}


def list_block(items: Iterable[str]) -> dict:
    """A bulleted list block."""
    return {"kind": "list", "items": [str(x) for x in items]}


def table(columns: Sequence[str], rows: Iterable[Sequence[Cell]], highlight: Iterable[Sequence[int]] = (),
          caption: str = "") -> dict:  # fmt: skip
    """A table block: ``columns`` headers, ``rows`` of cells (``str | int | float | bool | None``), ``highlight``
    ``[[row, col], ...]`` (0-based, ``col = -1`` = whole row), ``caption`` (plain text)."""
    return {"kind": "table", "columns": list(columns), "rows": [list(r) for r in rows],
            "highlight": [list(h) for h in highlight], "caption": caption}  # fmt: skip


def figure(name: str, data: Mapping, caption: str = "") -> dict:
    """A figure block drawn at render time by the figure function registered as ``name``."""
    return {"kind": "figure", "name": name, "data": dict(data), "caption": caption}


def find_markup(obj: Any, path: str = "$") -> list[str]:
    """JSON paths of every string in ``obj`` (nested dicts/lists) that holds an HTML tag or entity.

    Used to check that a ``results.json`` carries no markup: ``find_markup(json.load(f)) == []``.
    """
    out: list[str] = []
    if isinstance(obj, str):
        if _TAG.search(obj) or _ENTITY.search(obj):
            out.append(path)
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            out += find_markup(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += find_markup(v, f"{path}[{i}]")
    return out
