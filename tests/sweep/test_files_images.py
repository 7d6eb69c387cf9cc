"""Image folders: one subfolder per class, PNG/JPEG read with Pillow; what is loaded and what is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sweepdoctor.diagnostics import Task
from sweepdoctor.errors import DataError
from sweepdoctor.sweep.config import DataConfig
from sweepdoctor.sweep.data import load_dataset, load_image_folder

RNG = np.random.default_rng(0)


def _save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _grey(h: int = 6, w: int = 5) -> np.ndarray:
    return RNG.integers(0, 256, (h, w), dtype=np.uint8)


def _folder(root: Path, classes: dict[str, int], *, h: int = 6, w: int = 5) -> Path:
    """``root/<class>/<i>.png``: grey images of h x w, ``classes[name]`` of each."""
    for name, n in classes.items():
        for i in range(n):
            _save(root / name / f"{i}.png", _grey(h, w))
    return root


def test_grey_pngs_become_one_channel_in_0_1_and_classes_are_the_folder_names(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    pixels = {}
    for name in ("zebra", "ant"):
        for i in range(6):
            pixels[(name, i)] = _grey()
            _save(root / name / f"{i}.png", pixels[(name, i)])
    ds = load_image_folder(root)
    assert ds.X.shape == (12, 1, 6, 5) and ds.X.dtype == np.float32 and ds.sample_shape == (1, 6, 5)
    assert ds.task is Task.CLASSIFICATION and ds.classes == ("ant", "zebra") and ds.name == "imgs"
    assert ds.y.tolist() == [0] * 6 + [1] * 6  # files sorted: the ant folder first
    np.testing.assert_allclose(ds.X[0, 0], pixels[("ant", 0)] / 255.0, atol=1e-6)
    np.testing.assert_allclose(ds.X[11, 0], pixels[("zebra", 5)] / 255.0, atol=1e-6)


def test_one_colour_image_makes_them_all_rgb(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", {"a": 5, "b": 5})
    red = np.zeros((6, 5, 3), dtype=np.uint8)
    red[..., 0] = 255
    _save(root / "b" / "red.png", red)
    ds = load_image_folder(root)
    assert ds.X.shape == (11, 3, 6, 5)
    red_row = ds.X[-1]  # b/red.png sorts after b/4.png
    assert red_row[0].min() == 1.0 and red_row[1].max() == 0.0 and red_row[2].max() == 0.0
    grey_row = ds.X[0]  # a grey image in RGB: three equal channels
    np.testing.assert_array_equal(grey_row[0], grey_row[1])
    np.testing.assert_array_equal(grey_row[0], grey_row[2])


def test_a_palette_image_counts_as_colour(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", {"a": 5, "b": 5})
    Image.fromarray(RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)).convert("P").save(root / "a" / "p.png")
    assert load_image_folder(root).X.shape == (11, 3, 6, 5)


def test_jpeg_files_are_read(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    for name in ("a", "b"):
        for i in range(5):
            _save(root / name / f"{i}.JPG", np.full((8, 8, 3), 40 * i, dtype=np.uint8))
    ds = load_image_folder(root)
    assert ds.X.shape == (10, 3, 8, 8)
    np.testing.assert_allclose(ds.X[:5, :, 4, 4].mean(axis=1), [40 * i / 255 for i in range(5)], atol=0.02)


def test_mode_forces_grey_or_rgb(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", {"a": 5, "b": 5})
    colour = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    _save(root / "a" / "c.png", colour)
    grey = load_image_folder(root, mode="grey")
    assert grey.X.shape == (11, 1, 6, 5)
    expected = np.asarray(Image.fromarray(colour).convert("L"), dtype=np.float32) / 255
    np.testing.assert_allclose(grey.X[5, 0], expected, atol=1e-6)  # a/c.png sorts after a/4.png
    assert load_image_folder(_folder(tmp_path / "g", {"a": 5, "b": 5}), mode="rgb").X.shape == (10, 3, 6, 5)


def test_size_resizes_every_image(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", {"a": 5, "b": 5}, h=12, w=10)
    _save(root / "b" / "big.png", np.full((30, 20), 255, dtype=np.uint8))
    ds = load_image_folder(root, size=(4, 3))
    assert ds.X.shape == (11, 1, 4, 3)
    np.testing.assert_allclose(ds.X[-1], 1.0)  # a white image stays white
    assert load_image_folder(root, size=7).X.shape == (11, 1, 7, 7)
    assert load_dataset(DataConfig(images=str(root), image_size="5x9")).X.shape == (11, 1, 5, 9)


def test_16_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", {"a": 5, "b": 4})
    deep = np.full((6, 5), 65535, dtype=np.uint16)
    deep[0, 0] = 0
    _save(root / "b" / "deep.png", deep)
    ds = load_image_folder(root)
    assert ds.X.shape == (10, 1, 6, 5) and ds.X.max() <= 1.0
    assert ds.X[-1, 0, 0, 0] == 0.0 and ds.X[-1, 0, 5, 4] == 1.0


def test_hidden_and_other_files_are_skipped(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", {"a": 5, "b": 5})
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "a" / ".DS_Store").write_bytes(b"\0\1")
    _save(root / "a" / ".hidden" / "x.png", _grey())
    (root / ".cache").mkdir()
    assert load_image_folder(root).X.shape == (10, 1, 6, 5)


def test_test_folder_with_some_of_the_classes(tmp_path: Path) -> None:
    root = _folder(tmp_path / "train", {"a": 5, "b": 5, "c": 5})
    test = _folder(tmp_path / "test", {"c": 2, "a": 1})
    ds = load_dataset(DataConfig(images=str(root), test_images=str(test)))
    assert ds.X_test is not None and ds.X_test.shape == (3, 1, 6, 5)
    assert ds.y_test is not None and ds.y_test.tolist() == [0, 2, 2]


def _truncated(root: Path) -> Path:
    _folder(root, {"a": 5, "b": 5}, h=40, w=40)
    p = root / "b" / "cut.png"
    _save(p, RNG.integers(0, 256, (40, 40), dtype=np.uint8))
    p.write_bytes(p.read_bytes()[:200])  # the header reads, the pixels do not
    return root


def _corrupt(root: Path) -> Path:
    _folder(root, {"a": 5, "b": 5})
    (root / "a" / "broken.png").write_bytes(b"this is not a picture")
    return root


def _gif(root: Path) -> Path:
    _folder(root, {"a": 5, "b": 5})
    Image.fromarray(_grey()).save(root / "b" / "anim.png", format="GIF")
    return root


def _mixed(root: Path) -> Path:
    _folder(root, {"a": 5, "b": 5}, h=6, w=5)
    _save(root / "b" / "wide.png", _grey(6, 9))
    return root


def _single(root: Path) -> Path:
    return _folder(root, {"only": 12})


def _empty(root: Path) -> Path:
    root.mkdir()
    return root


def _empty_class(root: Path) -> Path:
    _folder(root, {"a": 5, "b": 5})
    (root / "c").mkdir()
    (root / "c" / "readme.txt").write_text("x")
    return root


def _loose(root: Path) -> Path:
    for i in range(3):
        _save(root / f"{i}.png", _grey())
    return root


def _a_file(root: Path) -> Path:
    root.write_text("x")
    return root


def _few(root: Path) -> Path:
    return _folder(root, {"a": 2, "b": 2})


CASES = {
    "corrupt image": (_corrupt, r"cannot read image '.*broken\.png' \(not a PNG or JPEG image\); it must be a "
                                r"readable PNG or JPEG file: fix or remove it"),
    "truncated image": (_truncated, r"cannot read image '.*cut\.png' \(image file is truncated\)"),
    "a GIF named .png": (_gif, r"cannot read image '.*anim\.png' \(not a PNG or JPEG image\)"),
    "mixed sizes": (_mixed, r"the images differ in size: '.*0\.png' is 6x5 and '.*wide\.png' is 6x9 "
                            r"\(height x width\); resize them all with --image-size"),
    "single class": (_single, r"image folder '.*' has one class folder \('only'\); a classifier needs at least 2"),
    "empty folder": (_empty, r"image folder '.*' is empty; it needs one subfolder"),
    "class folder without images": (_empty_class, r"class folder '.*c' has no PNG or JPEG images"),
    "images without class folders": (_loose, r"has images but no class subfolders"),
    "missing folder": (lambda root: root, r"image folder '.*' does not exist; check the path \(--images\)"),
    "a file": (_a_file, r"'.*' is not a folder; --images needs a folder"),
    "too few images": (_few, r"data: '.*': need at least 10 rows, got 4"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_folder_is_refused_naming_the_file(tmp_path: Path, name: str) -> None:
    make, match = CASES[name]
    with pytest.raises(DataError, match=match):
        load_image_folder(make(tmp_path / "imgs"))


def test_test_folder_must_match(tmp_path: Path) -> None:
    root = _folder(tmp_path / "train", {"a": 5, "b": 5})
    with pytest.raises(DataError, match=r"test image folder '.*' has class folders that '.*' lacks: 'z'"):
        load_image_folder(root, test_path=_folder(tmp_path / "t1", {"a": 1, "z": 1}))
    with pytest.raises(DataError, match=r"the images differ in size"):
        load_image_folder(root, test_path=_folder(tmp_path / "t2", {"a": 2}, h=9, w=9))
    with pytest.raises(DataError, match=r"does not exist; check the path \(--test-images\)"):
        load_image_folder(root, test_path=tmp_path / "absent")
    sized = load_image_folder(root, test_path=tmp_path / "t2", size=4)
    assert sized.X_test is not None and sized.X_test.shape == (2, 1, 4, 4)
