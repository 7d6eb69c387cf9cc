"""An image study from end to end: a folder of PNGs swept from the CLI (the built-in CNN), then
diagnosed, queried, served, reported and refit, as a table study is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.datasets import load_digits

from sweepdoctor import sweep
from sweepdoctor.cli import main
from tests.service.conftest import MakeClient


@pytest.fixture(scope="module")
def image_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """Digits 0, 1 and 7 as 8x8 grey PNGs in class folders, swept with --refit; (url, folder, refit dir)."""
    root = tmp_path_factory.mktemp("images")
    X, y = load_digits(return_X_y=True)
    for label in (0, 1, 7):
        (root / "imgs" / f"digit{label}").mkdir(parents=True)
        for i in np.flatnonzero(y == label)[:40]:
            Image.fromarray((X[i].reshape(8, 8) * 255 / 16).astype(np.uint8), mode="L").save(
                root / "imgs" / f"digit{label}" / f"{i}.png")
    url = f"sqlite:///{root / 'img.db'}"
    r = CliRunner().invoke(main, ["sweep", "--images", str(root / "imgs"), "--trials", "3", "--epochs", "3",
                                  "--folds", "3", "--study", "digit-images", "--storage", url, "--threads", "1",
                                  "--refit", str(root / "model"), "--diagnose", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["study_name"] == "digit-images" and doc["best_params"]["model"] == "cnn"
    assert doc["training_path"] in ("vectorized", "sequential")  # lockstep by batch size (test_images)
    return url, root / "imgs", root / "model"


def test_the_image_study_is_diagnosed_and_queried(image_study) -> None:
    url, _, _ = image_study
    diag = CliRunner().invoke(main, ["diagnose", "--study", "digit-images", "--storage", url, "--json"])
    assert diag.exit_code == 0, diag.output
    assert isinstance(json.loads(diag.stdout), dict)
    shown = CliRunner().invoke(main, ["studies", "show", "digit-images", "--storage", url, "--json"])
    assert shown.exit_code == 0, shown.output
    assert "digit-images" in shown.stdout and "conv_blocks" in shown.stdout
    listed = CliRunner().invoke(main, ["studies", "list", "--storage", url])
    assert listed.exit_code == 0 and "digit-images" in listed.stdout
    curves = CliRunner().invoke(main, ["studies", "curves", "digit-images", "--trial", "0", "--storage", url,
                                       "--json"])
    assert curves.exit_code == 0, curves.output
    assert json.loads(curves.stdout)["points"][0]["val_max"] is not None


def test_the_image_study_is_served_and_reported(image_study, make_client: MakeClient, tmp_path: Path) -> None:
    url, _, _ = image_study
    c = make_client(url)
    page = c.get("/studies/digit-images")
    assert page.status_code == 200 and 'id="plot-values"' in page.text
    trial = c.get("/studies/digit-images/trials/0")
    assert trial.status_code == 200 and 'id="plot-loss"' in trial.text
    assert c.get("/api/studies/digit-images/diagnosis").status_code == 200
    out = tmp_path / "report.html"
    r = CliRunner().invoke(main, ["report", "--study", "digit-images", "--storage", url, "--html", str(out)])
    assert r.exit_code == 0, r.output
    assert "digit-images" in out.read_text(encoding="utf-8")


def test_the_refit_cnn_loads_and_predicts(image_study) -> None:
    _, folder, model_dir = image_study
    ds = sweep.load_image_folder(folder)
    model = sweep.load_model(model_dir)
    assert model.sample_shape == (1, 8, 8)
    pred = model.predict(ds.X)
    assert set(pred) <= {"digit0", "digit1", "digit7"}
    assert float(np.mean(pred == np.asarray(ds.classes, dtype=object)[ds.y])) > 0.6  # chance: 1/3
