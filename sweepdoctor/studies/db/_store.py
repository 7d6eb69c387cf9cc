"""Writing and reading our curves and findings (the ``sd_*`` tables)."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, delete, func, insert, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sweepdoctor.diagnostics import (
    EpochRecord,
    Finding,
    FoldHistory,
    History,
    Role,
    RunHistory,
    RunState,
    Task,
    finite_or_none,
)
from sweepdoctor.errors import CurvesNotFoundError, StorageError, StudyNotFoundError
from sweepdoctor.studies.db._concurrency import retry_concurrent_create
from sweepdoctor.studies.db._engine import check_url, make_engine, mask_url, session_scope, sqlite_file_path
from sweepdoctor.studies.db._json import jsonable
from sweepdoctor.studies.db._optuna_tables import o_studies, o_study_user_attrs, o_trial_user_attrs
from sweepdoctor.studies.db._schema import (
    Base,
    EpochRow,
    FindingRow,
    FoldRow,
    RunRow,
    StudyDocRow,
    training_study_id,
)

__all__ = ["GUIDED_PLAN", "Store", "check_writable"]

# The study document of a guided study (``sweep --guided``): one entry per round, with the
# space it planned, its edits and their reasons.
GUIDED_PLAN = "guided_plan"


def check_writable(url: str) -> None:
    """Refuse, before anything is written, a SQLite database a sweep could not write to.

    A read-only URL (``mode=ro``, ``immutable=1``), a file without write permission, or a
    folder where SQLite cannot create its journal each get one :class:`StorageError` line
    instead of a database error halfway through. Other databases are checked by their server.
    """
    parsed = make_url(check_url(url))
    if parsed.get_backend_name() != "sqlite":
        return
    if parsed.database in (None, "", ":memory:"):
        raise StorageError(
            f"storage: {mask_url(url)!r} is an in-memory SQLite database, which each connection of a sweep "
            "would see empty; use a file (sqlite:///study.db)"
        )
    query = {k: str(v).lower() for k, v in parsed.query.items()}
    if query.get("mode") == "ro" or query.get("immutable") in ("1", "true"):
        raise StorageError(
            f"storage: {mask_url(url)!r} opens the database read-only (mode=ro), but a sweep writes its trials "
            "there; drop mode=ro from the URL (read-only URLs suit the `studies` commands)"
        )
    path = sqlite_file_path(parsed).absolute()
    if path.exists() and not _writable(path):
        raise StorageError(
            f"storage: {str(path)!r} is read-only, but a sweep writes its trials there; "
            f"make it writable (chmod u+w {str(path)!r}) or pass another --storage"
        )
    if not _writable(path.parent):
        raise StorageError(
            f"storage: folder {str(path.parent)!r} is not writable (SQLite writes its journal beside the database); "
            "make it writable or put the database elsewhere"
        )


def _writable(path: os.PathLike[str]) -> bool:
    """Writable by this process, and by someone at all (root passes ``os.access`` on a chmod 444 file)."""
    return os.access(path, os.W_OK) and bool(os.stat(path).st_mode & 0o222)


class Store:
    """Our tables in one database. Pass a URL or an existing engine."""

    def __init__(self, storage: str | Engine) -> None:
        if isinstance(storage, str):
            self.url = storage
            self.engine = make_engine(storage)
        else:
            self.engine = storage
            self.url = storage.url.render_as_string(hide_password=True)
        self._schema_ready = False

    def ensure_schema(self) -> None:
        """Create our tables if they are missing (never touches Optuna's)."""
        if self._schema_ready:
            return
        try:
            retry_concurrent_create(lambda: Base.metadata.create_all(self.engine))  # workers starting together
        except SQLAlchemyError as e:
            raise StorageError(f"storage: cannot create tables in {mask_url(self.url)!r}: {e}") from e
        self._schema_ready = True

    def study_id(self, study_name: str) -> int:
        with session_scope(self.engine) as s:
            sid = s.execute(
                select(o_studies.c.study_id).where(o_studies.c.study_name == study_name)
            ).scalar_one_or_none()
        if sid is None:
            raise StudyNotFoundError(f"storage: no study named {study_name!r} in {mask_url(self.url)!r}")
        return int(sid)

    # ---- documents that define a study ------------------------------------------------

    def put_study_doc(self, *, study_id: int, key: str, document: Any) -> None:
        """Store (or replace) the study's document ``key``; workers writing the same one together is fine."""
        self.ensure_schema()
        doc = jsonable(document)
        try:
            with session_scope(self.engine) as s:
                row = s.execute(
                    select(StudyDocRow).where(StudyDocRow.study_id == study_id, StudyDocRow.key == key)
                ).scalar_one_or_none()
                if row is None:
                    s.add(StudyDocRow(study_id=study_id, key=key, document=doc))
                elif row.document != doc:
                    row.document = doc
        except StorageError as e:
            if not isinstance(e.__cause__, IntegrityError):  # another worker inserted it first
                raise

    def study_doc(self, study_id: int, key: str) -> Any | None:
        """The study's document ``key``, or ``None`` when there is none."""
        self.ensure_schema()
        with session_scope(self.engine) as s:
            return s.execute(
                select(StudyDocRow.document).where(StudyDocRow.study_id == study_id, StudyDocRow.key == key)
            ).scalar_one_or_none()

    # ---- writing ------------------------------------------------------------------

    def add_run(
        self,
        *,
        study_id: int,
        run: RunHistory,
        task: Task,
        loss: str,
        trial_id: int | None = None,
        trial_number: int | None = None,
        fold_scores: Sequence[float | None] | None = None,
        fail_reason: str | None = None,
        trial_attrs: Mapping[str, Any] | None = None,
        replace: bool = False,
        study_attrs: Mapping[str, Any] | None = None,
    ) -> int:
        """Store one run with all its epochs and folds in one transaction; returns its id.

        ``trial_attrs``: user attributes of Optuna trial ``trial_id`` written in the same
        transaction (what ``Trial.set_user_attr`` writes, one transaction each there):
        a trial's whole record is one write. ``replace``: first delete the run stored for
        ``trial_id`` (its epochs, folds and findings), in the same transaction.
        ``study_attrs``: user attributes of the study, set in the same transaction.
        The epochs that :meth:`add_live_epochs` stored while trial ``trial_number`` trained
        become this run's (the same rows, not written twice); the rest are written.
        """
        self.ensure_schema()
        with session_scope(self.engine) as s:
            if replace and trial_id is not None:
                _delete_trial_run(s, trial_id)
            if study_attrs:
                _put_user_attrs(s, o_study_user_attrs, o_study_user_attrs.c.study_id, study_id, study_attrs)
            if trial_attrs and trial_id is not None:
                _put_trial_user_attrs(s, trial_id, trial_attrs)
            row = RunRow(
                study_id=study_id,
                trial_id=trial_id,
                trial_number=trial_number,
                name=run.name,
                role=run.role.value,
                state=run.state or "complete",
                task=task.value,
                loss=loss,
                depth=run.depth,
                n_params=run.n_params,
                hyperparameters=jsonable(run.hyperparameters),
                fail_reason=fail_reason,
            )
            s.add(row)
            s.flush()
            stored = _adopt_training_run(s, study_id, trial_number, row.id) if trial_number is not None else {}
            s.add_all(_epoch_rows(row.id, run, stored))
            scores = list(fold_scores) if fold_scores is not None else [f.score for f in run.folds]
            s.add_all(
                FoldRow(run_id=row.id, fold=f, val_score=finite_or_none(scores[f]), test_loss=fold.test_loss)
                for f, fold in enumerate(run.folds)
            )
            return row.id

    def add_live_epochs(self, *, study_id: int, run: RunHistory, task: Task, loss: str, trial_number: int) -> int:
        """Store the epochs of ``run`` (trial ``trial_number`` while it trains: its curves so far) that are
        not stored yet, in one transaction; returns how many rows were written.

        They go to the trial's training run (see ``_schema``), made by the first call: no query
        of the study sees them, the live stream does. Called again with longer curves, it
        writes only the new epochs (a retry after a lost answer writes nothing twice);
        :meth:`add_run` takes them over when the trial ends.
        """
        self.ensure_schema()
        with session_scope(self.engine) as s:
            found = _training_run(s, study_id, trial_number)
            if found is None:
                row = RunRow(study_id=training_study_id(study_id), trial_number=trial_number, name=run.name,
                             role=run.role.value, state=RunState.RUNNING.value, task=task.value, loss=loss,
                             hyperparameters=jsonable(run.hyperparameters))
                s.add(row)
                s.flush()
                found = row.id
            rows = _epoch_rows(found, run, _last_epochs(s, found))
            s.add_all(rows)
        return len(rows)

    def has_runs(self, study_id: int) -> bool:
        """Whether the study has any run of ours (a sweep's or a recorder's); ``False`` without our tables."""
        if not inspect(self.engine).has_table(RunRow.__tablename__):
            return False
        with session_scope(self.engine) as s:
            return s.execute(select(RunRow.id).where(RunRow.study_id == study_id).limit(1)).first() is not None

    def replace_findings(
        self, *, study_id: int, findings: Iterable[Finding], run_ids: dict[str, int]
    ) -> int:
        """Replace the stored findings of the runs named in ``run_ids`` (and study-level ones).

        ``run_ids`` maps run names (``Finding.run``) to ``sd_runs.id``. Returns the
        number of rows written.
        """
        self.ensure_schema()
        findings = list(findings)
        with session_scope(self.engine) as s:
            ids = list(run_ids.values())
            if ids:
                s.execute(delete(FindingRow).where(FindingRow.run_id.in_(ids)))
            if any(f.run is None for f in findings):
                s.execute(
                    delete(FindingRow).where(FindingRow.study_id == study_id, FindingRow.run_id.is_(None))
                )
            s.add_all(
                FindingRow(
                    study_id=study_id,
                    run_id=None if f.run is None else run_ids.get(f.run),
                    code=f.code.value,
                    severity=f.severity.value,
                    rule=f.rule,
                    summary=f.summary,
                    advice=f.advice,
                    # the confidence rides in the evidence JSON: no new column, old databases read as before
                    evidence=jsonable({**f.evidence, "confidence": f.confidence}),
                )
                for f in findings
                if f.run is None or f.run in run_ids
            )
        return len(findings)

    # ---- reading ------------------------------------------------------------------

    def load_history(
        self,
        study_name: str,
        *,
        trial_numbers: Sequence[int] | None = None,
        include_baselines: bool = True,
    ) -> tuple[History, dict[str, int]]:
        """The study's stored curves as a :class:`History`, and run name → run id."""
        sid = self.study_id(study_name)
        runs, ids, task, loss = self._load_runs(sid, trial_numbers=trial_numbers, include_baselines=include_baselines)
        if not runs:
            raise CurvesNotFoundError(
                f"storage: study {study_name!r} has no curves of ours "
                "(was it made by plain Optuna, or is the trial number wrong?)"
            )
        assert task is not None and loss is not None
        return History(task=task, loss=loss, runs=tuple(runs)), ids

    def load_runs(self, study_id: int, *, role: Role | None = None) -> list[RunHistory]:
        """Every stored run of a study (optionally only candidates or baselines)."""
        runs, _, _, _ = self._load_runs(study_id, role=role)
        return runs

    def _load_runs(
        self,
        sid: int,
        *,
        trial_numbers: Sequence[int] | None = None,
        include_baselines: bool = True,
        role: Role | None = None,
    ) -> tuple[list[RunHistory], dict[str, int], Task | None, str | None]:
        self.ensure_schema()
        with session_scope(self.engine) as s:
            q = select(RunRow).where(RunRow.study_id == sid)
            if role is not None:
                q = q.where(RunRow.role == role.value)
            if trial_numbers is not None:
                cond: Any = RunRow.trial_number.in_(list(trial_numbers))
                if include_baselines:
                    cond = cond | (RunRow.role == Role.BASELINE.value)
                q = q.where(cond)
            elif not include_baselines:
                q = q.where(RunRow.role == Role.CANDIDATE.value)
            rows = list(s.execute(q.order_by(RunRow.id)).scalars())
            if not rows:
                return [], {}, None, None
            ids = [r.id for r in rows]
            epochs: dict[tuple[int, int], list[EpochRow]] = defaultdict(list)
            for e in s.execute(
                select(EpochRow)
                .where(EpochRow.run_id.in_(ids))
                .order_by(EpochRow.run_id, EpochRow.fold, EpochRow.epoch)
            ).scalars():
                epochs[(e.run_id, e.fold)].append(e)
            folds: dict[int, dict[int, FoldRow]] = defaultdict(dict)
            for f in s.execute(select(FoldRow).where(FoldRow.run_id.in_(ids))).scalars():
                folds[f.run_id][f.fold] = f
        task = Task(rows[0].task)
        loss = next((r.loss for r in rows if r.role == Role.CANDIDATE.value), rows[0].loss)
        runs = [_run_from_rows(r, epochs, folds[r.id]) for r in rows]
        return runs, {r.name: r.id for r in rows}, task, loss


def _run_from_rows(
    r: RunRow, epochs: dict[tuple[int, int], list[EpochRow]], folds: dict[int, FoldRow]
) -> RunHistory:
    n_folds = max([k + 1 for k in folds] + [f + 1 for (rid, f) in epochs if rid == r.id] + [0])
    return RunHistory(
        name=r.name,
        role=Role(r.role),
        depth=r.depth,
        n_params=r.n_params,
        hyperparameters=dict(r.hyperparameters or {}),
        state=r.state,
        score=_mean_score(folds),
        folds=tuple(
            FoldHistory(
                epochs=tuple(
                    EpochRecord(
                        epoch=e.epoch,
                        train_loss=e.train_loss,
                        val_loss=e.val_loss,
                        grad_norm=e.grad_norm,
                        lr=float("nan") if e.lr is None else e.lr,
                        val_metric=e.val_metric,
                        wall_time=e.wall_time,
                    )
                    for e in epochs.get((r.id, f), [])
                ),
                test_loss=folds[f].test_loss if f in folds else None,
                score=finite_or_none(folds[f].val_score) if f in folds else None,
            )
            for f in range(n_folds)
        ),
    )


def _mean_score(folds: dict[int, FoldRow]) -> float | None:
    """The run's cross-validation score: the mean of its folds' finite scores (``None`` without any)."""
    scores = [v for f in folds.values() if (v := finite_or_none(f.val_score)) is not None]
    return sum(scores) / len(scores) if scores else None


def _delete_trial_run(s: Any, trial_id: int) -> None:
    """The stored run of a trial, with its epochs, folds and findings (no cascade needed)."""
    ids = list(s.execute(select(RunRow.id).where(RunRow.trial_id == trial_id)).scalars())
    if not ids:
        return
    for table in (EpochRow, FoldRow, FindingRow):
        s.execute(delete(table).where(table.run_id.in_(ids)))
    s.execute(delete(RunRow).where(RunRow.id.in_(ids)))


def _put_trial_user_attrs(s: Any, trial_id: int, attrs: Mapping[str, Any]) -> None:
    """Set user attributes of an Optuna trial as Optuna stores them (``value_json``: ``json.dumps``)."""
    _put_user_attrs(s, o_trial_user_attrs, o_trial_user_attrs.c.trial_id, trial_id, attrs)


def _put_user_attrs(s: Any, table: Any, owner: Any, owner_id: int, attrs: Mapping[str, Any]) -> None:
    """Set user attributes of an Optuna trial or study (``owner``: its id column) as Optuna stores them."""
    s.execute(delete(table).where(owner == owner_id, table.c.key.in_(list(attrs))))
    s.execute(insert(table), [{owner.name: owner_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()])


def _training_run(s: Any, study_id: int, trial_number: int) -> int | None:
    """The id of trial ``trial_number``'s training run (see ``_schema``), or None when it has none."""
    return s.execute(select(RunRow.id).where(RunRow.study_id == training_study_id(study_id),
                                             RunRow.trial_number == trial_number).limit(1)).scalar()


def _last_epochs(s: Any, run_id: int) -> dict[int, int]:
    """Fold -> the last epoch stored for run ``run_id`` (folds without any left out)."""
    rows = s.execute(select(EpochRow.fold, func.max(EpochRow.epoch)).where(EpochRow.run_id == run_id)
                     .group_by(EpochRow.fold))
    return {int(fold): int(last) for fold, last in rows}


def _adopt_training_run(s: Any, study_id: int, trial_number: int, run_id: int) -> dict[int, int]:
    """Move the epochs of trial ``trial_number``'s training run to run ``run_id`` (the rows keep their ids)
    and delete the training run; returns fold -> the last epoch moved."""
    training = _training_run(s, study_id, trial_number)
    if training is None:
        return {}
    s.execute(update(EpochRow).where(EpochRow.run_id == training).values(run_id=run_id)
              .execution_options(synchronize_session=False))
    s.execute(delete(RunRow).where(RunRow.id == training).execution_options(synchronize_session=False))
    return _last_epochs(s, run_id)


def _epoch_rows(run_id: int, run: RunHistory, stored: Mapping[int, int] | None = None) -> list[EpochRow]:
    """The rows of ``run``'s epochs, but those up to ``stored[fold]`` (the last epoch of the fold already stored)."""
    after = stored or {}
    return [
        EpochRow(
            run_id=run_id,
            fold=f,
            epoch=e.epoch,
            train_loss=finite_or_none(e.train_loss),
            val_loss=finite_or_none(e.val_loss),
            val_metric=finite_or_none(e.val_metric),
            grad_norm=finite_or_none(e.grad_norm),
            lr=finite_or_none(e.lr),
            wall_time=finite_or_none(e.wall_time),
        )
        for f, fold in enumerate(run.folds)
        for e in fold.epochs
        if e.epoch > after.get(f, -1)
    ]
