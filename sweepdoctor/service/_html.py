"""HTML building blocks: the page frame, escaped text, tables, plot slots.

Every name and value from the database goes through :func:`esc` (or into a JSON island
with ``<`` escaped), so a study named ``<script>alert(1)</script>`` shows as text.
Plots are plotly figures drawn by plotly.js's *basic* bundle (scatter, bar and pie traces:
every figure here is a scatter), shipped inside the package (``static/``): a quarter of the
full bundle's size, which a browser took most of a page's second to parse. A served page loads
it from this server (:data:`PLOTLY_URL`, the version in its name, so it is cached for good),
a report file carries it inline; nothing is fetched from elsewhere.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sweepdoctor.studies import jsonable

__all__ = ["PLOTLY_BUNDLE", "PLOTLY_TRACES", "PLOTLY_URL", "esc", "fmt", "frame", "plot", "study_url", "table",
           "trial_url"]

# plotly.js's basic dist (npm plotly.js-basic-dist-min, MIT; LICENSE-plotly.txt beside it): the trace types
# it holds. To update: ``npm pack plotly.js-basic-dist-min@X``, copy plotly-basic.min.js to static/ and
# change the version here.
PLOTLY_BUNDLE = "plotly-basic.min.js"
PLOTLY_VERSION = "4.1.1"
PLOTLY_TRACES = frozenset({"scatter", "bar", "pie"})
PLOTLY_URL = f"/static/plotly-basic-{PLOTLY_VERSION}.min.js"

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;max-width:1200px}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:1.6rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem} td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left} th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#777;font-size:.9rem} .bar{background:#eee;width:160px;height:10px;display:inline-block}
.bar span{background:#3a7;height:10px;display:block} .sev-error{color:#b00;font-weight:bold}
.sev-warning{color:#a60} .sev-info{color:#372} .plots{display:flex;flex-wrap:wrap;gap:.5rem}
.plot{width:380px;height:300px} .plot.wide{width:760px;height:360px} form.filter input{width:22rem}
code{background:#f4f4f4;padding:0 .2rem}
.scroll{overflow:auto;max-width:100%;max-height:70vh;margin:.5rem 0} .scroll table{margin:0}
.scroll th{position:sticky;top:0}
"""

# The first plot is drawn at once, each other one in a task of its own after the next frame: the page
# paints with its first plot instead of after the last one.
_DRAW = """
(function(){
  var divs = Array.prototype.slice.call(document.querySelectorAll('div.plot'));
  function draw(div){
    var fig = JSON.parse(document.getElementById(div.id + '-fig').textContent);
    Plotly.newPlot(div, fig.data, fig.layout, {displaylogo:false, responsive:true, modeBarButtonsToRemove:
      ['select2d', 'lasso2d', 'zoomIn2d', 'zoomOut2d', 'autoScale2d', 'hoverClosestCartesian',
       'hoverCompareCartesian', 'toggleSpikelines']});
  }
  function next(){
    var div = divs.shift();
    if (!div) return;
    draw(div);
    requestAnimationFrame(function(){ setTimeout(next, 0); });
  }
  next();
})();
document.querySelectorAll('input[data-filter]').forEach(function(box){
  box.addEventListener('input', function(){
    var needle = box.value.toLowerCase();
    document.querySelectorAll('#' + box.dataset.filter + ' tbody tr').forEach(function(tr){
      tr.style.display = tr.textContent.toLowerCase().indexOf(needle) >= 0 ? '' : 'none';
    });
  });
});
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A value for a table cell (escaped)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return esc(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else esc(f"{value:.4g}")
    if isinstance(value, datetime):
        return esc(value.strftime("%Y-%m-%d %H:%M:%S"))
    return esc(value)


def study_url(name: str) -> str:
    return "/studies/" + quote(name, safe="")


def trial_url(name: str, number: int) -> str:
    return f"{study_url(name)}/trials/{int(number)}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, table_id: str | None = None,
          numeric: Sequence[int] = ()) -> str:
    """A table of already-escaped cells (headers are escaped here)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _json_island(obj: Any) -> str:
    text = json.dumps(jsonable(obj), allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def plot(plot_id: str, data: Sequence[Mapping[str, Any]], layout: Mapping[str, Any], *, wide: bool = False) -> str:
    """A slot drawn by plotly once the page loads (the figure travels as JSON, never as markup)."""
    base = {"margin": {"l": 50, "r": 10, "t": 45, "b": 45}, "hovermode": "closest"}
    full: dict[str, Any] = {**base, **layout}
    if isinstance(full.get("title"), dict):  # left, clear of plotly's toolbar (top right)
        full["title"] = {"x": 0.01, "xanchor": "left", **full["title"]}
    fig = {"data": list(data), "layout": full}
    cls = "plot wide" if wide else "plot"
    return (f'<div class="{cls}" id="{esc(plot_id)}"></div>'
            f'<script type="application/json" id="{esc(plot_id)}-fig">{_json_island(fig)}</script>')


def frame(title: str, body: str, *, refresh_s: int | None = None, plotly_js: str | None = None) -> str:
    """A whole page. ``plotly_js``: the bundle's text to inline (a report file), else loaded from this server."""
    meta = f'<meta http-equiv="refresh" content="{int(refresh_s)}">' if refresh_s else ""
    if plotly_js is None:
        script = f'<script src="{PLOTLY_URL}"></script>'
    else:
        script = "<script>" + plotly_js.replace("</script", "<\\/script") + "</script>"
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width\">{meta}<title>{esc(title)}</title>"
        f"<style>{_CSS}</style>{script}</head><body>{body}<script>{_DRAW}</script></body></html>"
    )
