"""Hooks into users' own training loops: the same curves a sweep stores, from any Optuna objective.

``record(trial, task=..., loss=...)`` gives a :class:`Recorder`: ``epoch(...)`` each epoch
(``fold(i)`` for k folds), ``should_prune()`` (Optuna's pruner on the fold-mean, and the
diagnosis: a diverging loss), ``result(score)`` at the end, ``reference(...)`` for a
baseline run. It writes the ``sd_runs``/``sd_epochs`` rows and the trial attributes of a
sweep, so that ``diagnose --study``, the ``studies`` queries and the service read its
studies like a sweep's. ``sweepdoctor.integrations.lightning`` holds a Lightning callback
that records the same curves from a ``Trainer`` (extra ``[lightning]``).

May import: Optuna, ``sweepdoctor.studies`` and ``sweepdoctor.diagnostics`` (public
names), ``sweepdoctor.errors``, torch lazily (gradient norms) and Lightning in its own
module. Never ``sweepdoctor.sweep`` nor a face (``cli``, ``service``), which may import it.
"""

from __future__ import annotations

from sweepdoctor.integrations._recorder import Recorder, record

__all__ = ["Recorder", "record"]
