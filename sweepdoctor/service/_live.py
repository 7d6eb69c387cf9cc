"""Live curves: ``GET /api/studies/{name}/events``, a Server-Sent Events stream, and the pages' listener.

The server polls :class:`sweepdoctor.studies.LiveFeed` every ``poll_s`` (three keyset
queries on primary keys: only the rows stored since the last poll), sends what is new,
a comment line every ``heartbeat_s`` when nothing is, and stops when the client goes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from sweepdoctor.service._html import esc
from sweepdoctor.service._http import ERRORS, state_of
from sweepdoctor.service._state import ServiceState
from sweepdoctor.studies import LiveCursor, LiveEvent, LiveFeed

__all__ = ["LiveSettings", "live_cursor", "live_script", "router"]

router = APIRouter(prefix="/api", responses=ERRORS)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LiveSettings:
    """How often the stream asks the database (``poll_s``) and says it is alive (``heartbeat_s``)."""

    poll_s: float = 1.0
    heartbeat_s: float = 15.0


_DESCRIPTION = """Server-Sent Events (`text/event-stream`): what the study stores while it runs.

Events, each `event: NAME`, `id: E-V-R` and one JSON line `data: {...}`:

- `epoch`: a stored epoch of a trial, `{"trial", "fold", "epoch" (1-based), "train_loss",
  "val_loss", "val_metric", "lr"}`. A sweep stores a running trial's finished epochs while it
  trains, about once a second, and the rest when it ends: each epoch comes once, before its
  trial's `trial` event.
- `progress`: the value a trial reports to Optuna for pruning after each epoch while it trains,
  the mean over its folds, `{"trial", "epoch" (1-based), "value"}` (sweeps with a pruner).
- `trial`: a trial that finished, `{"trial", "state" (complete, pruned, fail), "value"}`.

A line `: keep-alive` comes every 15 s when nothing else does. A new stream starts after
what is stored now, or after the event id given as `after` (the study page passes the
position it was drawn at, so that nothing stored before the page connects is lost); send the
last event id back as `Last-Event-ID` (EventSource does it on reconnect; it wins over `after`)
to receive only what came after it. The server reads only rows stored since the
previous poll (about one poll a second, three indexed queries)."""


def _frame(ev: LiveEvent) -> str:
    data = json.dumps(ev.data, separators=(",", ":"), allow_nan=False)
    return f"event: {ev.kind}\nid: {ev.cursor.token()}\ndata: {data}\n\n"


async def _events(request: Request, feed: LiveFeed, cursor: LiveCursor, settings: LiveSettings) -> AsyncIterator[str]:
    yield f"retry: {int(settings.poll_s * 1000) + 1000}\n\n"
    quiet = 0.0
    while not await request.is_disconnected():
        events, cursor = await anyio.to_thread.run_sync(feed.poll, cursor)
        for ev in events:
            yield _frame(ev)
        quiet = 0.0 if events else quiet + settings.poll_s
        if quiet >= settings.heartbeat_s:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await anyio.sleep(settings.poll_s)


@router.get("/studies/{name:path}/events", response_class=StreamingResponse, description=_DESCRIPTION,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "an endless stream of events (see above)"}})
async def study_events(
    request: Request, name: str, last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[str | None, Query(description="start after this event id (`E-V-R`)")] = None,
) -> StreamingResponse:
    """Live curves of a study: its running trials' epochs and its finished trials, as they are stored."""
    state = state_of(request)
    feed = await anyio.to_thread.run_sync(lambda: LiveFeed(state.engine, name))
    start = last_event_id or after
    cursor = LiveCursor.parse(start) if start else await anyio.to_thread.run_sync(feed.tail)
    settings = getattr(request.app.state, "live_settings", None) or LiveSettings()
    return StreamingResponse(_events(request, feed, cursor, settings), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


_LISTEN = """
(function(){
  var box = document.getElementById('live'); if (!box || !window.EventSource) return;
  var only = box.dataset.trial === '' ? null : Number(box.dataset.trial);
  var plot = document.getElementById('plot-live'), traces = {}, n = 0;
  var log = document.getElementById('live-log');
  function trace(key, name, dash){
    if (traces[key] === undefined){
      Plotly.addTraces(plot, {type: 'scatter', mode: 'lines+markers', name: name, x: [], y: [],
                              line: {dash: dash}});
      traces[key] = n++;
    }
    return traces[key];
  }
  function say(text){ var li = document.createElement('li'); li.textContent = text; log.prepend(li); }
  Plotly.newPlot(plot, [], {title: {text: 'live: validation loss by epoch', x: 0.01, xanchor: 'left'},
    margin: {l: 50, r: 10, t: 45, b: 45}, xaxis: {title: {text: 'epoch'}}}, {displaylogo: false});
  var es = new EventSource(box.dataset.src);
  es.addEventListener('epoch', function(m){
    var d = JSON.parse(m.data); if (only !== null && d.trial !== only) return;
    var i = trace('e' + d.trial + '/' + d.fold, 'trial ' + d.trial + ' fold ' + d.fold, 'solid');
    Plotly.extendTraces(plot, {x: [[d.epoch]], y: [[d.val_loss]]}, [i]);
    box.dataset.epochs = String(Number(box.dataset.epochs) + 1);
  });
  es.addEventListener('progress', function(m){
    var d = JSON.parse(m.data); if (only !== null && d.trial !== only) return;
    var i = trace('p' + d.trial, 'trial ' + d.trial + ' (reported)', 'dot');
    Plotly.extendTraces(plot, {x: [[d.epoch]], y: [[d.value]]}, [i]);
  });
  es.addEventListener('trial', function(m){
    var d = JSON.parse(m.data); if (only !== null && d.trial !== only) return;
    say('trial ' + d.trial + ': ' + d.state + (d.value === null ? '' : ', value ' + d.value.toPrecision(4)));
    if (only !== null){ es.close(); location.reload(); }  // the trial page draws its stored curves
    box.dataset.trials = String(Number(box.dataset.trials) + 1);
  });
})();
"""


def live_cursor(state: ServiceState, name: str) -> LiveCursor:
    """Where a page's stream starts: past what is stored now. Taken before the page reads the study, so
    that what is stored while the page draws and its browser connects still reaches it (at worst twice)."""
    return LiveFeed(state.engine, name).tail()


def live_script(events_url: str, after: LiveCursor, *, trial: int | None = None) -> str:
    """The page's live section: a plot that the stream at ``events_url`` (from ``after`` on) extends, and a
    list of finished trials."""
    src = f"{events_url}?after={after.token()}"
    return (f'<section id="live" data-src="{esc(src)}" data-trial="{"" if trial is None else int(trial)}" '
            'data-epochs="0" data-trials="0"><h2>Live</h2>'
            '<div id="plot-live" style="width:760px;height:360px"></div><ul id="live-log" class="muted"></ul></section>'
            f"<script>{_LISTEN}</script>")
