"""``chainrule.utils.data``: the path PyTorch code imports from (``from torch.utils.data import
DataLoader``). It is ``chainrule.data`` itself, and its modules answer under this path too
(``from chainrule.utils.data.sampler import SubsetRandomSampler``)."""

import sys

import chainrule.data

for _name in ("collate", "dataloader", "dataset", "distributed", "sampler", "worker"):
    sys.modules[f"{__name__}.{_name}"] = sys.modules[f"chainrule.data.{_name}"]
sys.modules[__name__] = chainrule.data
