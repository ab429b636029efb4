"""MNIST / FashionMNIST: IDX reading, folder lookup, errors, download, and the real files."""

import os
from pathlib import Path

import numpy as np
import pytest
from .idx_files import idx_bytes, make_split, md5, write_bytes, write_idx

import chainrule as cr
from chainrule.data import DataLoader, default_collate
from chainrule.datasets import MNIST, FashionMNIST
from chainrule.datasets import mnist as mnist_module


@pytest.fixture(autouse=True)
def no_env(monkeypatch, tmp_path):
    """Keep the user's CHAINRULE_DATA and cache out of these tests."""
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# reading -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_reads_generated_files(tmp_path, gz):
    images, labels = make_split(tmp_path / "mnist", "train", n=12, gz=gz)
    ds = MNIST(root=tmp_path)
    assert len(ds) == 12 and ds.root == tmp_path / "mnist"
    assert isinstance(ds.data, cr.Tensor) and ds.data.dtype == np.uint8
    assert ds.data.shape == (12, 28, 28) and ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.data.data, images)
    np.testing.assert_array_equal(ds.targets.data, labels)
    image, label = ds[5]
    assert isinstance(image, cr.Tensor) and image.dtype == np.float32 and image.shape == (1, 28, 28)
    np.testing.assert_array_equal(image.data[0], images[5].astype(np.float32) / np.float32(255))
    assert type(label) is int and label == labels[5]
    assert 0.0 <= image.data.min() and image.data.max() <= 1.0


def test_test_split_reads_t10k_files(tmp_path):
    make_split(tmp_path, "train", n=4, seed=1)
    images, labels = make_split(tmp_path, "t10k", n=7, seed=2)
    ds = MNIST(root=tmp_path, train=False)
    assert len(ds) == 7 and not ds.train
    np.testing.assert_array_equal(ds.targets.data, labels)


@pytest.mark.parametrize("sub", ["", "mnist", "mnist/raw", "MNIST", "MNIST/raw"])
def test_root_may_be_the_folder_or_a_parent(tmp_path, sub):
    images, _ = make_split(tmp_path / sub, n=3)
    ds = MNIST(root=str(tmp_path))
    np.testing.assert_array_equal(ds.data.data, images)
    assert MNIST(root=tmp_path / sub).root == tmp_path / sub


def test_raw_file_preferred_over_gz(tmp_path):
    images, _ = make_split(tmp_path, n=3, gz=False, seed=1)
    make_split(tmp_path, n=3, gz=True, seed=2)
    np.testing.assert_array_equal(MNIST(root=tmp_path).data.data, images)


def test_chainrule_data_environment_variable(tmp_path, monkeypatch):
    images, _ = make_split(tmp_path / "store" / "mnist", n=3)
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "store"))
    np.testing.assert_array_equal(MNIST().data.data, images)


def test_cache_folder_when_no_root_and_no_env(tmp_path):
    images, _ = make_split(tmp_path / "cache" / "chainrule" / "mnist", n=3)
    np.testing.assert_array_equal(MNIST().data.data, images)


def test_fashion_mnist_uses_its_own_folder(tmp_path):
    images, labels = make_split(tmp_path / "fashion-mnist", n=4)
    ds = FashionMNIST(root=tmp_path)
    np.testing.assert_array_equal(ds.targets.data, labels)
    assert ds.classes[9] == "Ankle boot" and ds.class_to_idx["Trouser"] == 1
    assert (FashionMNIST.mean, FashionMNIST.std) == (0.2860, 0.3530)
    make_split(tmp_path / "FashionMNIST" / "raw", n=2)
    assert len(FashionMNIST(root=tmp_path / "FashionMNIST" / "raw")) == 2
    with pytest.raises(FileNotFoundError):
        MNIST(root=tmp_path)  # digits are not looked for in fashion-mnist/


def test_constants_and_repr(tmp_path):
    make_split(tmp_path, n=3)
    assert (MNIST.mean, MNIST.std) == (0.1307, 0.3081)
    assert MNIST.classes[3] == "3 - three"
    assert repr(MNIST(root=tmp_path)) == f"MNIST(train, 3 samples, root={tmp_path})"


def test_transforms_are_applied(tmp_path):
    images, labels = make_split(tmp_path, n=5)
    ds = MNIST(root=tmp_path, transform=lambda x: cr.from_numpy((np.asarray(x) - MNIST.mean) / MNIST.std),
               target_transform=lambda y: y + 100)  # fmt: skip
    image, label = ds[2]
    expected = (images[2].astype(np.float32) / 255 - np.float32(0.1307)) / np.float32(0.3081)
    np.testing.assert_allclose(image.data[0], expected, rtol=1e-6)
    assert label == labels[2] + 100
    assert ds._arrays() is None  # the loader must go sample by sample
    (xb, yb), _ = DataLoader(ds, batch_size=3)
    assert xb.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(yb.data, labels[:3].astype(np.int64) + 100)


# batching ----------------------------------------------------------------------------------------


def test_loader_fast_path_matches_samples(tmp_path, monkeypatch):
    make_split(tmp_path, n=23)
    ds = MNIST(root=tmp_path)
    slow = DataLoader(ds, 8, shuffle=True, generator=cr.Generator(4), collate_fn=default_collate)
    slow = list(slow)
    monkeypatch.setattr(MNIST, "__getitem__", lambda self, i: pytest.fail("not the fast path"))
    fast = list(DataLoader(ds, 8, shuffle=True, generator=cr.Generator(4)))
    assert [x.shape for x, _ in fast] == [(8, 1, 28, 28), (8, 1, 28, 28), (7, 1, 28, 28)]
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        assert xf.dtype == xs.dtype == np.float32 and yf.dtype == ys.dtype == np.int64
        np.testing.assert_array_equal(xf.data, xs.data)
        np.testing.assert_array_equal(yf.data, ys.data)


def test_loader_sees_replaced_data(tmp_path):
    images, labels = make_split(tmp_path, n=10)
    ds = MNIST(root=tmp_path)
    list(DataLoader(ds, batch_size=10))  # fills the float cache
    ds.data, ds.targets = cr.from_numpy(images[:4]), cr.from_numpy(labels[:4].astype(np.int64))
    ((xb, yb),) = DataLoader(ds, batch_size=10)
    assert len(ds) == 4 and xb.shape == (4, 1, 28, 28)
    np.testing.assert_array_equal(xb.data[:, 0], images[:4] / np.float32(255))


# errors ------------------------------------------------------------------------------------------


def test_missing_folder_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        MNIST(root=tmp_path / "nope")
    msg = str(e.value)
    assert "train-images-idx3-ubyte[.gz]" in msg and "does not exist" in msg
    assert str(tmp_path / "nope" / "MNIST" / "raw") in msg
    assert "CHAINRULE_DATA" in msg and "download=True" in msg


def test_missing_labels_file(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28)))
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        MNIST(root=tmp_path)


def test_bad_magic_number(tmp_path):
    make_split(tmp_path, n=3, gz=False)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 28, 28)), magic=2049)
    match = r"train-images-idx3-ubyte: bad magic number 2049, expected 2051"
    with pytest.raises(ValueError, match=match):
        MNIST(root=tmp_path)


def test_labels_file_with_images_magic(tmp_path):
    make_split(tmp_path, n=3, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3), magic=2051)
    with pytest.raises(ValueError, match="bad magic number 2051, expected 2049"):
        MNIST(root=tmp_path)


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_truncated_images(tmp_path, gz):
    make_split(tmp_path, n=12, gz=gz)
    data = idx_bytes(np.zeros((12, 28, 28), np.uint8))[:-100]
    path = write_bytes(tmp_path / "train-images-idx3-ubyte", data, gz)
    with pytest.raises(ValueError) as e:
        MNIST(root=tmp_path)
    assert str(path) in str(e.value)
    msg = "header says 12 images of 28x28 (9408 bytes) but the file holds 9308 bytes"
    assert msg in str(e.value)


def test_truncated_header(tmp_path):
    make_split(tmp_path, n=2, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(ValueError, match="truncated: 3 bytes, shorter than the 8-byte header"):
        MNIST(root=tmp_path)


def test_image_and_label_counts_differ(tmp_path):
    make_split(tmp_path, n=12)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11), gz=True)
    with pytest.raises(ValueError, match="holds 12 images but .* holds 11 labels"):
        MNIST(root=tmp_path)


def test_label_out_of_range(tmp_path):
    make_split(tmp_path, n=3)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, 10, 2]), gz=True)
    with pytest.raises(ValueError, match="label 10 is out of range for 10 classes"):
        MNIST(root=tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_corrupt_gzip(tmp_path, damage):
    make_split(tmp_path, n=12)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    blob = path.read_bytes()
    path.write_bytes(b"<html>not found</html>" if damage == "garbage" else blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz: corrupt gzip file"):
        MNIST(root=tmp_path)


# download ----------------------------------------------------------------------------------------


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local mirror of small .gz files; MNIST.mirrors/resources point at it (first a dead one)."""
    folder = tmp_path / "mirror"
    arrays = make_split(folder, "train", n=6, seed=3)
    make_split(folder, "t10k", n=4, seed=4)
    mirrors = [(tmp_path / "dead").as_uri() + "/", folder.as_uri() + "/"]
    monkeypatch.setattr(MNIST, "mirrors", mirrors)
    monkeypatch.setattr(MNIST, "resources", {p.name: md5(p) for p in folder.iterdir()})
    return arrays


def test_download_fetches_verifies_and_reuses(tmp_path, mirror, monkeypatch):
    images, labels = mirror
    ds = MNIST(root=tmp_path / "data", download=True)
    target = tmp_path / "data" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]  # fmt: skip
    np.testing.assert_array_equal(ds.data.data, images)
    np.testing.assert_array_equal(ds.targets.data, labels)
    monkeypatch.setattr(MNIST, "mirrors", [])  # present now: nothing is fetched again
    assert len(MNIST(root=tmp_path / "data", download=True)) == 6


def test_download_into_named_folder_and_env(tmp_path, mirror, monkeypatch):
    MNIST(root=tmp_path / "MNIST", train=False, download=True)
    assert (tmp_path / "MNIST" / "t10k-images-idx3-ubyte.gz").is_file()
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    MNIST(download=True)
    assert (tmp_path / "env" / "mnist" / "train-labels-idx1-ubyte.gz").is_file()


def test_download_bad_checksum_leaves_nothing(tmp_path, mirror, monkeypatch):
    resources = dict(MNIST.resources, **{"train-images-idx3-ubyte.gz": "0" * 32})
    monkeypatch.setattr(MNIST, "resources", resources)
    with pytest.raises(RuntimeError) as e:
        MNIST(root=tmp_path / "data", download=True)
    msg = str(e.value)
    assert "could not download train-images-idx3-ubyte.gz" in msg
    assert f"bad checksum: MD5 {md5(tmp_path / 'mirror' / 'train-images-idx3-ubyte.gz')}" in msg
    assert "expected " + "0" * 32 in msg
    assert list((tmp_path / "data" / "mnist").iterdir()) == []


def test_download_unreachable(tmp_path, mirror, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", [(tmp_path / "dead").as_uri() + "/"])
    match = r"(?s)could not download.*dead/train-images-idx3-ubyte.gz"
    with pytest.raises(RuntimeError, match=match):
        MNIST(root=tmp_path / "data", download=True)


def test_interrupted_download_leaves_no_partial_file(tmp_path, mirror, monkeypatch):
    class Broken:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, size):
            if getattr(self, "sent", False):
                raise ConnectionResetError("connection lost")
            self.sent = True
            return b"\x1f\x8b partial"

    monkeypatch.setattr(mnist_module.urllib.request, "urlopen", lambda *a, **k: Broken())
    with pytest.raises(RuntimeError, match="connection lost"):
        MNIST(root=tmp_path / "data", download=True)
    assert list((tmp_path / "data" / "mnist").iterdir()) == []


# the real MNIST files, when present ---------------------------------------------------------------


# read at import, before the autouse fixture hides CHAINRULE_DATA
REAL_ROOTS = [os.environ.get("CHAINRULE_DATA"), Path(__file__).parents[2] / ".." / "shared" / "data"]


def real_root():
    for root in filter(None, REAL_ROOTS):
        try:
            MNIST(root=root, train=False)
            return root
        except FileNotFoundError:
            pass
    pytest.skip("real MNIST files not found (set CHAINRULE_DATA or put them in ../shared/data)")


@pytest.fixture(scope="module")
def real_train():
    return MNIST(root=real_root(), train=True)


@pytest.fixture(scope="module")
def real_test():
    return MNIST(root=real_root(), train=False)


def test_real_train_facts(real_train):
    assert real_train.data.shape == (60000, 28, 28)
    counts = np.bincount(real_train.targets.data, minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert real_train.targets.data[:5].tolist() == [5, 0, 4, 1, 9]
    pixels = np.asarray(real_train.data).astype(np.float64) / 255
    assert round(pixels.mean(), 4) == MNIST.mean == 0.1307
    assert round(pixels.std(), 4) == MNIST.std == 0.3081


def test_real_test_facts(real_test):
    assert real_test.data.shape == (10000, 28, 28)
    counts = np.bincount(real_test.targets.data, minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert real_test.targets.data[:5].tolist() == [7, 2, 1, 0, 4]


def test_real_checksums_match_mirror_table():
    root = Path(real_root())
    folder = next(d for d in (root, root / "mnist", root / "MNIST" / "raw") if d.is_dir()
                  and (d / "t10k-labels-idx1-ubyte.gz").is_file())  # fmt: skip
    for name, expected in MNIST.resources.items():
        if (folder / name).is_file():
            assert md5(folder / name) == expected


def test_real_loader_epoch(real_train):
    loader = DataLoader(real_train, batch_size=1000, shuffle=True, generator=cr.Generator(0))
    seen = np.zeros(10, np.int64)
    for i, (x, y) in enumerate(loader):
        assert x.shape == (1000, 1, 28, 28) and x.dtype == np.float32
        if i == 0:
            j = int(cr.Generator(0).numpy.permutation(60000)[0])
            np.testing.assert_array_equal(x.data[0], real_train[j][0].data)
        seen += np.bincount(y.data, minlength=10)
    assert seen.tolist() == np.bincount(real_train.targets.data, minlength=10).tolist()


# nothing silently wrong: edits seen, the other data set's files, odd sizes, empty sets --------


def test_loader_sees_edits_of_the_data_in_place(tmp_path):
    images, _ = make_split(tmp_path, n=10)
    ds = MNIST(root=tmp_path)
    ((before, _),) = DataLoader(ds, batch_size=10)  # a first pass, as training's first epoch
    assert before.data[:4].max() > 0
    ds.data[0:4] = 0
    ((xb, _),) = DataLoader(ds, batch_size=10)
    np.testing.assert_array_equal(xb.data[:4], 0)
    np.testing.assert_array_equal(xb.data[4:, 0], images[4:] / np.float32(255))


def test_fashion_mnist_refuses_the_mnist_files(tmp_path):
    folder = MNIST(root=real_root(), train=False).root
    for train in (True, False):
        with pytest.raises(ValueError) as e:
            FashionMNIST(root=folder, train=train)
        split = "train" if train else "t10k"
        assert str(e.value).startswith(f"{folder / split}-images-idx3-ubyte.gz: these are "
                                       f"MNIST's files")
        assert "not FashionMNIST's" in str(e.value)
    raw = tmp_path / "raw"  # the decompressed originals are known too
    raw.mkdir()
    for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]:
        (raw / name).write_bytes(mnist_module._read_bytes(folder / f"{name}.gz"))
    with pytest.raises(ValueError, match="these are MNIST's files"):
        FashionMNIST(root=raw, train=False)
    assert len(MNIST(root=raw, train=False)) == 10000


def test_mnist_refuses_fashion_mnist_files(tmp_path, monkeypatch):
    make_split(tmp_path, n=5)  # stands for Fashion-MNIST's original: its MD5 is recorded so
    fake = md5(tmp_path / "train-images-idx3-ubyte.gz")
    monkeypatch.setitem(mnist_module._ORIGINALS, fake, FashionMNIST)
    with pytest.raises(ValueError, match="these are FashionMNIST's files .* not MNIST's"):
        MNIST(root=tmp_path)
    assert len(FashionMNIST(root=tmp_path)) == 5


def test_images_other_than_28_by_28_are_an_error_naming_size_and_file(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 32, 32), np.uint8), gz=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, np.uint8), gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with pytest.raises(ValueError, match=f"^{path}: the images are 32x32; MNIST's are 28x28$"):
        MNIST(root=tmp_path)


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_an_empty_set_is_an_error_naming_the_file(tmp_path, gz):
    make_split(tmp_path, "t10k", n=0, gz=gz)
    path = tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    with pytest.raises(ValueError, match=f"^{path}: holds 0 images"):
        MNIST(root=tmp_path, train=False)
