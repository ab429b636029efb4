"""Switches that every op and every backward pass read: module globals, which Python looks up
through a cache (a class attribute would not be, in Python 3.11, and writing one empties the
class's lookup caches)."""

grad_everywhere = True  # no thread has grad mode off (then no op needs its thread's own mode)
anomaly = False  # detect_anomaly is on
retains = False  # some tensor has called retain_grad() (the engine looks for them only then)
hooks = False  # some tensor has a hook (likewise)
rebased = False  # some tensor of a graph was changed in place (its views may be stale)
detached = False  # some tensor was detach_()ed after an op used it
