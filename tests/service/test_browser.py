"""A real browser (Debian's headless chromium, driven by playwright) through the pages of a finished sweep.

Skipped without ``/usr/bin/chromium`` or playwright, unless ``SWEEPDOCTOR_REQUIRE_SERVERS=1``
(``.ci/run`` installs chromium). Screenshots are saved under the test's tmp dir.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service._servers import finished_sweep, serving

CHROMIUM = "/usr/bin/chromium"
REQUIRE = os.environ.get("SWEEPDOCTOR_REQUIRE_SERVERS") == "1"


def _need_browser() -> Any:
    if not Path(CHROMIUM).exists():
        if REQUIRE:
            pytest.fail(f"{CHROMIUM} is missing (SWEEPDOCTOR_REQUIRE_SERVERS=1): apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRE:
            pytest.fail("playwright is not installed (SWEEPDOCTOR_REQUIRE_SERVERS=1)")
        pytest.skip("playwright is not installed")
    return sync_playwright


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _need_browser()
    url = f"sqlite:///{tmp_path_factory.mktemp('browser')}/study.db"
    finished_sweep(url, "small")
    with serving(url) as base:
        yield base


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _points(page: Any, plot_id: str) -> int:
    """Markers or line segments plotly drew in the plot's svg (0 when nothing was drawn)."""
    page.wait_for_selector(f"#{plot_id} svg.main-svg", timeout=30_000)
    return int(page.locator(f"#{plot_id} .scatterlayer path.point, #{plot_id} .scatterlayer path.js-line").count())


def test_index_study_and_trial_pages_in_chromium(site: str, tmp_path: Path) -> None:
    sync_playwright = _need_browser()
    diagnosis = _json(f"{site}/api/studies/small/diagnosis")
    findings = set(diagnosis.get("counts") or diagnosis["stored_counts"])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(site + "/")
            assert page.locator("#studies tbody tr").count() == 1
            page.screenshot(path=str(tmp_path / "index.png"), full_page=True)

            page.click("text=small")
            page.wait_for_url("**/studies/small")
            assert _points(page, "plot-values") >= 6
            assert _points(page, "plot-param-0") >= 6
            # the plots after the first are drawn one a task: every one of them is, the last included
            plots = page.locator("div.plot").evaluate_all("ds => ds.map(d => d.id)")
            assert len(plots) >= 4 and plots[0] == "plot-values", plots
            drawn = {plot_id: _points(page, plot_id) for plot_id in plots[1:]}
            assert all(n >= 1 for n in drawn.values()), drawn  # a conditional parameter has fewer trials
            listed = set(page.locator("#findings tbody tr td:first-child").all_inner_texts())
            assert listed == findings and listed
            assert page.locator("#trials tbody tr").count() == 6
            page.screenshot(path=str(tmp_path / "study.png"), full_page=True)

            page.fill("input[name=where]", "number<=1")
            page.click("button[type=submit]")
            page.wait_for_url("**where=number*")
            assert page.locator("#trials tbody tr").count() == 2
            page.screenshot(path=str(tmp_path / "study-filtered.png"), full_page=True)

            page.click("#trials tbody tr:first-child a")
            page.wait_for_url("**/studies/small/trials/*")
            assert _points(page, "plot-loss") >= 4  # train and validation per fold, beside the baselines
            assert _points(page, "plot-grad") >= 2
            assert page.locator("#params tbody tr").count() >= 5
            page.screenshot(path=str(tmp_path / "trial.png"), full_page=True)
        finally:
            browser.close()
    for name in ("index", "study", "study-filtered", "trial"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def test_live_curves_arrive_in_chromium_while_a_sweep_runs(tmp_path: Path) -> None:
    """The study page opened mid-sweep draws the stream's epochs and lists the trials that finish."""
    import threading
    import time
    from dataclasses import replace

    from sweepdoctor import sweep
    from tests.sweep.helpers import small_config

    sync_playwright = _need_browser()
    url = f"sqlite:///{tmp_path}/live.db"
    # digits, 25 epochs: seconds a trial, so that the page opens while one runs
    cfg = small_config(url, "live", trials=4, epochs=25, folds=2, sampler="random")
    cfg = replace(cfg, study=replace(cfg.study, pruner="median"))  # progress events while a trial trains
    sweep.run(replace(cfg, study=replace(cfg.study, trials=1)), data=sweep.load_builtin("digits", seed=0))
    def pause(_event: object) -> None:  # between trials: the page, opened during one, hears of the next ones
        time.sleep(1.5)

    runner = threading.Thread(target=sweep.run, args=(cfg,),
                              kwargs={"data": sweep.load_builtin("digits", seed=0), "on_trial": pause})
    with serving(url) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            runner.start()
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            for _ in range(100):  # the page listens only while a trial runs
                page.goto(base + "/studies/live")
                if page.locator("#live").count():
                    break
                page.wait_for_timeout(100)
            page.wait_for_function("Number(document.getElementById('live').dataset.trials) >= 1", timeout=60_000)
            page.wait_for_function("Number(document.getElementById('live').dataset.epochs) >= 2", timeout=60_000)
            assert _points(page, "plot-live") >= 2
            assert "trial " in page.locator("#live-log").inner_text()
            page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
        finally:
            browser.close()
            runner.join(timeout=120)
