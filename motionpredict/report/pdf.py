"""PDF report: the same figures and tables on A4 landscape pages (matplotlib PdfPages)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from motionpredict.report.content import Table
from motionpredict.report.figures import A4_LANDSCAPE

_ROWS_PER_PAGE = 22


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or ""


def _table_pages(table: Table) -> list[Figure]:
    pages = []
    ncol = len(table.header)
    width = max(12, int(150 / max(ncol, 1)))
    chunks = [table.rows[i: i + _ROWS_PER_PAGE] for i in range(0, len(table.rows),
                                                                _ROWS_PER_PAGE)] or [[]]
    for k, rows in enumerate(chunks):
        fig = Figure(figsize=A4_LANDSCAPE)
        title = table.title + (f" ({k + 1}/{len(chunks)})" if len(chunks) > 1 else "")
        fig.text(0.03, 0.96, title, fontsize=11, weight="bold", va="top")
        if table.note:
            fig.text(0.03, 0.925, table.note, fontsize=8, color="0.35", va="top")
        ax = fig.add_axes((0.03, 0.03, 0.94, 0.87))
        ax.axis("off")
        if rows:
            cells = [[_wrap(c, width) for c in r] for r in rows]
            t = ax.table(cellText=cells, colLabels=[_wrap(h, width) for h in table.header],
                         loc="upper left", cellLoc="left")
            t.auto_set_font_size(False)
            t.set_fontsize(7 if ncol > 6 else 8)
            lines = [max(c.count("\n") + 1 for c in r) for r in cells]
            for (r, _c), cell in t.get_celld().items():
                n = 1 if r == 0 else lines[r - 1]
                cell.set_height(0.03 * n + 0.008)
        pages.append(fig)
    return pages


def render_pdf(path: Path, title: str, version: str,
               sections: list[tuple[str, list[Figure | Table]]]) -> None:
    """Write the sections to a PDF at ``path`` (the caller makes it atomic)."""
    with PdfPages(path, metadata={"Title": title, "Creator": f"motionpredict {version}"}) as pdf:
        cover = Figure(figsize=A4_LANDSCAPE)
        cover.text(0.05, 0.8, title, fontsize=20, weight="bold")
        cover.text(0.05, 0.72, f"motionpredict {version}", fontsize=11)
        cover.text(0.05, 0.6, "\n".join(f"{i + 1}. {s}" for i, (s, _) in enumerate(sections)),
                   fontsize=10, va="top")
        pdf.savefig(cover)
        for stitle, items in sections:
            for it in items:
                figs = _table_pages(it) if isinstance(it, Table) else [it]
                for fig in figs:
                    if not isinstance(it, Table):
                        fig.suptitle(stitle, fontsize=8, x=0.01, ha="left", color="0.4")
                    pdf.savefig(fig)
