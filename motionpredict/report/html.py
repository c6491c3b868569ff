"""Self-contained HTML report: figures embedded as base64 PNG, no external resources."""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime

import jinja2
from matplotlib.figure import Figure

from motionpredict.report.content import Table

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em 0; font-size: 0.85em; }
th, td { border: 1px solid #bbb; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #eee; } .note { color: #555; font-size: 0.85em; }
.warn { background: #fff3cd; padding: 0.5em; border: 1px solid #e0c36c; }
img { max-width: 100%; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="note">Generated {{ generated }} by motionpredict {{ version }}. Lengths in mm, times in
s, latencies in ms. {{ statement }}</p>
{% if has_reference %}<p class="warn">Results labelled <b>reference mode</b> reproduce the published
behaviour, in which online learners update with the target of a prediction h-1 frames before it
is acquired. They are not achievable in real time; <b>causal</b> results are.</p>{% endif %}
{% for section in sections %}
<h2>{{ section.title }}</h2>
{% for item in section["items"] %}
{% if item.kind == "figure" %}<img alt="{{ item.alt }}" src="data:image/png;base64,{{ item.png }}">
{% else %}<p><b>{{ item.table.title }}</b></p>
<table><tr>{% for h in item.table.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in item.table.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</table>{% if item.table.note %}<p class="note">{{ item.table.note }}</p>{% endif %}
{% endif %}{% endfor %}{% endfor %}
</body></html>
"""


def figure_png(fig: Figure, dpi: int = 110) -> str:
    """Base64 PNG of a figure (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_html(title: str, version: str, sections: list[tuple[str, list[Figure | Table]]],
                *, has_reference: bool, statement: str = "") -> str:
    """Render sections of figures and tables to one HTML document (autoescaped).

    ``statement`` says what was scored and what was searched
    (:func:`motionpredict.report.content.run_statement`)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    out = []
    for stitle, items in sections:
        rendered = []
        for it in items:
            if isinstance(it, Table):
                rendered.append({"kind": "table", "table": it})
            else:
                rendered.append({"kind": "figure", "png": figure_png(it),
                                 "alt": html.escape(stitle)})
        out.append({"title": stitle, "items": rendered})
    return env.from_string(_TEMPLATE).render(
        title=title, version=version, sections=out, has_reference=has_reference,
        statement=statement,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
