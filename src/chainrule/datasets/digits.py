"""A picture of one handwritten digit, prepared as MNIST's digits were made.

LeCun's recipe: fit the digit into a 20x20 box keeping its aspect ratio (anti-aliased, hence
grey levels), then place it in a 28x28 field so that its centre of mass is at the centre, by a
whole-pixel shift. In MNIST the bounding box's long side is 20 and the centre of mass lies
within half a pixel of (14, 14) (row, column), so an MNIST digit saved as a 28x28 PNG comes back
unchanged (or resized by a pixel, when its faintest rim lies outside the box found at ``INK``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

BOX, SIZE, CENTRE = 20, 28, 14
INK = 0.1  # the bounding box holds the pixels above this fraction of the strongest ink


class ImageError(ValueError):
    """An image file that cannot be read, or that holds no digit; the message names the file."""


def open_image(path: str | os.PathLike):
    """The image in ``path``, decoded, with its EXIF rotation applied, or an ``ImageError``
    naming the file. More pixels than Pillow's decompression-bomb limit
    (``Image.MAX_IMAGE_PIXELS``) is an error, also where Pillow itself would only warn."""
    import warnings
    try:
        from PIL import Image, ImageOps
    except ImportError as e:
        raise ImportError("predict needs Pillow: pip install pillow (or 'chainrule[train]')") from e
    if not Path(path).is_file():
        raise ImageError(f"{path}: " + ("not a file" if Path(path).exists() else "no such file"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            img.load()
            return ImageOps.exif_transpose(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(path) as img:  # reads the header only
                w, h = img.size
        finally:
            Image.MAX_IMAGE_PIXELS = limit
        raise ImageError(f"{path}: {w}x{h} pixels, more than the {limit} pixels Pillow reads "
                         f"safely (a decompression bomb?); shrink the image") from None
    except Exception as e:  # a hostile or truncated file can make a decoder raise anything
        raise ImageError(f"{path}: cannot read the image ({type(e).__name__}: {e})") from None


def grey(img) -> np.ndarray:
    """A Pillow image of any mode as a 2-D float64 array of grey levels (a larger value is
    lighter; the scale is the mode's own). Transparent pixels are composited on white, or on
    black when the opaque pixels are all white."""
    if img.mode in ("P", "PA") or img.has_transparency_data:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255
        luma = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])  # as Pillow's convert("L")
        alpha = rgba[..., 3]
        on_white = luma * alpha + (1 - alpha)
        return on_white if np.ptp(on_white) > 0.5 / 255 else luma * alpha  # rounding aside
    if img.mode.startswith("I") or img.mode == "F":  # 16- and 32-bit integers, floats
        return np.asarray(img, dtype=np.float64)
    try:
        return np.asarray(img.convert("L"), dtype=np.float64)
    except ValueError:  # modes Pillow cannot turn into L directly (LAB, HSV)
        return np.asarray(img.convert("RGB").convert("L"), dtype=np.float64)


def ink(a: np.ndarray) -> np.ndarray:
    """Grey levels -> ink in [0, 1] on a background of 0, as MNIST (white digit on black).
    The background is the border's median: closer to the lightest value means a dark digit on a
    light background, which is inverted. Raises ValueError for an image of one colour."""
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():  # a float image (TIFF mode F) can hold them
        raise ValueError("the image holds NaN or infinite values")
    lo, hi = a.min(), a.max()
    if not hi > lo:
        raise ValueError("no digit: the image is a single colour")
    border = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    bg = np.median(border)
    if bg - lo > hi - bg:  # light background
        return np.clip((bg - a) / (bg - lo), 0, 1)
    return np.clip((a - bg) / (hi - bg), 0, 1)


def mnist_layout(x: np.ndarray) -> np.ndarray:
    """Ink (H, W) in [0, 1] -> (28, 28) float32: cropped to the digit, fitted into 20x20 with
    its aspect ratio kept (anti-aliased, the peak brought back to 1), shifted by whole pixels so
    that its centre of mass is at (14, 14); a digit whose mass lies far off its box's centre is
    kept whole, inside the field."""
    from PIL import Image
    rows, cols = np.nonzero(x > INK * x.max())
    x = x[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = x.shape
    if max(h, w) != BOX:
        scale = BOX / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        x = np.asarray(Image.fromarray(x.astype(np.float32)).resize(size, Image.LANCZOS))
        x = np.clip(x / x.max(), 0, 1)  # peak 1 as in MNIST; Lanczos rings a little below 0
    h, w = x.shape
    mass = x.sum()
    cy = (x.sum(axis=1) @ np.arange(h)) / mass
    cx = (x.sum(axis=0) @ np.arange(w)) / mass
    top = min(max(int(np.floor(CENTRE - cy + 0.5)), 0), SIZE - h)
    left = min(max(int(np.floor(CENTRE - cx + 0.5)), 0), SIZE - w)
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top:top + h, left:left + w] = x
    return out


def load_digit(path: str | os.PathLike) -> np.ndarray:
    """An image file of one digit (PNG, JPEG, ...; any mode and size) as a (1, 28, 28) float32
    array in [0, 1], white digit on black, laid out as MNIST's: see ``mnist_layout``."""
    img = open_image(path)
    try:
        return mnist_layout(ink(grey(img)))[None]
    except ValueError as e:  # no digit in it
        raise ImageError(f"{path}: {e}") from None
