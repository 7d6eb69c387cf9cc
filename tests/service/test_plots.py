"""The study page's plots tell the truth at any size: every trial counted, the best over all of them."""

from __future__ import annotations

import json
import re

import pytest

from sweepdoctor.service._plots import value_label, varying_params
from sweepdoctor.studies import TrialRecord
from tests.service._big import big_study
from tests.service.conftest import MakeClient


def _figure(html: str, plot_id: str) -> dict:  # type: ignore[type-arg]
    m = re.search(rf'<script type="application/json" id="{plot_id}-fig">(.*?)</script>', html, re.S)
    assert m is not None, f"no figure {plot_id}"
    return json.loads(m.group(1))  # type: ignore[no-any-return]


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_value_by_trial_on_a_large_study_ends_at_the_best(sqlite_url: str, make_client: MakeClient,
                                                           direction: str) -> None:
    best = big_study(sqlite_url, "big", 20_000, direction=direction)
    c = make_client(sqlite_url, token=None)
    summary = c.get("/api/studies/big").json()["summary"]
    html = c.get("/studies/big").text
    fig = _figure(html, "plot-values")
    line = next(t for t in fig["data"] if t["name"] == "best so far")
    assert line["y"][-1] == best == summary["best_value"]
    assert line["x"][-1] >= max(max(t["x"]) for t in fig["data"] if t["name"] != "best so far")
    drawn = sum(len(t["x"]) for t in fig["data"] if t["name"] != "best so far")
    complete = summary["states"]["complete"]
    assert drawn <= 2000 < complete
    title = fig["layout"]["title"]["text"]
    assert f"all {complete:,} complete trials" in title and f"({drawn:,} points)" in title
    # the study's metric attribute says accuracy: only a maximized value is labelled so
    label = fig["layout"]["yaxis"]["title"]["text"]
    assert label == ("accuracy (maximize)" if direction == "maximize" else "value (minimize)")
    assert f"the latest 0 of {complete:,}" not in html


def test_value_label_names_the_metric_only_when_the_direction_agrees() -> None:
    assert value_label("accuracy", "maximize") == "accuracy (maximize)"
    assert value_label("accuracy", "minimize") == "value (minimize)"
    assert value_label("cross_entropy", "minimize") == "cross_entropy (minimize)"
    assert value_label("mse", "maximize") == "value (maximize)"
    assert value_label(None, "minimize") == "value (minimize)"


def test_fixed_parameters_get_no_plot() -> None:
    trials = [TrialRecord(number=i, trial_id=i, state="complete", value=float(i), datetime_start=None,
                          datetime_complete=None, params={"lr": 10.0 ** -i, "batch_size": 64, "opt": "adam"})
              for i in range(1, 4)]
    assert varying_params(trials) == (["lr"], {"batch_size": 64, "opt": "adam"})
