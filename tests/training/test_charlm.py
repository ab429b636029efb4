"""chainrule train --model char-lstm|char-transformer --dataset words, and chainrule sample: on
a small generated word list (the real one, /usr/share/dict/words, is read only by the corpus
test, where it is installed), against hand computations and PyTorch's twins
(benchmarks/charlm_torch.py)."""

import csv
import math
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.datasets.words import VOCAB, Words, decode, encode
from chainrule.training.char_models import build_char_model
from chainrule.training.loop import TrainConfig, TrainingInterrupted
from chainrule.training.text import (bits_per_char, evaluate_text, make_batch, sample,
                                     split_words, train_text)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import charlm_torch  # noqa: E402

MODELS = ["char-lstm", "char-transformer"]


def _made_up_words(n=250, seed=0):
    """Words of 1-4 consonant-vowel syllables: a pattern a model learns in a few steps."""
    rng = np.random.default_rng(seed)
    cons, vows = "bdklmnprst", "aeiou"
    words = {"".join(rng.choice(list(cons)) + rng.choice(list(vows))
                     for _ in range(rng.integers(1, 5))) for _ in range(n)}
    return sorted(words)


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    words = _made_up_words()
    (folder / "words").write_text("\n".join(words) + "\n")
    return folder, words


def _train(capsys, folder, out, *extra):
    code = main(["train", "--data-dir", str(folder), "--out", str(out), "--no-progress",
                 "--batch-size", "32", *extra])
    return code, capsys.readouterr()


# -- the corpus -------------------------------------------------------------------------------

def test_words_keeps_lowercase_letter_words_once(tmp_path):
    (tmp_path / "words").write_text("Apple\napple\nit's\ncafé\n\nzebra\nA\n")
    assert Words(tmp_path).words == ["apple", "zebra", "a"]
    assert encode("abz") == [1, 2, 26] and decode([0, 1, 26]) == ".az"


def test_words_found_through_chainrule_data(tmp_path, monkeypatch):
    (tmp_path / "words").mkdir()
    (tmp_path / "words" / "words.txt").write_text("cat\ndog\n")
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path))
    got = Words()
    assert got.words == ["cat", "dog"] and got.path == tmp_path / "words" / "words.txt"


@pytest.mark.skipif(not Path("/usr/share/dict/words").is_file(), reason="no system word list")
def test_the_system_word_list(monkeypatch, tmp_path):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path))  # nothing there: the system's list
    words = Words().words
    assert len(words) > 10_000 and all(w.isalpha() and w.islower() and w.isascii() for w in words)


def test_missing_corpus_names_the_install_command(tmp_path, capsys):
    out = tmp_path / "runs" / "lstm"
    code = main(["train", "--model", "char-lstm", "--data-dir", str(tmp_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "apt-get install wamerican" in err and str(tmp_path / "words") in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # a failed run leaves no folder behind


# -- batches and bits per character -----------------------------------------------------------

def test_make_batch_pads_inputs_with_dots_and_targets_with_ignore():
    x, y = make_batch(["ab", "c"])
    assert x.tolist() == [[0, 1, 2], [0, 3, 0]]
    assert y.tolist() == [[1, 2, 0], [3, 0, -100]]


def test_bits_per_char_is_the_mean_cross_entropy_over_ln2():
    """evaluate_text (batched, padded, sorted by length) against a hand computation: each word
    alone, log-softmax in NumPy, summed over its letters and its closing '.'."""
    cr.manual_seed(0)
    model = build_char_model("char-lstm")
    words = ["kami", "to", "bedasorupi", "e", "nomu"]
    total, count = 0.0, 0
    for w in words:
        x = np.array([[0] + encode(w)])
        z = np.asarray(model(cr.from_numpy(x))._data[0], np.float64)
        logp = z - z.max(1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(1, keepdims=True))
        targets = encode(w) + [0]
        total -= sum(logp[t, c] for t, c in enumerate(targets))
        count += len(targets)
    nats = evaluate_text(model, words, batch_size=2)
    assert count == 21 + 5  # the letters, and one closing "." per word
    assert nats == pytest.approx(total / count, rel=1e-5)
    assert bits_per_char(nats) == pytest.approx(total / count / math.log(2), rel=1e-5)
    assert bits_per_char(math.log(27)) == pytest.approx(math.log2(27), rel=1e-15)


def test_split_is_seeded_and_disjoint():
    words = [f"w{i}" for i in range(50)]
    a, b = split_words(words, 10, seed=3)
    assert (a, b) == split_words(words, 10, seed=3)
    assert len(b) == 10 and sorted(a + b) == sorted(words)
    assert split_words(words, 10, seed=4)[1] != b


# -- against PyTorch's twin -------------------------------------------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_first_step_loss_and_gradients_equal_torchs_twin_in_float64(name):
    import torch

    from chainrule.training.text import _loss

    cr.manual_seed(1)
    model = build_char_model(name).double()
    twin = charlm_torch.twin(name).double()
    charlm_torch.copy_into_twin(model, twin, dtype=np.float64)
    x, y = make_batch(_made_up_words(40, seed=5)[:16])
    loss = _loss(model, x, y)
    loss.backward()
    ref = charlm_torch.torch_loss(twin, x, y)
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    ours = dict(model.named_parameters())
    for key, p in twin.named_parameters():
        np.testing.assert_allclose(np.asarray(ours[key].grad._data), p.grad.numpy(),
                                   rtol=1e-9, atol=1e-12, err_msg=f"{name}: {key}")
    assert torch.isfinite(ref)


# -- the command line -------------------------------------------------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_train_from_the_command_line(corpus, tmp_path, capsys, name):
    folder, words = corpus
    out = tmp_path / "run"
    code, printed = _train(capsys, folder, out, "--model", name, "--epochs", "3", "--val-size",
                           "30", "--lr", "0.01")
    assert code == 0, printed.err
    text = printed.out
    # samples each epoch (and before training): 8 words of a-z each
    lines = [line for line in text.splitlines() if "samples" in line]
    assert len(lines) == 4
    for line in lines:
        drawn = line.split(": ", 1)[1].split("  (")[0].split(", ")
        assert len(drawn) == 8 and all(set(w) <= set(VOCAB[1:]) for w in drawn)
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    train_loss = [float(r["train_loss"]) for r in rows]
    val_loss = [float(r["val_loss"]) for r in rows]
    assert train_loss[2] < train_loss[0] < math.log(27) and val_loss[2] < val_loss[0]
    assert float(rows[2]["val_bpc"]) == pytest.approx(val_loss[2] / math.log(2), rel=1e-12)
    # the closing line reports the last epoch's validation in bits per character
    final = [line for line in text.splitlines() if line.startswith("validation:")]
    assert f"{val_loss[2] / math.log(2):.4f} bits per character" in final[0]
    # the checkpoint gives the model back: its validation loss is the one reported
    ckpt = cr.load(out / "checkpoint.npz")
    assert ckpt["config"]["model"] == name and ckpt["epoch"] == 3 and ckpt["vocab"] == VOCAB
    from chainrule.training.text import load_char_checkpoint
    model, cfg, _ = load_char_checkpoint(out / "checkpoint.npz")
    _, val_words = split_words(words, 30, cfg.seed)
    assert evaluate_text(model, val_words) == pytest.approx(val_loss[2], rel=1e-6)


def test_a_second_run_is_refused_without_overwrite_and_resume_is_refused(corpus, tmp_path,
                                                                         capsys):
    folder, _ = corpus
    out = tmp_path / "run"
    assert _train(capsys, folder, out, "--model", "char-lstm", "--epochs", "1")[0] == 0
    before = (out / "checkpoint.npz").read_bytes()
    code, printed = _train(capsys, folder, out, "--model", "char-lstm", "--epochs", "1")
    assert code == 1 and "already holds a run" in printed.err and "--overwrite" in printed.err
    assert "--resume" not in printed.err
    assert (out / "checkpoint.npz").read_bytes() == before
    code, printed = _train(capsys, folder, out, "--resume", str(out / "checkpoint.npz"))
    assert code == 1 and "cannot be resumed" in printed.err
    code, printed = _train(capsys, folder, out, "--model", "char-lstm", "--epochs", "1",
                           "--seed", "7", "--overwrite")
    assert code == 0 and (out / "checkpoint.npz").read_bytes() != before


def test_text_and_image_settings_do_not_mix(corpus, tmp_path, capsys):
    folder, _ = corpus
    code, printed = _train(capsys, folder, tmp_path / "a", "--model", "mlp", "--dataset", "words")
    assert code == 1 and "--model char-lstm or char-transformer" in printed.err
    code, printed = _train(capsys, folder, tmp_path / "b", "--model", "char-lstm", "--dataset",
                           "mnist")
    assert code == 1 and "--dataset words" in printed.err
    code, printed = _train(capsys, folder, tmp_path / "c", "--model", "char-lstm", "--monitor")
    assert code == 1 and "--monitor" in printed.err
    assert not any((tmp_path / d).exists() for d in "abc")


def test_ctrl_c_saves_a_checkpoint(corpus, tmp_path):
    folder, _ = corpus

    def interrupt(epoch, step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    cfg = TrainConfig(dataset="words", model="char-lstm", epochs=2, batch_size=32, lr=None,
                      optimizer=None, momentum=None, weight_decay=None, seed=None,
                      data_dir=str(folder), val_size=None, out=str(tmp_path / "run"),
                      progress=False)
    lines = []
    with pytest.raises(TrainingInterrupted) as stopped:
        train_text(cfg, log=lines.append, on_step=interrupt)
    assert stopped.value.signum == signal.SIGINT
    ckpt = cr.load(tmp_path / "run" / "checkpoint.npz")
    assert (ckpt["epoch"], ckpt["step"]) == (0, 2)
    assert "chainrule sample --checkpoint" in lines[-1]


def test_sample_from_the_command_line(corpus, tmp_path, capsys):
    folder, _ = corpus
    out = tmp_path / "run"
    assert _train(capsys, folder, out, "--model", "char-transformer", "--epochs", "1")[0] == 0
    args = ["sample", "--checkpoint", str(out / "checkpoint.npz"), "--num", "6", "--seed", "3",
            "--prefix", "ka", "--temperature", "0.8"]
    assert main(args) == 0
    first = capsys.readouterr().out.split()
    assert len(first) == 6 and all(w.startswith("ka") and set(w) <= set(VOCAB[1:])
                                   for w in first)
    assert main(args) == 0
    assert capsys.readouterr().out.split() == first  # the same seed draws the same words
    with pytest.raises(SystemExit) as bad:
        main(args[:-2] + ["--temperature", "0"])
    assert bad.value.code == 2
    assert "--temperature" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(out / "checkpoint.npz"), "--prefix", "K1"]) == 1
    assert "a-z only" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.npz")]) == 1
    assert "chainrule sample --checkpoint" in capsys.readouterr().err


def test_low_temperature_draws_the_likeliest_letters():
    """At temperature 1e-3 sampling is the argmax: every word equals the greedy one."""
    cr.manual_seed(2)
    model = build_char_model("char-lstm")
    words = sample(model, 5, np.random.default_rng(0), temperature=1e-3, max_len=6)
    z = model(cr.from_numpy(np.array([[0]])))
    assert len(set(words)) == 1
    first = int(np.asarray(z._data[0, -1]).argmax())
    assert words[0][:1] == VOCAB[first].strip(".")
