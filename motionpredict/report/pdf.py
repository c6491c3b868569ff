"""PDF report: the same figures and tables on A4 landscape pages (matplotlib PdfPages)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from motionpredict.report.content import Table
from motionpredict.report.figures import A4_LANDSCAPE

_LINES_PER_PAGE = 34
_CHARS_PER_PAGE = 190


def _col_widths(table: Table) -> list[int]:
    """Characters per column: proportional to the longest cell, capped to fit the page, and never
    narrower than the column's longest word (up to 14 characters: a method name stays whole)."""
    columns = [[str(h)] + [str(r[i]) for r in table.rows] for i, h in enumerate(table.header)]
    longest = [max(len(c) for c in col) for col in columns]
    floor = [min(max([6] + [len(w) for c in col for w in c.split()]), 14) for col in columns]
    natural = [min(max(n, f), 70) for n, f in zip(longest, floor, strict=True)]
    total = sum(natural)
    if total <= _CHARS_PER_PAGE:
        return natural
    return [max(f, int(n * _CHARS_PER_PAGE / total)) for n, f in zip(natural, floor, strict=True)]


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width, break_long_words=True)) or ""


def _table_pages(table: Table) -> list[Figure]:
    widths = _col_widths(table)
    header = [_wrap(h, w) for h, w in zip(table.header, widths, strict=True)]
    cells = [[_wrap(c, w) for c, w in zip(r, widths, strict=True)] for r in table.rows]
    heights = [max(c.count("\n") + 1 for c in r) for r in cells]
    chunks: list[list[int]] = [[]]
    used = 0
    for i, h in enumerate(heights):
        if chunks[-1] and used + h > _LINES_PER_PAGE:
            chunks.append([])
            used = 0
        chunks[-1].append(i)
        used += h
    pages = []
    hdr_lines = max(h.count("\n") + 1 for h in header)
    line_h = 0.80 / (_LINES_PER_PAGE + 4)
    for k, idx in enumerate(chunks):
        fig = Figure(figsize=A4_LANDSCAPE)
        title = table.title + (f" ({k + 1}/{len(chunks)})" if len(chunks) > 1 else "")
        fig.text(0.03, 0.96, title, fontsize=11, weight="bold", va="top")
        note = textwrap.fill(table.note, 200) if table.note else ""
        if note:
            fig.text(0.03, 0.925, note, fontsize=8, color="0.35", va="top")
        drop = 0.018 * note.count("\n")  # room for a note of several lines
        ax = fig.add_axes((0.03, 0.03, 0.94, 0.87 - drop))
        ax.axis("off")
        if idx:
            t = ax.table(cellText=[cells[i] for i in idx], colLabels=header, loc="upper left",
                         cellLoc="left", colWidths=[w / sum(widths) for w in widths])
            t.auto_set_font_size(False)
            t.set_fontsize(7)
            for (r, _c), cell in t.get_celld().items():
                n = hdr_lines if r == 0 else heights[idx[r - 1]]
                cell.set_height(line_h * n + 0.006)
        pages.append(fig)
    return pages


def render_pdf(path: Path, title: str, version: str,
               sections: list[tuple[str, list[Figure | Table]]], statement: str = "") -> None:
    """Write the sections to a PDF at ``path`` (the caller makes it atomic); ``statement``
    (what was scored and searched) goes on the cover."""
    with PdfPages(path, metadata={"Title": title, "Creator": f"motionpredict {version}"}) as pdf:
        cover = Figure(figsize=A4_LANDSCAPE)
        cover.text(0.05, 0.8, title, fontsize=20, weight="bold")
        cover.text(0.05, 0.72, f"motionpredict {version}", fontsize=11)
        if statement:
            cover.text(0.05, 0.67, textwrap.fill(statement, 150), fontsize=9, va="top",
                       color="0.25")
        cover.text(0.05, 0.52, "\n".join(f"{i + 1}. {s}" for i, (s, _) in enumerate(sections)),
                   fontsize=10, va="top")
        pdf.savefig(cover)
        for _stitle, items in sections:
            for it in items:
                figs = _table_pages(it) if isinstance(it, Table) else [it]
                for fig in figs:
                    pdf.savefig(fig)
