"""``chainrule predict``: digits prepared as MNIST was made, whatever the file's mode and size,
and a one-line error for a file it cannot read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from chainrule import cli
from chainrule.datasets.digits import load_digit
from chainrule.datasets.mnist import IMAGES_MAGIC, LABELS_MAGIC, read_idx

MNIST_DIR = Path("/work/shared/data/mnist")
HAVE_MNIST = (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file()


def _strokes(n: int, seed: int = 0) -> list[np.ndarray]:
    """Digit-like uint8 pictures: a few thick white strokes on black, of varied size, aspect
    ratio and place on canvases of varied shape."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        H, W = rng.integers(40, 160, 2)
        img = Image.new("L", (int(W), int(H)))
        draw = ImageDraw.Draw(img)
        h, w = rng.uniform(0.3, 0.8) * H, rng.uniform(0.15, 0.8) * W
        y0, x0 = rng.uniform(0.05, 0.95 - h / H) * H, rng.uniform(0.05, 0.95 - w / W) * W
        points = [(x0 + rng.uniform(0, w), y0 + rng.uniform(0, h)) for _ in range(4)]
        draw.line(points, fill=255, width=int(max(3, min(h, w) / 6)), joint="curve")
        out.append(np.asarray(img))
    return out


def _save(a: np.ndarray, path: Path, **kw) -> Path:
    Image.fromarray(a).save(path, **kw)
    return path


def _centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    i = np.arange(x.shape[0])
    return (x.sum(1) @ i) / x.sum(), (x.sum(0) @ i) / x.sum()


def _box(x: np.ndarray, level: float = 0.0) -> tuple[int, int]:
    rows, cols = np.nonzero(x > level)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def _check_layout(pictures, tmp_path: Path) -> None:
    """The invariants of MNIST's layout: 28x28 in [0, 1], long side of the box 20 (the faint
    anti-aliased rim aside), aspect ratio kept, centre of mass within half a pixel of (14, 14)."""
    for k, a in enumerate(pictures):
        x = load_digit(_save(a, tmp_path / f"{k}.png"))[0]
        assert x.shape == (28, 28) and x.dtype == np.float32
        assert x.min() == 0 and x.max() == pytest.approx(1, abs=0.02)
        h, w = _box(x, 0.1)
        assert 19 <= max(h, w) <= 20, (k, h, w)
        h0, w0 = _box(a, 25)
        assert h / w == pytest.approx(h0 / w0, rel=0.25, abs=2 / 20), (k, h, w, h0, w0)
        cy, cx = _centre_of_mass(x)
        assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5, (k, cy, cx)


def test_layout_of_digit_like_pictures(tmp_path):
    _check_layout(_strokes(60), tmp_path)


# -- the same digit in any mode gives the same array ------------------------------------------

def _variants(a: np.ndarray) -> dict:
    """Writers of the uint8 picture ``a`` (white on black) in other modes."""
    def rgba(colour):
        x = np.zeros(a.shape + (4,), np.uint8)
        x[..., :3], x[..., 3] = colour, a
        return Image.fromarray(x)

    def palette(transparent):
        if not transparent:  # Pillow's own palette of the dark-on-light picture
            return Image.fromarray(255 - a).quantize(256)
        im = Image.fromarray(a).convert("P")  # index = ink: black, as opaque as the ink
        im.putpalette([0] * 768)
        im.info["transparency"] = bytes(range(256))
        return im

    inverted = 255 - a
    wide = np.zeros((a.shape[0], 3 * a.shape[1]), np.uint8)
    wide[:, a.shape[1]:2 * a.shape[1]] = a
    return {
        "transparent, black ink": lambda p: rgba(0).save(p),
        "transparent, white ink": lambda p: rgba(255).save(p),
        "la": lambda p: Image.fromarray(np.stack([inverted, np.full_like(a, 255)], -1)).save(p),
        "16-bit": lambda p: Image.fromarray(a.astype(np.uint16) * 257).save(p),
        "16-bit inverted": lambda p: Image.fromarray(inverted.astype(np.uint16) * 257).save(p),
        "32-bit": lambda p: Image.fromarray(a.astype(np.int32) * 257).save(p.with_suffix(".tif")),
        "palette": lambda p: palette(False).save(p),
        "palette, transparent": lambda p: palette(True).save(p),
        "inverted": lambda p: Image.fromarray(inverted).save(p),
        "dark ink on grey paper": lambda p: Image.fromarray(
            np.round(100 - a * (100 / 255)).astype(np.uint8)).save(p),
        "rgb, inverted": lambda p: Image.fromarray(inverted).convert("RGB").save(p),
        "cmyk": lambda p: Image.fromarray(inverted).convert("CMYK").save(p.with_suffix(".tif")),
        "wide canvas": lambda p: Image.fromarray(wide).save(p),
        "4x": lambda p: Image.fromarray(a).resize((4 * a.shape[1], 4 * a.shape[0]),
                                                  Image.BICUBIC).save(p),
    }


@pytest.fixture(scope="module")
def sample():
    """A few digits: real MNIST test digits where the files are present, else digit-like ones."""
    if HAVE_MNIST:
        return list(read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)[:8])
    return _strokes(8, seed=1)


@pytest.mark.parametrize("variant", list(_variants(np.zeros((2, 2), np.uint8))))
def test_every_mode_gives_the_plain_array(tmp_path, sample, variant):
    for k, a in enumerate(sample):
        plain = load_digit(_save(a, tmp_path / f"plain{k}.png"))
        path = tmp_path / f"{k}.png"
        _variants(a)[variant](path)
        x = load_digit(path if path.exists() else path.with_suffix(".tif"))
        assert x.shape == (1, 28, 28)
        error = np.abs(x - plain)
        if variant == "4x":  # a bicubic round trip: close, not the same pixels, and the centre
            error = min(np.abs(np.roll(x, (dy, dx), (1, 2)) - plain).mean()  # may round to the
                        for dy in (-1, 0, 1) for dx in (-1, 0, 1))  # next pixel
            assert error <= 0.05, (k, error)
        else:
            assert error.max() <= 0.02, (k, error.max())


def test_mnist_layout_is_kept(tmp_path, sample):
    """An MNIST digit comes back as it was (most exactly; a few with the faint rim below the
    bounding box's threshold resized by a pixel). A digit-like picture, once laid out, is laid
    out the same again."""
    errors = []
    for k, a in enumerate(sample):
        ref = a / 255 if HAVE_MNIST else load_digit(_save(a, tmp_path / f"first{k}.png"))[0]
        x = load_digit(_save(np.round(ref * 255).astype(np.uint8), tmp_path / f"{k}.png"))[0]
        errors.append(np.abs(x - ref).max())
    assert max(errors) < 0.1 and np.mean(np.array(errors) < 0.01) >= 0.6, errors


# -- predict against evaluate on real digits --------------------------------------------------

@pytest.fixture(scope="module")
def mnist_model(tmp_path_factory):
    """A checkpoint trained for one epoch on 6,000 MNIST digits, and 300 test digits with the
    model's own predictions on them (evaluate's path: the IDX arrays, no image files)."""
    from chainrule.data import TensorDataset
    from chainrule.datasets import MNIST
    from chainrule.training.loop import TrainConfig, evaluate_model, load_checkpoint, train
    norm = lambda x: (x[:, None].astype(np.float32) / 255 - MNIST.mean) / MNIST.std  # noqa: E731
    train_x = read_idx(MNIST_DIR / "train-images-idx3-ubyte.gz", IMAGES_MAGIC)[:6000]
    train_y = read_idx(MNIST_DIR / "train-labels-idx1-ubyte.gz", LABELS_MAGIC)[:6000]
    test_x = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)[:300]
    test_y = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)[:300]
    test = TensorDataset(norm(test_x).astype(np.float32), test_y.astype(np.int64))
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(model="mlp", epochs=1, batch_size=64, out=str(out / "run"), val_size=500,
                      progress=False, plots=False)
    train(cfg, data=(TensorDataset(norm(train_x).astype(np.float32), train_y.astype(np.int64)),
                     test), log=lambda *a: None)
    checkpoint = out / "run" / "checkpoint.npz"
    model = load_checkpoint(checkpoint)[0]
    model.eval()
    _, acc, _ = evaluate_model(model, test)
    return checkpoint, test_x, test_y, acc


@pytest.mark.parametrize("size", [28, 112])
def test_predict_matches_evaluate(tmp_path, capsys, size, request):
    if not HAVE_MNIST:  # without the real digits, the layout's invariants on digit-like ones
        _check_layout(_strokes(40, seed=size), tmp_path)
        return
    checkpoint, images, labels, evaluate_acc = request.getfixturevalue("mnist_model")
    paths = []
    for k, a in enumerate(images):
        img = Image.fromarray(a)
        paths.append(tmp_path / f"{k}.png")
        (img if size == 28 else img.resize((size, size), Image.BICUBIC)).save(paths[-1])
    assert cli.main(["predict", "--checkpoint", str(checkpoint), *map(str, paths)]) == 0
    lines = capsys.readouterr().out.splitlines()
    predicted = np.array([int(line.split(": ")[1].split()[0]) for line in lines])
    predict_acc = (predicted == labels).mean()
    assert evaluate_acc > 0.85
    assert abs(predict_acc - evaluate_acc) <= (0.005 if size == 28 else 0.015), \
        (size, predict_acc, evaluate_acc)


# -- files it cannot use: one line naming the file, exit 1 ------------------------------------

def _predict_error(capsys, checkpoint, path) -> str:
    assert cli.main(["predict", "--checkpoint", str(checkpoint), str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and str(path) in err, err
    return err


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    import chainrule as cr
    from chainrule.training.loop import TrainConfig
    from chainrule.training.models import build_model
    folder = tmp_path_factory.mktemp("ck")
    cr.manual_seed(0)
    model = build_model("mlp")
    from dataclasses import asdict
    cr.save({"model": model.state_dict(), "config": asdict(TrainConfig(model="mlp"))},
            folder / "checkpoint.npz")
    return folder / "checkpoint.npz"


@pytest.mark.parametrize("case, expected", [
    ("not an image", "cannot read the image"),
    ("truncated", "cannot read the image"),
    ("missing", "no such file"),
    ("folder", "not a file"),
    ("blank", "no digit"),
    ("bomb", "decompression bomb"),
    ("bomb warning", "decompression bomb"),
])
def test_unusable_file_is_a_one_line_error(tmp_path, capsys, monkeypatch, small_checkpoint,
                                           case, expected):
    path = tmp_path / "digit.png"
    if case == "not an image":
        path.write_text("hello")
    elif case == "truncated":
        _save(_strokes(1)[0], path)
        path.write_bytes(path.read_bytes()[:120])
    elif case == "folder":
        path.mkdir()
    elif case == "blank":
        _save(np.full((28, 28), 200, np.uint8), path)
    elif case.startswith("bomb"):
        _save(_strokes(1)[0], path)
        pixels = Image.open(path).size[0] * Image.open(path).size[1]
        # Pillow refuses above twice the limit and only warns between once and twice
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels // 3 if case == "bomb" else
                            pixels * 2 // 3)
    assert expected in _predict_error(capsys, small_checkpoint, path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("everywhere", [False, True])
def test_float_image_with_nan_or_inf_is_a_one_line_error(tmp_path, capsys, small_checkpoint,
                                                         bad, everywhere):
    """A 32-bit float TIFF holding NaN or Inf: it used to be "single colour" (NaN), or NumPy's
    "zero-size array to reduction operation" after a RuntimeWarning on stderr (Inf)."""
    import warnings
    x = np.zeros((30, 30), np.float32)
    x[8:22, 12:16] = 1
    if everywhere:
        x[:] = bad
    else:
        x[0, 0] = bad
    path = _save(x, tmp_path / "digit.tiff")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "NaN or infinite" in _predict_error(capsys, small_checkpoint, path)
