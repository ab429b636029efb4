"""``cr.backends.cudnn``: the flags scripts set for reproducibility or speed. They are kept so
that those lines run, and change nothing: chainrule's results are deterministic on the CPU."""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    return False


def version() -> None:
    return None
