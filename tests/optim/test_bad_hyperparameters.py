"""NaN, Inf and out-of-range hyperparameters in the optimizers' constructors: refused, or accepted,
exactly where PyTorch 2.13's are, with its exception type and message. (PyTorch accepts an infinite
lr, and SGD's checks are ``lr < 0``, which NaN passes: the command line refuses those itself.)"""

from __future__ import annotations

import math

import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

NAN, INF = math.nan, math.inf
NUMBERS = [NAN, INF, -INF, -1.0, 0.0]
FRACTIONS = NUMBERS + [1.0, 1.5]  # betas, rho, momentum, alpha: 1 is the edge

HYPERPARAMETERS = {
    "SGD": {"lr": NUMBERS, "momentum": FRACTIONS, "dampening": NUMBERS, "weight_decay": NUMBERS},
    "Adam": {"lr": NUMBERS, "eps": NUMBERS, "weight_decay": NUMBERS, "betas": FRACTIONS},
    "AdamW": {"lr": NUMBERS, "eps": NUMBERS, "weight_decay": NUMBERS, "betas": FRACTIONS},
    "RMSprop": {"lr": NUMBERS, "alpha": FRACTIONS, "eps": NUMBERS, "weight_decay": NUMBERS,
                "momentum": FRACTIONS},
    "Adagrad": {"lr": NUMBERS, "lr_decay": NUMBERS, "weight_decay": NUMBERS,
                "initial_accumulator_value": NUMBERS, "eps": NUMBERS},
    "NAdam": {"lr": NUMBERS, "eps": NUMBERS, "weight_decay": NUMBERS, "momentum_decay": NUMBERS,
              "betas": FRACTIONS},
    "RAdam": {"lr": NUMBERS, "eps": NUMBERS, "weight_decay": NUMBERS, "betas": FRACTIONS},
    "Adadelta": {"lr": NUMBERS, "rho": FRACTIONS, "eps": NUMBERS, "weight_decay": NUMBERS},
    "Adamax": {"lr": NUMBERS, "eps": NUMBERS, "weight_decay": NUMBERS, "betas": FRACTIONS},
    "LBFGS": {"lr": NUMBERS, "tolerance_grad": NUMBERS, "tolerance_change": NUMBERS},
}


def _cases():
    for name, table in HYPERPARAMETERS.items():
        for option, values in table.items():
            for value in values:
                if option == "betas":  # each of the pair, the other one valid
                    yield name, {"betas": (value, 0.999)}
                    yield name, {"betas": (0.9, value)}
                else:
                    yield name, {option: value}


def _construct(lib, name, options):
    """None if the constructor accepts the options, else (exception type name, message)."""
    params = [lib.zeros(2, requires_grad=True)]
    try:
        getattr(lib.optim, name)(params, **options)
    except Exception as e:  # compared with PyTorch's, whatever it is
        return type(e).__name__, str(e)
    return None


CASES = list(_cases())


@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_constructor_refuses_what_pytorch_refuses_with_its_message(name, options):
    assert _construct(cr, name, options) == _construct(torch, name, options)


def test_the_table_refuses_nan_lr_except_in_sgd():
    """What the table checks, in numbers: NaN lr is refused by nine optimizers, not by SGD."""
    refused = {name for name in HYPERPARAMETERS if _construct(cr, name, {"lr": NAN})}
    assert refused == set(HYPERPARAMETERS) - {"SGD"}
    assert _construct(cr, "Adam", {"lr": NAN}) == ("ValueError", "Invalid learning rate: nan")
    assert _construct(cr, "SGD", {"momentum": -INF}) == ("ValueError",
                                                         "Invalid momentum value: -inf")
