"""`chainrule export`: a trained CNN checkpoint exported to ONNX scores in onnxruntime on the MNIST
test set exactly what `chainrule evaluate` prints; an existing --out is never replaced without
--overwrite; errors are one line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from chainrule import cli
from chainrule.data import TensorDataset
from chainrule.training.loop import TrainConfig, load_dataset, train

from ..datasets.idx_files import make_split
from .helpers import onnx, session


def _mnist_folder(tmp_path) -> Path:
    """Real MNIST ($CHAINRULE_DATA/mnist, or the shared copy); else generated IDX files."""
    for root in (os.environ.get("CHAINRULE_DATA"), "/work/shared/data"):
        folder = Path(root or "/nonexistent") / "mnist"
        if (folder / "t10k-images-idx3-ubyte.gz").is_file():
            return folder
    folder = tmp_path / "mnist"
    make_split(folder, "train", n=600, seed=0)
    make_split(folder, "t10k", n=300, seed=1)
    return folder


def _main(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A CNN trained for one short epoch on 1,000 training images (the test set stays whole)."""
    tmp = tmp_path_factory.mktemp("run")
    folder = _mnist_folder(tmp)
    full = load_dataset("mnist", folder, train=True)
    n = min(1000, len(full))
    images, labels = np.asarray(full.tensors[0])[:n], np.asarray(full.tensors[1])[:n]
    small = TensorDataset(images, labels)
    cfg = TrainConfig(model="cnn", epochs=1, batch_size=50, seed=0, out=str(tmp / "run"),
                      val_size=0, progress=False, plots=False, data_dir=str(folder),
                      optimizer="adam", lr=2e-3)
    train(cfg, data=(small, TensorDataset(images[:100], labels[:100])), log=lambda *a: None)
    return tmp / "run" / "checkpoint.npz", folder


def test_exported_checkpoint_scores_in_onnxruntime_what_evaluate_prints(checkpoint, tmp_path,
                                                                       capsys):
    ckpt, folder = checkpoint
    out = tmp_path / "model.onnx"
    code, stdout, err = _main(capsys, "export", "--checkpoint", ckpt, "--out", out)
    assert (code, err) == (0, "")
    assert stdout.startswith(f"wrote {out}: the cnn of {ckpt}")
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)

    code, stdout, _ = _main(capsys, "evaluate", "--checkpoint", ckpt)
    assert code == 0
    printed = re.search(r"accuracy (\d+\.\d+)%", stdout)[1]

    test = load_dataset("mnist", folder, train=False)
    images, labels = np.asarray(test.tensors[0]), np.asarray(test.tensors[1])
    sess = session(out)
    right = 0
    for i in range(0, len(images), 1000):  # batches of 1,000: the traced batch was 1
        (logits,) = sess.run(None, {"input": images[i:i + 1000]})
        right += int((logits.argmax(1) == labels[i:i + 1000]).sum())
    assert f"{100 * right / len(images):.2f}" == printed
    assert float(printed) > 50  # it learned something: the comparison means something


def test_an_existing_out_is_refused_without_overwrite(checkpoint, tmp_path, capsys):
    ckpt, _ = checkpoint
    out = tmp_path / "model.onnx"
    out.write_bytes(b"someone else's model")
    code, stdout, err = _main(capsys, "export", "--checkpoint", ckpt, "--out", out)
    assert code == 1 and stdout == ""
    assert err == (f"chainrule export: error: --out {out} exists; add --overwrite to replace "
                   f"it, or choose another --out\n")
    assert out.read_bytes() == b"someone else's model"
    code, _, err = _main(capsys, "export", "--checkpoint", ckpt, "--out", out, "--overwrite")
    assert (code, err) == (0, "")
    assert len(onnx.load(str(out)).graph.node) == 10


def test_errors_are_one_line(tmp_path, capsys):
    code, _, err = _main(capsys, "export", "--checkpoint", tmp_path / "none.npz", "--out",
                         tmp_path / "m.onnx")
    assert code == 1 and err.count("\n") == 1 and "none.npz" in err
    assert not (tmp_path / "m.onnx").exists()
    code, _, err = _main(capsys, "export", "--checkpoint", tmp_path / "none.npz", "--out",
                         tmp_path)
    assert code == 1 and err == (f"chainrule export: error: --out {tmp_path}: is a folder; "
                                 f"give the .onnx file to write\n")
