"""The bodies of the pages: the studies, one study, one trial (the report file is the study's body).

Each function takes the records of :mod:`._views` and returns escaped HTML.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from sweepdoctor.diagnostics import Finding
from sweepdoctor.service._html import esc, fmt, study_url, table, trial_url
from sweepdoctor.service._plots import param_plots, trial_plots, value_label, value_plot, varying_params
from sweepdoctor.service._views import StudyView, TrialView
from sweepdoctor.studies import StudySummary, SubmittedSweep, TrialRecord

__all__ = ["api_docs_body", "index_body", "study_body", "trial_body"]


def _bar(done: int, total: int) -> str:
    pct = 0 if total <= 0 else min(100, round(100 * done / total))
    return f'<span class="bar" title="{done} of {total}"><span style="width:{pct}%"></span></span> {done}/{total}'


def _progress(states: Mapping[str, int], sweep: SubmittedSweep | None) -> str:
    finished = sum(n for s, n in states.items() if s in ("complete", "pruned", "fail"))
    total = sweep.trials if sweep is not None else sum(states.values())
    return _bar(finished, total)


def _states(states: Mapping[str, int]) -> str:
    return esc(", ".join(f"{n} {s}" for s, n in sorted(states.items()) if n)) or "–"


def index_body(studies: Sequence[StudySummary], sweeps: Mapping[str, SubmittedSweep], *, url: str) -> str:
    rows = []
    for s in studies:
        sw = sweeps.get(s.name)
        rows.append([f'<a href="{esc(study_url(s.name))}">{esc(s.name)}</a>', _progress(s.states, sw),
                     _states(s.states), fmt(s.best_value), esc(s.directions[0] if s.directions else "–"),
                     fmt(s.last_activity), esc(sw.state if sw else "–")])
    named = {s.name for s in studies}
    for sw in sweeps.values():
        if sw.name not in named:  # submitted, no agent has opened its study yet
            rows.append([esc(sw.name), _bar(0, sw.trials), "–", "–", "–", fmt(sw.updated_at), esc(sw.state)])
    body = table(["study", "progress", "trials", "best", "direction", "last activity", "sweep"], rows,
                 table_id="studies", numeric=(3,))
    count = f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}"
    if len(rows) > len(studies):  # submitted sweeps whose study no agent has opened yet
        waiting = len(rows) - len(studies)
        count += f" and {waiting} submitted sweep{'' if waiting == 1 else 's'} not started yet"
    return (f"<h1>Studies</h1><p class=\"muted\">{count} in <code>{esc(url)}</code></p>{body}"
            if rows else f"<h1>Studies</h1><p>No studies in <code>{esc(url)}</code> yet.</p>")


def _findings_by_kind(view: StudyView) -> str:
    d = view.diagnosis
    if d.report is not None:  # every count says what it counts, as the terminal's do
        main = d.report.main_counts()
        rows = [[esc(code), str(main.get(code, 0)), str(n)] for code, n in d.report.counts().items()]
        header = ["finding", "trials: as main finding", "trials: in all"]
    else:
        rows = [[esc(code), str(n)] for code, n in d.stored_counts.items()]
        header = ["finding", "trials: in all (main finding or not)"]
    numeric = tuple(range(1, len(header)))
    out = table(header, rows, table_id="findings", numeric=numeric) if rows else "<p>No findings.</p>"
    if d.note:
        out += f'<p class="muted">{esc(d.note)}</p>'
    return out


def _regions(view: StudyView) -> str:
    r = view.diagnosis.report
    if r is None or not r.patterns:
        return ""
    rows = [[esc(p.code.value), esc(p.summary), f"{p.n_code}/{p.n_region}"] for p in r.patterns]
    return "<h3>Where in the space</h3>" + table(["finding", "region", "trials"], rows, table_id="regions")


def _study_findings(view: StudyView) -> str:
    r = view.diagnosis.report
    if r is None or not r.study_findings:
        return ""
    return "<h3>About the whole study</h3>" + findings_list(r.study_findings)


def findings_list(findings: Sequence[Finding]) -> str:
    items = []
    for f in findings:
        evidence = ", ".join(f"{esc(k)}={fmt(v)}" for k, v in f.evidence.items())
        items.append(
            f'<li><span class="sev-{esc(f.severity.value)}">{esc(f.code.value)}</span> ({esc(f.severity.value)}, '
            f"confidence {f.confidence:.2f}, {esc(f.rule)}): {esc(f.summary)}"
            f"<br><span class=\"muted\">evidence: {evidence or '–'}</span>"
            f"<br>advice: {esc(f.advice)}</li>"
        )
    return f'<ul class="findings">{"".join(items)}</ul>'


def _trial_link(name: str, t: TrialRecord, links: bool) -> str:
    return f'<a href="{esc(trial_url(name, t.number))}">{t.number}</a>' if links else str(t.number)


def _codes(view: StudyView) -> dict[int, list[str]]:
    """Finding codes of each trial: the live diagnosis's when there is one, else the stored ones."""
    report = view.diagnosis.report
    if report is None:
        return {t.number: list(t.findings) for t in view.page.trials}
    live = {r.run.name: sorted({f.code.value for f in r.findings}) for r in report.candidates}
    return {t.number: live.get(f"trial-{t.number}", list(t.findings)) for t in view.page.trials}


def _trials_table(view: StudyView, *, links: bool) -> str:
    params = sorted({k for t in view.page.trials for k in t.params})
    codes = _codes(view)
    rows = [
        [_trial_link(view.name, t, links), esc(t.state), fmt(t.value), *(fmt(t.params.get(p)) for p in params),
         esc(", ".join(codes[t.number])) or "–"]
        for t in view.page.trials
    ]
    return table(["#", "state", "value", *params, "findings"], rows, table_id="trials", numeric=(2,))


def _filter_form(view: StudyView) -> str:
    q = view.query
    where = "; ".join(q.where)
    sort = q.sort or ""
    return (
        f'<form class="filter" method="get" action="{esc(study_url(view.name))}">'
        f'<label>where <input name="where" value="{esc(where)}" placeholder="optimizer=adam; lr>=1e-3"></label> '
        f'<label>sort <input name="sort" value="{esc(sort)}" placeholder="value, -number, lr" size="10"></label> '
        '<button type="submit">filter</button></form>'
    )


def _pager(view: StudyView, *, links: bool) -> str:
    q, page = view.query, view.page
    shown = f"trials {q.offset + 1 if page.trials else 0}–{q.offset + len(page.trials)} of {page.matched} matching"
    if not links:  # a report file has no other pages to link to: say where the rest are
        rest = q.offset + len(page.trials) < page.matched
        more = f" (every trial: sweepdoctor studies export {shlex.quote(view.name)} --format csv)" if rest else ""
        return f'<p class="muted">{esc(shown + more)}</p>'
    pages: list[str] = []
    base: dict[str, Any] = {"where": "; ".join(q.where), "sort": q.sort or "", "limit": q.limit}
    if q.offset > 0:
        pages.append(f'<a href="?{esc(urlencode(base | {"offset": max(0, q.offset - q.limit)}))}">previous</a>')
    if q.offset + len(page.trials) < page.matched:
        pages.append(f'<a href="?{esc(urlencode(base | {"offset": q.offset + q.limit}))}">next</a>')
    return f'<p class="muted">{esc(shown)} {" ".join(pages)}</p>'


def _best(view: StudyView, *, links: bool) -> str:
    best = view.detail.best
    if best is None:
        return "<p>No complete trial yet.</p>"
    params = ", ".join(f"{esc(k)}={fmt(v)}" for k, v in best.params.items())
    return f"<p>Best: trial {_trial_link(view.name, best, links)}, value <b>{fmt(best.value)}</b> — {params}</p>"


def _param_section(view: StudyView, direction: str) -> str:
    """The value against each varying hyper-parameter, saying how many trials; the fixed ones listed."""
    trials = [t for t in view.scatter.trials if t.value is not None]
    varying, fixed = varying_params(trials)
    total = view.series.n_complete
    used = (f"the latest {len(trials):,} of {total:,} complete trials" if len(trials) < total
            else f"all {total:,} complete trials")
    if not varying:
        used += "; no parameter takes more than one value"
    if fixed:
        used += "; fixed (not plotted): " + ", ".join(f"{esc(k)}={fmt(v)}" for k, v in fixed.items())
    body = param_plots(trials, metric=view.detail.summary.metric, direction=direction)
    return f'<h2>Value against each hyper-parameter</h2><p class="muted">{used}</p><div class="plots">{body}</div>'


def study_body(view: StudyView, *, links: bool = True) -> str:
    """The study page (``links``: a served page, with links to trials and the filter form)."""
    s = view.detail.summary
    metric = s.metric
    direction = s.directions[0] if s.directions else "minimize"
    head = (
        f"<h1>{esc(s.name)}</h1><p class=\"muted\">{esc(s.task + ' · ' if s.task else '')}"
        f"{esc(value_label(metric, direction))} "
        f"· last activity {fmt(s.last_activity)}{' · sweep ' + esc(view.sweep.state) if view.sweep else ''}</p>"
        f"<p>{_progress(s.states, view.sweep)} — {_states(s.states)}</p>{_best(view, links=links)}"
    )
    plots = f"<h2>Progress</h2>{value_plot(view.series, metric=metric)}{_param_section(view, direction)}"
    findings = (f"<h2>Findings</h2>{_findings_by_kind(view)}{_regions(view)}{_study_findings(view)}")
    search = (_filter_form(view) if links else "") + (
        '<p><input data-filter="trials" placeholder="type to hide rows without this text"></p>')
    trials = f"<h2>Trials</h2>{search}{_pager(view, links=links)}{_trials_table(view, links=links)}"
    back = '<p><a href="/">← all studies</a></p>' if links else ""
    return back + head + findings + plots + trials


def trial_body(view: TrialView) -> str:
    t = view.trial
    head = (f'<p><a href="{esc(study_url(view.study))}">← {esc(view.study)}</a></p>'
            f"<h1>{esc(view.study)} · trial {t.number}</h1><p>{esc(t.state)} · value <b>{fmt(t.value)}</b> · "
            f"{fmt(t.duration_s)} s</p>")
    params = table(["parameter", "value"], [[esc(k), fmt(v)] for k, v in t.params.items()], table_id="params")
    scores = view.fold_scores
    folds = table(["fold", "score"], [[str(i), fmt(v)] for i, v in enumerate(scores)], table_id="folds",
                  numeric=(1,)) if scores else "<p>No fold scores stored.</p>"
    plots = trial_plots(view.run, view.baselines) if view.run is not None else "<p>No curves stored.</p>"
    findings = findings_list(view.findings) if view.findings else "<p>No findings.</p>"
    if view.note:
        findings += f'<p class="muted">{esc(view.note)}</p>'
    return (f"{head}<h2>Parameters</h2>{params}<h2>Score per fold</h2>{folds}<h2>Curves</h2>"
            f'<div class="plots">{plots}</div><h2>Findings</h2>{findings}')


def _schema_type(schema: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_schema_type(x) for x in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_schema_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(str(x) for x in schema["enum"])
    return str(schema.get("type", "any"))


def _operation(path: str, method: str, op: Mapping[str, Any]) -> str:
    params = [[esc(p["name"]), esc(p["in"]), "yes" if p.get("required") else "", esc(_schema_type(p.get("schema", {}))),
               esc(p.get("description", ""))] for p in op.get("parameters", [])]
    answers, errors = [], []
    for code, r in op.get("responses", {}).items():
        schema = r.get("content", {}).get("application/json", {}).get("schema")
        if str(code).startswith(("4", "5")):
            errors.append(esc(code))
            continue
        answers.append(f"{esc(code)} {esc(r.get('description', ''))}"
                       + (f" → <code>{esc(_schema_type(schema))}</code>" if schema else ""))
    if errors:
        answers.append(f"{', '.join(errors)} → <code>Error</code>")
    out = f"<h3><code>{esc(method.upper())} {esc(path)}</code></h3><p>{esc(op.get('summary', ''))}</p>"
    if op.get("description"):
        out += f'<p class="muted">{esc(op["description"])}</p>'
    if params:
        out += table(["parameter", "in", "required", "type", "description"], params)
    return out + "<p>answers: " + "; ".join(answers) + "</p>"


def api_docs_body(doc: Mapping[str, Any]) -> str:
    """``/docs``: the OpenAPI document as a page of its own (no script, nothing fetched from elsewhere)."""
    ops = [_operation(path, method, op) for path, item in doc.get("paths", {}).items() for method, op in item.items()]
    schemas = []
    for name, sch in doc.get("components", {}).get("schemas", {}).items():
        rows = [[esc(k), esc(_schema_type(v)), "yes" if k in sch.get("required", []) else "",
                 esc(v.get("description", ""))] for k, v in sch.get("properties", {}).items()]
        schemas.append(f'<h3 id="{esc(name)}"><code>{esc(name)}</code></h3>'
                       + (table(["field", "type", "required", "description"], rows) if rows else ""))
    info = doc.get("info", {})
    return (f"<h1>{esc(info.get('title', 'API'))} {esc(info.get('version', ''))}</h1>"
            f"<p>{esc(info.get('description', ''))}</p><p>The machine-readable document: "
            f'<a href="/openapi.json">/openapi.json</a>.</p><h2>Routes</h2>{"".join(ops)}'
            f"<h2>Answers</h2>{''.join(schemas)}")
