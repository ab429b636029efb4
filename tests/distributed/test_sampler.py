"""DistributedSampler against torch.utils.data.distributed.DistributedSampler, index for index."""
import pytest

from chainrule.data.distributed import DistributedSampler, torch_randperm

torch = pytest.importorskip("torch")
from torch.utils.data.distributed import DistributedSampler as TorchSampler  # noqa: E402


@pytest.mark.parametrize("n, seed", [(0, 0), (1, 5), (10, 0), (1000, 3), (60000, 42),
                                     (17, 2**40 + 7), (9, -3)])
def test_randperm_is_torchs(n, seed):
    g = torch.Generator()
    g.manual_seed(seed)
    assert torch_randperm(n, seed) == torch.randperm(n, generator=g).tolist()


@pytest.mark.parametrize("n", [1, 7, 10, 64, 1001])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
@pytest.mark.parametrize("shuffle, drop_last", [(True, False), (True, True), (False, False),
                                                (False, True)])
def test_indices_match_torch(n, world, shuffle, drop_last):
    for rank in range(world):
        for epoch in (0, 1, 5):
            ours = DistributedSampler(range(n), world, rank, shuffle=shuffle, seed=11,
                                      drop_last=drop_last)
            theirs = TorchSampler(range(n), world, rank, shuffle=shuffle, seed=11,
                                  drop_last=drop_last)
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs), (rank, epoch)
            assert len(ours) == len(theirs) == ours.num_samples
            assert ours.total_size == theirs.total_size


def test_ranks_split_the_epoch():
    shares = [list(DistributedSampler(range(10), 3, r, seed=1)) for r in range(3)]
    # every index once, and the first 2 of the permutation again (padding 10 to 12)
    assert sorted(sum(shares, [])) == sorted(torch_randperm(10, 1) + torch_randperm(10, 1)[:2])
    a = DistributedSampler(range(10), 2, 0, seed=1)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first  # a new order each epoch


def test_errors():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval "
                                         r"\[0, 1\]"):
        DistributedSampler(range(4), 2, 2)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))
