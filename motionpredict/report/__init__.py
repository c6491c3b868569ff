"""Reports of evaluation runs and predictions: self-contained HTML and PDF.

:func:`build_report` reads a run folder (results store + artifacts) and writes ``report.html``
(figures embedded, no external files) and optionally ``report.pdf``. Reports are de-identified:
only sequence names, dataset names, licences and citations are shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from motionpredict.report.data import ReportData, load_report_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from motionpredict.report.content import Table

    #: One report section: its heading and the figures and tables under it, in order.
    Section = tuple[str, list[Figure | Table]]

__all__ = ["ReportData", "build_report", "load_report_data"]


def _sections(data: ReportData) -> list[Section]:
    from motionpredict.report import content, figures

    secs: list[Section] = []
    answer: list[Figure | Table] = list(content.summary_tables(data))
    if answer:
        secs.append(("The answer: best method per horizon", answer))
    for kind in data.kinds():
        secs.append((f"Error vs horizon ({kind})", [figures.error_vs_horizon(data, kind)]))
    per_seq = content.sequence_tables(data)
    for seq in data.sequences():
        items: list[Figure | Table] = [t for t in per_seq if t.title.startswith(f"{seq}:")]
        for fig in (figures.traces(data, seq), figures.triplets(data, seq)):
            if fig is not None:
                items.append(fig)
        secs.append((f"Sequence {seq}", items))
    lats: list[Figure | Table] = [
        f for f in (figures.latency(data, kind) for kind in data.kinds()) if f is not None
    ]
    if lats:
        secs.append(("Latency per stage", lats))
    comparisons = content.comparison_tables(data)
    if comparisons:
        secs.append(("Paired comparisons", list(comparisons)))
    secs.append(("Settings", [content.settings_table(data)]))
    prov: list[Figure | Table] = [content.provenance_table(data)]
    err = content.error_table(data)
    if err is not None:
        prov.append(err)
    secs.append(("Provenance", prov))
    return secs


def build_report(run_dir: str | Path, *, pdf: bool = False, out_dir: str | Path | None = None
                 ) -> list[Path]:
    """Write ``report.html`` (and ``report.pdf``) for a run folder.

    Parameters
    ----------
    run_dir
        Folder holding ``results.sqlite`` (an evaluation run or a ``predict`` output).
    pdf
        Also write the PDF.
    out_dir
        Where to write (default: ``run_dir``).

    Returns
    -------
    list of Path
        The files written.
    """
    from motionpredict.io.atomic import atomic_path
    from motionpredict.report.html import render_html
    from motionpredict.report.pdf import render_pdf

    data = load_report_data(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    written = []
    has_ref = "reference" in data.modes()
    from motionpredict.report.content import run_statement

    statement = run_statement(data)
    sections = _sections(data)
    text = render_html(data.title, data.version, sections, has_reference=has_ref,
                       statement=statement)
    with atomic_path(out / "report.html") as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    written.append(out / "report.html")
    if pdf:
        with atomic_path(out / "report.pdf") as tmp:
            render_pdf(Path(tmp), data.title, data.version, _sections(data), statement)
        written.append(out / "report.pdf")
    return written
