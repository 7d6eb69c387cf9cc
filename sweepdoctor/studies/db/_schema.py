"""Our tables, beside Optuna's in the same database (Optuna's are never altered).

- ``sd_runs``: one trained configuration: a trial of a study (``trial_id`` is
  Optuna's ``trials.trial_id``) or a baseline of the study (``trial_id`` NULL).
- ``sd_epochs``: one row per run, fold and epoch: the curves the diagnostics read.
- ``sd_folds``: one row per run and fold: the fold's final validation score and its
  loss on a deployment test set.
- ``sd_findings``: diagnoses; ``run_id`` NULL for a study-level finding.
- ``sd_study_docs``: documents that define a study, too long for Optuna's study listing
  (its search space); the study's user attribute holds their hash.
- ``sd_sweeps``: sweeps submitted to the service (their TOML and optional CSV), which
  agents on any host take and run.

A trial's epochs are stored while it trains (the service's live curves) under its
*training run*: a row of ``sd_runs`` with ``study_id`` the study's negated
(:func:`training_study_id`), ``trial_id`` NULL and state ``running``. Every query of a
study asks for ``study_id = :id`` (or joins on ``trial_id``), so none sees it: a run
whose worker was killed stays there unseen, never taken for a finished run. When the
trial ends, the run record of the finished trial takes its epoch rows over (their ids
unchanged: the live stream sends each once) and the training run is deleted, in the
transaction that stores the record (:meth:`Store.add_run`). No column was added: a
database made by an earlier version is read and written as before.

Non-finite numbers are stored as NULL (MySQL has no NaN).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Double, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "EpochRow", "FindingRow", "FoldRow", "RunRow", "StudyDocRow", "SweepRow", "training_study_id"]


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def training_study_id(study_id: int) -> int:
    """The ``study_id`` of a trial's training run: the study's, negated (Optuna's study ids are positive)."""
    return -study_id


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "sd_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(Integer, index=True)
    trial_id: Mapped[int | None] = mapped_column(Integer, unique=True, nullable=True)
    trial_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    task: Mapped[str] = mapped_column(String(16))
    loss: Mapped[str] = mapped_column(String(32))
    depth: Mapped[int | None] = mapped_column(Integer, nullable=True)
    n_params: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    fail_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)

    __table_args__ = (
        Index("ix_sd_runs_study_role", "study_id", "role"),
        Index("ix_sd_runs_study_trial", "study_id", "trial_number"),
    )


class EpochRow(Base):
    __tablename__ = "sd_epochs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sd_runs.id", ondelete="CASCADE"))
    fold: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Double, nullable=True)
    val_loss: Mapped[float | None] = mapped_column(Double, nullable=True)
    val_metric: Mapped[float | None] = mapped_column(Double, nullable=True)
    grad_norm: Mapped[float | None] = mapped_column(Double, nullable=True)
    lr: Mapped[float | None] = mapped_column(Double, nullable=True)
    wall_time: Mapped[float | None] = mapped_column(Double, nullable=True)

    __table_args__ = (UniqueConstraint("run_id", "fold", "epoch", name="uq_sd_epochs_run_fold_epoch"),)


class FoldRow(Base):
    __tablename__ = "sd_folds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sd_runs.id", ondelete="CASCADE"))
    fold: Mapped[int] = mapped_column(Integer)
    val_score: Mapped[float | None] = mapped_column(Double, nullable=True)
    test_loss: Mapped[float | None] = mapped_column(Double, nullable=True)

    __table_args__ = (UniqueConstraint("run_id", "fold", name="uq_sd_folds_run_fold"),)


class FindingRow(Base):
    __tablename__ = "sd_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(Integer, index=True)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("sd_runs.id", ondelete="CASCADE"), nullable=True, index=True
    )
    code: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    advice: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class SweepRow(Base):
    """A sweep submitted to the service: its configuration and data, for agents on any host."""

    __tablename__ = "sd_sweeps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # queued, running, done, stopped, failed
    trials: Mapped[int] = mapped_column(Integer)
    config: Mapped[str] = mapped_column(Text)  # the sweep's TOML
    csv_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    csv: Mapped[bytes | None] = mapped_column(LargeBinary(length=2**32 - 1), nullable=True)  # LONGBLOB on MySQL
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class StudyDocRow(Base):
    """A document that defines a study but is too long for Optuna's study listing: the search space.

    The study's user attribute keeps a short hash of it (``optuna studies`` stays readable);
    the resume check compares the hashes and reads the document here to say what changed.
    """

    __tablename__ = "sd_study_docs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(Integer, index=True)
    key: Mapped[str] = mapped_column(String(64))
    document: Mapped[Any] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("study_id", "key", name="uq_sd_study_docs_study_key"),)
