"""Submitted sweeps: checking one before it is stored, and the agent that runs them on any host.

- :func:`check_submission`: a submitted configuration (TOML text, or a mapping of tables
  through :func:`tables_to_toml`) and its optional CSV, checked as a sweep file is; returns
  the :class:`Submission` to store with :func:`sweepdoctor.studies.submit_sweep`;
- :func:`run_agent` (:class:`AgentOptions`): ``sweepdoctor agent``, which takes the stored
  sweeps and runs each with :func:`sweepdoctor.sweep.run` in a child process.

No web framework here: the service (``POST /api/sweeps``) calls these, and a training
host runs the agent without the service extra.

May import: ``sweepdoctor.sweep.search``, ``sweepdoctor.sweep.config``,
``sweepdoctor.studies`` and ``sweepdoctor.errors`` (public names only).
"""

from __future__ import annotations

from sweepdoctor.sweep.agent._agent import AgentOptions, run_agent
from sweepdoctor.sweep.agent._submit import (
    MAX_CONFIG_BYTES,
    MAX_CSV_BYTES,
    MAX_DEPTH,
    MAX_TRIALS,
    Submission,
    check_submission,
    tables_to_toml,
)

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_CSV_BYTES",
    "MAX_DEPTH",
    "MAX_TRIALS",
    "AgentOptions",
    "Submission",
    "check_submission",
    "run_agent",
    "tables_to_toml",
]
