"""What guided search stores and prints: a plan as a dict, a round's entry and the space it reads back,
the ``[space]`` TOML of a space, the limits as a ``[guide]`` table, a suggestion's TOML and dict.

Each is checked against values worked out by hand from the rules' documented arithmetic, or by a
round trip through the loader the user's files go through (``load_config``, ``tomllib``).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import tomllib

from sweepdoctor.diagnostics import FindingCode as F
from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep import Choice, Fixed, FloatRange, GuideConfig, IntRange, SearchSpace, load_config, suggest_next
from sweepdoctor.sweep.guide import (
    GuideLimits,
    TrialOutcome,
    latest_space,
    plan_round,
    round_entry,
    space_toml,
)
from sweepdoctor.sweep.guide._toml import toml_value

SPACE = SearchSpace(lr=FloatRange(1e-4, 0.3, log=True), optimizer=Choice(("sgd", "momentum", "adam")))


def _t(n: int, value: float, lr: float, *codes: F, **params: object) -> TrialOutcome:
    return TrialOutcome(n, "complete", value, {"lr": lr, "optimizer": "adam", "weight_decay": 1e-4, "dropout": 0.2,
                                               **params}, frozenset(codes))


def _overfit_study() -> list[TrialOutcome]:
    healthy = [_t(i, 0.9 + 0.001 * i, 10 ** (-3.5 + 0.25 * i), F.HEALTHY) for i in range(8)]
    return healthy + [_t(60 + i, 0.99 - 0.001 * i, 3e-3 * (1 + i), F.OVERFITTING, patience=0) for i in range(3)]


# ---- a plan as stored: its edits, notes and probes as plain data ------------------------------


def test_a_plan_as_a_dict_holds_each_edit_and_probe_in_full() -> None:
    """11 complete trials: the best quarter is ceil(11 / 4) = 3, all overfit: weight decay 1e-2 -> 1e-1
    (10x, the limit), and the two best are probed with weight decay 1e-3, dropout 0.4, patience 5."""
    plan = plan_round(SPACE, _overfit_study(), maximize=True)
    d = plan.to_dict()
    assert d["edits"] == [{"param": "weight_decay", "before": "1e-06..0.01 (log) or 0",
                           "after": "1e-06..0.1 (log) or 0",
                           "reason": "3 of the 3 best trials overfit: up to 10x stronger weight decay",
                           "codes": ["overfitting"], "trials": [60, 61, 62]}]
    assert d["notes"] == []
    assert [p["trial"] for p in d["probes"]] == [60, 61]
    first = d["probes"][0]
    assert first["codes"] == ["overfitting"]
    assert first["changes"] == {"weight_decay": [pytest.approx(1e-4), pytest.approx(1e-3)], "dropout": [0.2, 0.4],
                                "patience": [0, 5]}
    assert first["params"]["weight_decay"] == pytest.approx(1e-3) and first["params"]["optimizer"] == "adam"
    assert first["reason"] == "trial 60 (validation loss rose while training fell; stop when validation loss " \
                              "has not improved for 5 epochs)"


def test_too_few_trials_say_how_many_there_are_and_how_many_are_needed() -> None:
    plan = plan_round(SPACE, _overfit_study()[:3], maximize=True)
    assert plan.notes == ("3 complete trials: too few to plan from (need 4)",) and plan.space is SPACE
    four = plan_round(SPACE, _overfit_study()[:4], maximize=True)
    assert not four.notes  # four complete trials are enough


def test_a_mismatch_note_names_the_best_trials() -> None:
    outcomes = _overfit_study()[:8] + [_t(70 + i, 0.99, 3e-3, F.MISMATCH) for i in range(3)]
    (note,) = plan_round(SPACE, outcomes, maximize=True).notes
    assert note == ("the best trials [70, 71, 72] score worse on the test set than in validation (mismatch): "
                    "the search space cannot fix that; look at the data")


# ---- a round as stored, and the space a resumed study reads back ---------------------------------


def test_a_stored_round_gives_back_its_space() -> None:
    plan = plan_round(SPACE, _overfit_study(), maximize=True)
    entry = round_entry(index=2, first_trial=11, plan=plan)
    assert (entry["round"], entry["from_trial"]) == (2, 11)
    assert entry["edits"] == plan.to_dict()["edits"] and entry["probes"] == plan.to_dict()["probes"]
    assert entry["space"] == space_toml(plan.space)
    first = round_entry(index=1, first_trial=0, plan=plan_round(SPACE, [], maximize=True))
    assert latest_space([first, entry], SPACE) == plan.space  # the last round's
    assert latest_space([entry, first], SPACE) == SPACE
    assert latest_space([], SPACE) is SPACE


def test_a_stored_round_without_some_parameters_keeps_the_studys_own() -> None:
    """An older round stored only some parameters: the rest come from the study's configured space."""
    initial = SearchSpace(width=Fixed(64), optimizer=Choice(("sgd", "adam")))
    space = latest_space([{"space": "[space]\nlr = {low = 0.001, high = 0.1, log = true}\n"}], initial)
    assert space.lr == FloatRange(1e-3, 0.1, log=True)
    assert (space.width, space.optimizer) == (Fixed(64), Choice(("sgd", "adam")))


@pytest.mark.parametrize("stored", [{"space": "[space\nlr = "}, {}, {"space": 42}, {"space": "[data]\nx = 1\n"},
                                    {"space": "[space]\nlr = {low = 1.0, high = 0.1}\n"}])
def test_a_stored_round_that_cannot_be_read_is_a_config_error(stored: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="resume it without --guided"):
        latest_space([stored], SPACE)


# ---- the [space] table -------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [(True, "true"), (False, "false"), (3, "3"), (1.0, "1.0"),
                                             (0.25, "0.25"), (1e-5, "1e-05"), ("adam", '"adam"'),
                                             ('a "b" \\ c', '"a \\"b\\" \\\\ c"')])
def test_toml_values_read_back_as_themselves(value: object, text: str) -> None:
    assert toml_value(value) == text
    assert tomllib.loads(f"x = {text}")["x"] == value


def test_every_kind_of_parameter_round_trips_through_the_loader(tmp_path: Path) -> None:
    space = SearchSpace(lr=FloatRange(1e-4, 0.3, log=True), batch_size=IntRange(16, 256, log=True),
                        optimizer=Choice(("sgd", "adam")), dropout=FloatRange(0.0, 0.5), width=Fixed(64),
                        batch_norm=Fixed(False), weight_decay=FloatRange(1e-6, 1e-2, log=True, include_zero=True),
                        ).with_lr_window(["adam"], FloatRange(1e-3, 1e-2, log=True)).with_lr_window(
                            ["sgd"], FloatRange(1e-2, 0.1, log=True))
    text = space_toml(space)
    assert ("optimizer_lr = {sgd = {low = 0.01, high = 0.1, log = true}, adam = {low = 0.001, high = 0.01, "
            "log = true}}") in text
    assert "weight_decay = {low = 1e-06, high = 0.01, log = true, include_zero = true}" in text
    assert "batch_size = {low = 16, high = 256, log = true}" in text and "batch_norm = false" in text
    assert "dropout = {low = 0.0, high = 0.5}" in text
    path = tmp_path / "s.toml"
    path.write_text(text)
    assert load_config(path).space == space


def test_only_the_named_parameters_are_written() -> None:
    assert space_toml(SPACE, only={"lr", "width"}) == "[space]\nlr = {low = 0.0001, high = 0.3, log = true}\n" \
                                                      "width = 128\n"
    assert "optimizer_lr" not in space_toml(SPACE)  # no windows: no line


# ---- the limits as the [guide] table --------------------------------------------------------------


def test_the_limits_and_the_guide_table_say_the_same() -> None:
    assert GuideLimits.from_config(GuideConfig()) == GuideLimits()
    assert GuideLimits().to_config() == GuideConfig()
    g = GuideConfig(min_lr=1e-5, max_lr=0.5, max_weight_decay=0.05, max_dropout=0.6, max_depth=4, max_width=512)
    limits = GuideLimits.from_config(g)
    assert limits == GuideLimits(lr=(1e-5, 0.5), weight_decay=(1e-7, 0.05), dropout=(0.0, 0.6), depth=(1, 4),
                                 width=(8, 512))
    assert limits.to_config() == g


@pytest.mark.parametrize(("written", "state"), [("complete", "complete"), ("failed", "fail"), ("FAIL", "fail"),
                                                ("pruned", "pruned"), ("running", "running"), ("odd", "odd")])
def test_a_trials_state_is_read_as_a_run_state_word(written: str, state: str) -> None:
    assert TrialOutcome(0, written, 1.0, {}).state == state


# ---- a suggestion as TOML and as data -------------------------------------------------------------


def test_a_suggestion_puts_training_changes_in_the_train_table() -> None:
    run = {"lr": 0.05, "optimizer": "sgd", "loss": "mse"}
    s = suggest_next(run, {F.SLOW_CONVERGENCE, F.MSE_FOR_CLASSIFICATION}, epochs=10)
    assert dict(s.changes) == {"optimizer": "adam", "epochs": 20, "loss": "cross_entropy"}
    text = s.to_toml(header="after trial 3")
    assert text.splitlines()[0] == "# after trial 3"
    assert tomllib.loads(text) == {"space": {"optimizer": "adam"}, "train": {"epochs": 20, "loss": "cross_entropy"}}
    assert s.to_toml().startswith("# the next run to try (sweepdoctor diagnose --suggest)\n[space]\n")
    assert s.to_dict() == {"changes": dict(s.changes), "reasons": dict(s.reasons), "notes": [], "missing": []}


def test_a_suggestion_of_training_changes_only_has_no_space_table() -> None:
    s = suggest_next({"loss": "mse"}, {F.MSE_FOR_CLASSIFICATION})
    assert tomllib.loads(s.to_toml()) == {"train": {"loss": "cross_entropy"}}


def test_a_suggestion_without_changes_is_a_header_and_its_notes() -> None:
    s = suggest_next({"lr": 0.01}, {F.MISMATCH})
    assert s.changes == {} and s.to_toml() == ("# the next run to try (sweepdoctor diagnose --suggest)\n"
                                               f"# note: {s.notes[0]}\n")
    assert tomllib.loads(s.to_toml()) == {}


def test_a_suggestion_names_what_the_run_did_not_give() -> None:
    """Divergence needs lr; a stall needs the optimizer (and lr for an adaptive one); model bias the width."""
    assert suggest_next({}, {F.DIVERGENCE}).missing == ("lr",)
    assert suggest_next({}, {F.OSCILLATION}).missing == ("lr",)
    assert suggest_next({}, {F.CRITICAL_POINT}).missing == ("optimizer",)
    assert suggest_next({"optimizer": "adam"}, {F.SADDLE_POINT}).missing == ("lr",)
    assert suggest_next({"optimizer": "momentum"}, {F.OPTIMIZATION_FAILURE}).missing == ("lr",)
    assert suggest_next({"optimizer": "sgd"}, {F.SLOW_CONVERGENCE}).missing == ()  # the fix is Adam, no lr needed
    assert suggest_next({}, {F.MODEL_BIAS}).missing == ("width",)
    assert suggest_next({"depth": 2}, {F.MODEL_BIAS}).missing == ()
    assert suggest_next({"lr": True}, {F.DIVERGENCE}).missing == ("lr",)  # a flag is not a rate
    for bad in (math.inf, math.nan, 0, -0.5):
        with pytest.raises(ConfigError, match="lr must be a positive number"):
            suggest_next({"lr": bad}, {F.HEALTHY})
    assert suggest_next({}, {F.HEALTHY}).to_dict()["missing"] == []
