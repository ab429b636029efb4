"""DataLoader(num_workers=k): seconds per pass over a dataset whose ``__getitem__`` costs time.

    python benchmarks/dataloader_workers.py                  # workers 0, 1, 2, 4; 3 rounds
    python benchmarks/dataloader_workers.py --workers 0,2 --samples 512 --rounds 5

Two datasets of 64×64 float32 images, batches of 32, shuffled:
- ``cpu``: each sample is zlib-decompressed, randomly shifted and blurred (a 3×3 box filter,
  applied 8 times) in NumPy: about a millisecond of CPU per sample, like decoding and augmenting
  an image. Workers help up to the number of cores.
- ``io``: each sample waits 2 ms (``time.sleep``), as reading a file or a URL does. Workers help
  beyond the number of cores.
The time of a pass includes starting the worker processes (``persistent_workers=False``). Each
configuration runs ``--rounds`` times; the median is reported, with the speed-up over
``num_workers=0``, and every configuration must give the same batches.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import zlib

import numpy as np

import chainrule as cr
from chainrule.utils.data import DataLoader, Dataset, get_worker_info


class Images(Dataset):
    def __init__(self, n: int, kind: str):
        rng = np.random.default_rng(0)
        self.kind = kind
        self.blobs = [zlib.compress(rng.random((64, 64), dtype=np.float32).round(2).tobytes())
                      for _ in range(n)]

    def __len__(self) -> int:
        return len(self.blobs)

    def __getitem__(self, i: int):
        img = np.frombuffer(zlib.decompress(self.blobs[i]), dtype=np.float32).reshape(64, 64)
        if self.kind == "io":
            time.sleep(0.002)
            return img.copy(), i
        rng = np.random.default_rng(i)  # the same augmentation whichever process runs it
        img = np.roll(img, tuple(rng.integers(-4, 5, 2)), axis=(0, 1))
        for _ in range(8):
            p = np.pad(img, 1, mode="edge")
            img = sum(p[a:a + 64, b:b + 64] for a in range(3) for b in range(3)) / 9
        return img.astype(np.float32), i


def one_pass(ds: Dataset, workers: int, batch_size: int) -> tuple[float, list[int]]:
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                        generator=cr.Generator(0))
    start = time.perf_counter()
    order = [i for _, y in loader for i in y.tolist()]
    return time.perf_counter() - start, order


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", default="0,1,2,4")
    ap.add_argument("--samples", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    print(f"{os.cpu_count()} CPUs; {args.samples} samples, batches of {args.batch_size}; "
          f"median of {args.rounds} passes (seconds)")
    for kind in ("cpu", "io"):
        ds = Images(args.samples, kind)
        base = reference = None
        for w in workers:
            times, order = [], None
            for _ in range(args.rounds):
                t, order = one_pass(ds, w, args.batch_size)
                times.append(t)
            reference = reference or order
            assert order == reference, f"num_workers={w} changed the order of the samples"
            med = statistics.median(times)
            base = base or med
            print(f"  {kind:>3}  num_workers={w}  {med:6.3f} s   speed-up {base / med:4.2f}×")
    assert get_worker_info() is None


if __name__ == "__main__":
    main()
