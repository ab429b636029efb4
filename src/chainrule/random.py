"""One global random generator, so that a seeded run is reproducible (``cr.manual_seed``)."""

from __future__ import annotations

import json

import numpy as np


class Generator:
    """A seedable source of random numbers, like ``torch.Generator``; wraps NumPy's PCG64."""

    __slots__ = ("_rng", "_seed")

    def __init__(self, seed: int | None = None, *, device=None):
        # PyTorch's first argument is the device: cr.Generator("cpu") and device="cpu" run
        from .device import check_device, device as device_type

        if isinstance(seed, (str, device_type)):
            seed, device = None, seed
        check_device(device, "Generator")
        if seed is None:  # a fresh seed, kept so that initial_seed() can tell it
            seed = int(np.random.SeedSequence().entropy % (2**63))
        self.manual_seed(seed)

    @property
    def device(self):
        from .device import CPU

        return CPU

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with."""
        return self._seed

    def seed(self) -> int:
        s = int(np.random.SeedSequence().entropy % (2**63))
        self.manual_seed(s)
        return s

    @property
    def numpy(self) -> np.random.Generator:
        """The underlying ``numpy.random.Generator``."""
        return self._rng

    def get_state(self) -> np.ndarray:
        """The state as a uint8 array (JSON of PCG64's state), storable in a checkpoint."""
        text = json.dumps(self._rng.bit_generator.state)
        return np.frombuffer(text.encode(), dtype=np.uint8).copy()

    def set_state(self, state) -> None:
        state = np.asarray(state, dtype=np.uint8)
        self._rng.bit_generator.state = json.loads(state.tobytes().decode())


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the global generator that ``rand``, ``randn``, init, dropout and shuffling use."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    """The global generator's seed; in a DataLoader worker, that worker's seed (as PyTorch's, for
    seeding NumPy and ``random`` in a ``worker_init_fn``)."""
    return default_generator.initial_seed()


def get_rng_state() -> np.ndarray:
    return default_generator.get_state()


def set_rng_state(state) -> None:
    default_generator.set_state(state)


def _rng(generator: Generator | None = None) -> np.random.Generator:
    return (generator or default_generator)._rng
