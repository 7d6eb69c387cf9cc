"""Images from a folder with one subfolder per class, read with Pillow (PNG and JPEG).

The class of an image is the name of its subfolder (classes sorted by name). Every image
becomes float32 ``(C, H, W)`` in [0, 1]: grey (C = 1) or RGB (C = 3), chosen from the files
(any colour image makes them all RGB) unless ``mode`` says. The folder is read twice: once
for the headers (sizes and colour, so a bad folder is refused before anything is decoded),
once to decode into one array allocated up front. A folder whose decoded images would
take more than a quarter of the memory available (``stream = "auto"``; or ``"always"``) is
not decoded up front: its images are read and decoded on demand, batch by batch, in
worker processes (:class:`~sweepdoctor.sweep.data._stream.SampleStream`).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from sweepdoctor.diagnostics import Task
from sweepdoctor.errors import DataError
from sweepdoctor.sweep.data._datasets import Dataset, from_arrays, with_labels
from sweepdoctor.sweep.data._files import in_file
from sweepdoctor.sweep.data._stream import SampleStream, should_stream

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["IMAGE_SUFFIXES", "load_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_FORMATS = ["PNG", "JPEG"]  # Pillow tries these decoders only, whatever the suffix says
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}  # 16-bit grey PNG: scaled by 65535, not clipped to 255


class _Image(NamedTuple):
    path: Path
    label: str  # the class: its folder's name
    hw: tuple[int, int]  # height, width
    colour: bool


def load_image_folder(
    path: str | Path,
    *,
    size: int | tuple[int, int] | None = None,
    mode: str = "auto",
    test_path: str | Path | None = None,
    stream: str = "auto",
) -> Dataset:
    """A classification dataset from ``path/<class>/*.png|jpg|jpeg``.

    ``size``: N or (height, width) to resize every image to; without it all images must have
    the same size. ``mode``: ``"grey"``, ``"rgb"`` or ``"auto"``. ``test_path``: a test
    folder laid out the same way, its classes among ``path``'s. ``stream``: ``"auto"``,
    ``"always"`` or ``"never"`` (see the module docstring).
    """
    if mode not in ("auto", "grey", "rgb"):
        raise DataError(f"data: image mode must be auto, grey or rgb, got {mode!r}")
    root = Path(path)
    train = _scan(root, "--images")
    labels = sorted({im.label for im in train})
    if len(labels) < 2:
        raise DataError(f"data: image folder {str(root)!r} has one class folder ({labels[0]!r}); a classifier "
                        "needs at least 2: add a subfolder of images per class")
    test = _scan(Path(test_path), "--test-images") if test_path is not None else []
    extra = sorted({im.label for im in test} - set(labels))
    if extra:
        raise DataError(f"data: test image folder {str(test_path)!r} has class folders that {str(root)!r} lacks: "
                        f"{', '.join(map(repr, extra[:5]))}; give both folders the same classes")
    hw = _common_size(train + test, size)
    channels = {"grey": 1, "rgb": 3}.get(mode) or (3 if any(im.colour for im in train + test) else 1)
    y = np.array([im.label for im in train])
    yt = np.array([im.label for im in test]) if test else None
    origin = _origin(train + test, hw, channels)
    if should_stream(4 * channels * hw[0] * hw[1] * len(train + test), stream):
        X: Any = SampleStream(_ImageSource([im.path for im in train], hw, channels), (channels, *hw))
        Xt: Any = SampleStream(_ImageSource([im.path for im in test], hw, channels), (channels, *hw)) if test else None
        with in_file(repr(str(root))):
            ds = with_labels(root.name or "images", X, y, task=Task.CLASSIFICATION, X_test=Xt, y_test=yt)
    else:
        X, Xt = _decode(train, hw, channels), (_decode(test, hw, channels) if test else None)
        with in_file(repr(str(root))):
            ds = from_arrays(X, y, task=Task.CLASSIFICATION, X_test=Xt, y_test=yt, name=root.name or "images")
    return replace(ds, origin=origin)


def _origin(images: list[_Image], hw: tuple[int, int], channels: int) -> str:
    """What names a folder's samples: every file's path, size and modification time, and the decoding."""
    h = hashlib.sha256(f"{hw}|{channels}".encode())
    for im in images:
        st = im.path.stat()
        h.update(f"{im.label}/{im.path.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    return "images:" + h.hexdigest()[:16]


class _ImageSource:
    """An image folder's files as a stream's source: image ``i`` decoded when it is read."""

    def __init__(self, paths: list[Path], hw: tuple[int, int], channels: int) -> None:
        self.paths, self.hw, self.channels = paths, hw, channels

    def __len__(self) -> int:
        return len(self.paths)

    def sample(self, i: int) -> np.ndarray:
        return _decode_one(self.paths[i], self.hw, self.channels)

    def fingerprint(self) -> str:
        h = hashlib.sha256(f"{self.hw}|{self.channels}".encode())
        for p in self.paths:
            h.update(str(p).encode())
        return h.hexdigest()[:16]


def _scan(root: Path, flag: str) -> list[_Image]:
    """Every image below the class folders of ``root``, with its header read (sorted, hidden files skipped)."""
    shown = repr(str(root))
    if not root.exists():
        raise DataError(f"data: image folder {shown} does not exist; check the path ({flag})")
    if not root.is_dir():
        raise DataError(f"data: {shown} is not a folder; {flag} needs a folder with one subfolder of images per class")
    try:
        entries = sorted(root.iterdir())
    except OSError as e:
        raise DataError(f"data: cannot read image folder {shown}: {e.strerror}") from None
    classes = [d for d in entries if d.is_dir() and not d.name.startswith(".")]
    if not classes:
        loose = any(p.suffix.lower() in IMAGE_SUFFIXES for p in entries)
        raise DataError(f"data: image folder {shown} " + ("has images but no class subfolders; put the images of "
                        "each class in a subfolder named after the class" if loose else
                        "is empty; it needs one subfolder of PNG/JPEG images per class"))
    found = []
    for d in classes:
        files = _image_files(d)
        if not files:
            raise DataError(f"data: class folder {str(d)!r} has no PNG or JPEG images ({', '.join(IMAGE_SUFFIXES)}); "
                            "add some or remove the folder")
        found += [_header(f, d.name) for f in files]
    return found


def _image_files(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(d).parts))


def _pil() -> Any:
    """Pillow's ``Image`` module, imported when an image folder is read (not for ``--help``)."""
    from PIL import Image

    return Image


def _unreadable(path: Path, e: BaseException) -> DataError:
    if isinstance(e, _pil().UnidentifiedImageError):
        why = "not a PNG or JPEG image"
    else:
        why = " ".join(str(e).replace(str(path), "").split()) or type(e).__name__
    return DataError(f"data: cannot read image {str(path)!r} ({why}); it must be a readable PNG or JPEG file: "
                     "fix or remove it")


def _header(path: Path, label: str) -> _Image:
    Image = _pil()
    try:
        with Image.open(path, formats=_FORMATS) as img:
            return _Image(path, label, (img.height, img.width), img.mode not in _GREY_MODES)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise _unreadable(path, e) from None


def _common_size(images: list[_Image], size: int | tuple[int, int] | None) -> tuple[int, int]:
    """The (height, width) every image gets: ``size``, or the one size they all have."""
    if size is not None:
        hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if min(hw) < 1:
            raise DataError(f"data: image size must be at least 1x1 pixels, got {size!r}")
        return hw
    first = images[0]
    other = next((im for im in images if im.hw != first.hw), None)
    if other is not None:
        raise DataError(
            f"data: the images differ in size: {str(first.path)!r} is {first.hw[0]}x{first.hw[1]} and "
            f"{str(other.path)!r} is {other.hw[0]}x{other.hw[1]} (height x width); resize them all with "
            "--image-size N or HxW (data.image_size)"
        )
    return first.hw


def _decode(images: list[_Image], hw: tuple[int, int], channels: int) -> np.ndarray:
    """The images as one float32 ``(n, channels, H, W)`` array in [0, 1]."""
    X = np.empty((len(images), channels, *hw), dtype=np.float32)
    for i, im in enumerate(images):
        X[i] = _decode_one(im.path, hw, channels)
    return X


def _decode_one(path: Path, hw: tuple[int, int], channels: int) -> np.ndarray:
    """One image as float32 ``(channels, H, W)`` in [0, 1] (a :class:`DataError` when it cannot be read)."""
    Image = _pil()
    try:
        with Image.open(path, formats=_FORMATS) as img:
            img.load()
            return _pixels(img, hw, channels)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise _unreadable(path, e) from None


def _pixels(img: PILImage.Image, hw: tuple[int, int], channels: int) -> np.ndarray:
    """One image as ``(channels, H, W)`` in [0, 1], resized (bilinear) to ``hw`` when it differs."""
    Image = _pil()
    h, w = hw
    if img.mode in _WIDE_MODES:
        img = Image.fromarray(np.asarray(img, dtype=np.float32) / 65535.0)
        scale = 1.0
    else:
        img = img.convert("RGB" if channels == 3 else "L")
        scale = 1.0 / 255.0
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    a = np.asarray(img, dtype=np.float32) * scale
    if a.ndim == 2:
        return np.broadcast_to(a, (channels, h, w))
    return a.transpose(2, 0, 1)
