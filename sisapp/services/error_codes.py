"""The error-code reference (docs/error-codes.md) as a page and as a lookup.

The document is the single place every area lists its codes (OR1xx from the client, the
sync's codes beside them), so a failed run's "what to do" is read from it rather than
from a second copy. The converter knows only what that document uses: headings,
paragraphs, pipe tables and `code` spans; everything is escaped first, so the page can
never carry markup from the file.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup, escape

DOC_PATH = Path(__file__).resolve().parent.parent.parent / "docs" / "error-codes.md"
_CODE_RE = re.compile(r"^[A-Z]{1,4}\d{2,4}$")


@dataclass(frozen=True)
class CodeInfo:
    code: str
    name: str
    meaning: str
    action: str

    @property
    def anchor(self) -> str:
        return self.code.lower()


def _inline(text: str) -> str:
    """Escape, then turn `x` into <code> and **x** into <strong>."""
    out = str(escape(text))
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _is_rule(line: str) -> bool:
    return bool(re.fullmatch(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?", line.strip()))


def _table(rows: list[str]) -> str:
    head, body = _cells(rows[0]), [_cells(r) for r in rows[1:] if not _is_rule(r)]
    html = ['<div class="table-wrap"><table class="codes"><thead><tr>']
    html += [f'<th scope="col">{_inline(c)}</th>' for c in head]
    html.append("</tr></thead><tbody>")
    for cells in body:
        first = cells[0] if cells else ""
        row_id = f' id="{escape(first.lower())}"' if _CODE_RE.match(first) else ""
        html.append(f"<tr{row_id}>" + "".join(f"<td>{_inline(c)}</td>" for c in cells) + "</tr>")
    html.append("</tbody></table></div>")
    return "".join(html)


def markdown_to_html(text: str) -> Markup:
    """Headings, paragraphs and pipe tables; the top-level heading is dropped (the page has one)."""
    blocks: list[str] = []
    paragraph: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append("<p>" + _inline(" ".join(paragraph)) + "</p>")
            paragraph.clear()
        if table:
            blocks.append(_table(table))
            table.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("|"):
            if paragraph:
                flush()
            table.append(line)
            continue
        if table:
            flush()
        if not line.strip():
            flush()
        elif heading := re.match(r"^(#{1,6})\s+(.*)$", line):
            flush()
            level = len(heading.group(1))
            if level > 1:
                blocks.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        else:
            paragraph.append(line.strip())
    flush()
    return Markup("\n".join(blocks))


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> tuple[Markup, dict[str, CodeInfo]]:
    text = Path(path).read_text(encoding="utf-8")
    codes: dict[str, CodeInfo] = {}
    for line in text.splitlines():
        if not line.startswith("|") or _is_rule(line):
            continue
        cells = _cells(line)
        if len(cells) >= 4 and _CODE_RE.match(cells[0]):
            name = cells[1].strip("`")
            codes[cells[0]] = CodeInfo(cells[0], name, cells[-2], cells[-1])
    return markdown_to_html(text), codes


def _document(path: Path = DOC_PATH) -> tuple[Markup, dict[str, CodeInfo]]:
    try:
        return _load(str(path), path.stat().st_mtime)
    except FileNotFoundError:
        return Markup("<p>The error-code reference is missing from this installation.</p>"), {}


def error_codes_html(path: Path = DOC_PATH) -> Markup:
    """docs/error-codes.md rendered for the error-codes page (rows anchored by code)."""
    return _document(path)[0]


def code_info(code: str | None, path: Path = DOC_PATH) -> CodeInfo | None:
    """Name, meaning and what to do for a code, from the reference; None if unknown."""
    if not code:
        return None
    info = _document(path)[1].get(code)
    if info is None:
        info = _from_enums(code)
    return info


def _from_enums(code: str) -> CodeInfo | None:
    """Codes the document does not list yet, from the enums that define them."""
    from sisapp.oneroster import ErrorCode
    from sisapp.sync.errors import SyncErrorCode

    for enum in (ErrorCode, SyncErrorCode):
        try:
            known = enum(code)
        except ValueError:
            continue
        return CodeInfo(code, known.name, known.meaning, known.action)
    return None
