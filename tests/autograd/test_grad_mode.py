"""Grad mode belongs to a thread; no_grad / enable_grad / set_grad_enabled / inference_mode as
context managers and decorators (also of generators), as PyTorch's."""

from __future__ import annotations

import threading

import pytest

import chainrule as cr

from ._parity import T, assert_same, torch

TRIALS = 100
X = [1.0, -2.0, 3.0]
WAIT = 10  # seconds: a barrier or event that takes longer than this means a deadlock


def _records(L) -> bool:
    return (L.ones(2, requires_grad=True) * 2).requires_grad


def _run(*targets):
    errors = []

    def wrap(f):
        def run():
            try:
                f()
            except BaseException as err:  # noqa: BLE001 (reported below)
                errors.append(err)
        return run

    threads = [threading.Thread(target=wrap(f)) for f in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive(), "a thread did not finish"
    if errors:
        raise errors[0]


def _while_another_thread_is_inside(mode, main, inside=lambda: None):
    """Another thread enters ``mode()`` and calls ``inside()`` there; while it stays inside, a
    second thread calls ``main()``. Returns {"other": inside(), "main": main()}."""
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def other():
        with mode():
            seen["other"] = inside()
            entered.set()
            assert release.wait(WAIT)

    def run_main():
        assert entered.wait(WAIT)  # the other thread is inside the mode now
        try:
            seen["main"] = main()
        finally:
            release.set()

    _run(other, run_main)
    return seen


BOTH = pytest.mark.parametrize("L", [cr, torch], ids=["chainrule", "torch"])


@BOTH
def test_no_grad_in_one_thread_does_not_stop_another_from_recording(L):
    def main():
        x = L.tensor(X, requires_grad=True)
        y = (x * x).sum()
        recorded = (L.is_grad_enabled(), y.requires_grad)
        y.backward()
        return recorded, x.grad.tolist()

    for trial in range(TRIALS):
        seen = _while_another_thread_is_inside(L.no_grad, main,
                                               lambda: (L.is_grad_enabled(), _records(L)))
        assert seen == {"other": (False, False), "main": ((True, True), [2.0, -4.0, 6.0])}, (
            f"trial {trial}")
        assert L.is_grad_enabled() and _records(L)


@BOTH
def test_two_threads_in_no_grad_at_once_leave_grad_mode_on_for_the_main_thread(L):
    for trial in range(TRIALS):
        inside = threading.Barrier(2)

        def inference():
            with L.no_grad():
                inside.wait(WAIT)  # both threads are inside no_grad at once
                assert not _records(L)
                inside.wait(WAIT)

        _run(inference, inference)
        assert L.is_grad_enabled() and _records(L), f"trial {trial}"


@BOTH
def test_overlapping_no_grad_blocks_leaving_in_the_other_order(L):
    for trial in range(TRIALS):
        a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
        seen = []

        def a():
            with L.no_grad():
                a_in.set()
                assert b_in.wait(WAIT)
            seen.append(("a after", L.is_grad_enabled(), _records(L)))
            a_out.set()

        def b():
            assert a_in.wait(WAIT)
            with L.no_grad():
                b_in.set()
                assert a_out.wait(WAIT)  # a left first: b is still inside
                seen.append(("b inside", L.is_grad_enabled(), _records(L)))
            seen.append(("b after", L.is_grad_enabled(), _records(L)))

        _run(a, b)
        assert sorted(seen) == [("a after", True, True), ("b after", True, True),
                                ("b inside", False, False)], f"trial {trial}"
        assert L.is_grad_enabled() and _records(L)


@BOTH
def test_set_grad_enabled_as_a_call_affects_only_the_calling_thread(L):
    for trial in range(TRIALS):
        switched, checked = threading.Event(), threading.Event()
        seen = {}

        def other():
            L.set_grad_enabled(False)  # a plain call, never switched back
            seen["other"] = (L.is_grad_enabled(), _records(L))
            switched.set()
            assert checked.wait(WAIT)
            seen["other later"] = (L.is_grad_enabled(), _records(L))

        def main():
            assert switched.wait(WAIT)
            seen["main"] = (L.is_grad_enabled(), _records(L))
            checked.set()

        _run(other, main)
        assert seen == {"other": (False, False), "main": (True, True),
                        "other later": (False, False)}, f"trial {trial}"
        assert L.is_grad_enabled() and _records(L)


@BOTH
def test_a_thread_started_inside_no_grad_records(L):
    for trial in range(TRIALS):
        seen = {}

        def worker():
            x = L.ones(2, requires_grad=True)
            (x * 3).sum().backward()
            seen["worker"] = (L.is_grad_enabled(), x.grad.tolist())

        with L.no_grad():
            _run(worker)
            seen["main inside"] = _records(L)
        assert seen == {"worker": (True, [3.0, 3.0]), "main inside": False}, f"trial {trial}"


@BOTH
def test_create_graph_backward_while_another_thread_is_in_no_grad(L):
    def main():
        x = L.tensor([1.0, 2.0], requires_grad=True)
        (g,) = L.autograd.grad((x ** 3).sum(), x, create_graph=True)
        (g2,) = L.autograd.grad(g.sum(), x)
        return g.requires_grad, g2.tolist()

    for trial in range(TRIALS):
        seen = _while_another_thread_is_inside(L.no_grad, main)
        assert seen == {"other": None, "main": (True, [6.0, 12.0])}, f"trial {trial}"


@BOTH
def test_inference_mode_in_one_thread_is_not_seen_in_another(L):
    def state():
        return L.is_inference_mode_enabled(), L.is_grad_enabled(), _records(L)

    for trial in range(TRIALS):
        seen = _while_another_thread_is_inside(L.inference_mode, state, state)
        assert seen == {"other": (True, False, False), "main": (False, True, True)}, (
            f"trial {trial}")


def test_many_threads_switching_modes_leave_every_thread_as_it_set_itself():
    """Eight threads, each toggling its own mode 200 times in lockstep with the others."""
    n, rounds = 8, 200
    barrier = threading.Barrier(n)
    bad = []

    def worker(i):
        for r in range(rounds):
            want = (i + r) % 2 == 0
            cr.set_grad_enabled(want)
            barrier.wait(WAIT)  # every thread has set its mode
            if cr.is_grad_enabled() != want or _records(cr) != want:
                bad.append((i, r))
            barrier.wait(WAIT)
        cr.set_grad_enabled(True)

    _run(*[lambda i=i: worker(i) for i in range(n)])
    assert bad == []
    assert cr.is_grad_enabled() and _records(cr)


# -- inference_mode ------------------------------------------------------------------------------

def test_inference_mode_records_no_graph():
    def case(L):
        x = T(L, X, True)
        with L.inference_mode():
            y = x * 2
            inside = (L.is_inference_mode_enabled(), L.is_grad_enabled(), y.requires_grad,
                      y.grad_fn is None)
        return inside, L.is_inference_mode_enabled(), L.is_grad_enabled(), y

    assert_same(case)


def test_inference_mode_as_a_decorator_with_and_without_parentheses():
    def case(L):
        @L.inference_mode()
        def f(x):
            return x * 2, L.is_inference_mode_enabled(), L.is_grad_enabled()

        @L.inference_mode
        def g(x):
            return x * 2, L.is_inference_mode_enabled(), L.is_grad_enabled()

        x = T(L, X, True)
        (a, a_mode, a_grad), (b, b_mode, b_grad) = f(x), g(x)
        return (a.requires_grad, a_mode, a_grad, b.requires_grad, b_mode, b_grad,
                L.is_inference_mode_enabled(), f.__name__, g.__name__)

    assert assert_same(case) == (False, True, False, False, True, False, False, "f", "g")


def test_inference_mode_false_inside_inference_mode_records_again():
    def case(L):
        x = T(L, X, True)
        with L.inference_mode():
            with L.inference_mode(False):
                y = x * 2
                inner = (L.is_inference_mode_enabled(), L.is_grad_enabled(), y.requires_grad)
            outer = (L.is_inference_mode_enabled(), L.is_grad_enabled())
        y.sum().backward()
        return inner, outer, x.grad

    assert_same(case)


def test_inference_mode_false_outside_and_nesting_with_no_grad():
    def case(L):
        with L.inference_mode(False):
            a = (L.is_inference_mode_enabled(), L.is_grad_enabled(), _records(L))
        with L.no_grad():
            with L.inference_mode():
                b = (L.is_inference_mode_enabled(), L.is_grad_enabled())
            c = (L.is_inference_mode_enabled(), L.is_grad_enabled())
        return a, b, c, L.is_grad_enabled()

    assert_same(case)


def test_inference_mode_on_a_module_forward():
    def case(L):
        lin = L.nn.Linear(3, 2)
        with L.inference_mode():
            out = lin(T(L, [X]))
        return out.requires_grad, out.grad_fn is None, lin.weight.requires_grad

    assert assert_same(case) == (False, True, True)


@pytest.mark.parametrize("enable", [lambda L: L.enable_grad(), lambda L: L.set_grad_enabled(True)],
                         ids=["enable_grad", "set_grad_enabled(True)"])
def test_enable_grad_inside_inference_mode_records_nothing_as_pytorch(enable):
    def case(L):
        outside = T(L, X, True)
        with L.inference_mode():
            with enable(L):
                x = T(L, X, True)
                y, z = x * 2, outside * 2
                inside = (y.requires_grad, y.grad_fn is None, z.requires_grad, z.grad_fn is None,
                          L.is_inference_mode_enabled())
            after = (L.is_inference_mode_enabled(), L.is_grad_enabled())
        return inside, after, L.is_grad_enabled()

    assert assert_same(case) == ((False, True, False, True, True), (True, False), True)


def test_is_grad_enabled_inside_enable_grad_inside_inference_mode_as_pytorch():
    def case(L):
        with L.inference_mode():
            with L.enable_grad():
                inside = L.is_grad_enabled()
            return inside, L.is_grad_enabled()

    assert assert_same(case) == (True, False)


def test_tensors_made_in_inference_mode_are_ordinary_tensors():
    # PyTorch marks tensors made in inference_mode as inference tensors: t.is_inference() is
    # True, autograd refuses to save them ("Inference tensors cannot be saved for backward") and
    # an in-place change outside inference mode is refused. chainrule's inference_mode is no_grad
    # under another name, on purpose (README, "differences from PyTorch"): its tensors are
    # ordinary, safe in a graph because version counters cover every array (the two tests
    # below), so there is no is_inference().
    x = cr.tensor(X, requires_grad=True)
    with cr.inference_mode():
        y = x * 2
        o = cr.ones(3)
    assert not hasattr(x, "is_inference") and not hasattr(cr.Tensor, "is_inference")
    assert type(y) is cr.Tensor and y.grad_fn is None and not y.requires_grad
    assert y.tolist() == [2.0, -4.0, 6.0] and o.tolist() == [1.0, 1.0, 1.0]
    o.add_(1)  # PyTorch: "Inplace update to inference tensor outside InferenceMode is not allowed"
    assert o.tolist() == [2.0, 2.0, 2.0] and o._version == 1

    with torch.inference_mode():
        t = torch.ones(3)
    assert t.is_inference()
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
        torch.tensor(X, requires_grad=True) * t


def test_a_tensor_made_in_inference_mode_changed_after_it_was_saved_is_caught():
    # what PyTorch's refusal protects against, chainrule catches with its version error
    with cr.inference_mode():
        t = cr.ones(3) * 2
    x = cr.tensor(X, requires_grad=True)
    y = x * t  # MulBackward saves t
    t.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as e:
        y.sum().backward()
    assert "MulBackward" in str(e.value)
    assert "is at version 1; expected version 0 instead" in str(e.value)
    assert x.grad is None


def test_a_tensor_made_in_inference_mode_is_usable_in_a_graph():
    """The documented deviation: PyTorch refuses to save an inference tensor; chainrule treats it
    as an ordinary tensor and gives the right gradient."""
    with cr.inference_mode():
        t = cr.tensor([4.0, 5.0, 6.0]) * 1
    x = cr.tensor(X, requires_grad=True)
    (x * t).sum().backward()
    assert x.grad.tolist() == [4.0, 5.0, 6.0]


# -- decorators, generators ------------------------------------------------------------------------

def _generator_case(deco_of):
    def case(L):
        x = T(L, X, True)

        @deco_of(L)
        def gen(n):
            for _ in range(n):
                yield L.is_grad_enabled(), (x * 2).requires_grad

        seen = []
        for inside in gen(3):
            seen.append((inside, L.is_grad_enabled(), (x * 2).requires_grad))
        return seen
    return case


def _yields_grad_mode(L, decorator):
    """A generator function under ``decorator`` that yields L.is_grad_enabled() twice."""
    @decorator
    def gen():
        for _ in range(2):
            yield L.is_grad_enabled()
    return gen


@pytest.mark.parametrize("deco_of", [lambda L: L.no_grad(), lambda L: L.no_grad],
                         ids=["@no_grad()", "@no_grad"])
def test_no_grad_on_a_generator_switches_per_step_and_back_between_steps(deco_of):
    got = assert_same(_generator_case(deco_of))
    assert got == [((False, False), True, True)] * 3


def test_enable_grad_on_a_generator_called_inside_no_grad():
    def case(L):
        gen = _yields_grad_mode(L, L.enable_grad())
        with L.no_grad():
            return [(inside, L.is_grad_enabled()) for inside in gen()]

    assert assert_same(case) == [(True, False), (True, False)]


def test_generator_send_throw_close_and_return_value():
    def case(L):
        @L.no_grad()
        def gen():
            got = yield L.is_grad_enabled()
            try:
                yield (got, L.is_grad_enabled())
            except ValueError:
                yield ("caught", L.is_grad_enabled())
            try:
                yield "last"
            finally:
                finals.append(L.is_grad_enabled())
            return "done"

        finals = []
        g = gen()
        a = next(g)
        b = g.send(5)
        c = g.throw(ValueError())
        d = next(g)
        between = L.is_grad_enabled()
        g.close()
        h = gen()
        next(h)
        h.send(1)
        next(h)
        try:
            next(h)
        except StopIteration as stop:
            value = stop.value
        return a, b, c, d, between, finals, value, L.is_grad_enabled()

    assert assert_same(case) == (False, (5, False), ("caught", False), "last", True,
                                 [False, False], "done", True)


def test_interleaved_generators_each_keep_their_own_mode():
    def case(L):
        a, b = _yields_grad_mode(L, L.no_grad())(), _yields_grad_mode(L, L.enable_grad())()
        seen = []
        with L.no_grad():
            seen += [next(b), L.is_grad_enabled()]
        seen += [next(a), L.is_grad_enabled(), next(b), next(a), L.is_grad_enabled()]
        return seen

    assert_same(case)


def test_breaking_out_of_a_no_grad_generator_restores_the_mode():
    def case(L):
        @L.no_grad()
        def count():
            i = 0
            while True:
                yield i
                i += 1

        for v in count():
            if v == 2:
                break
        return L.is_grad_enabled(), _records(L)

    assert assert_same(case) == (True, True)


def test_yield_from_a_no_grad_generator():
    def case(L):
        @L.no_grad()
        def inner():
            yield L.is_grad_enabled()

        def outer():
            yield from inner()
            yield L.is_grad_enabled()

        return list(outer())

    assert assert_same(case) == [False, True]


def test_inference_mode_on_a_generator():
    def case(L):
        @L.inference_mode()
        def gen():
            yield L.is_inference_mode_enabled()
            yield L.is_inference_mode_enabled()

        return [(v, L.is_inference_mode_enabled()) for v in gen()]

    assert assert_same(case) == [(True, False), (True, False)]


def test_no_grad_decorators_on_functions():
    def case(L):
        @L.no_grad
        def f(x):
            return x * 2

        @L.no_grad()
        def g(x):
            return x * 2

        nested = L.no_grad()

        @nested
        def h(n):
            return L.is_grad_enabled() if n == 0 else h(n - 1)

        return (f(T(L, X, True)).requires_grad, g(T(L, X, True)).requires_grad, f.__name__,
                h(3), L.is_grad_enabled())

    assert assert_same(case) == (False, False, "f", False, True)


def test_set_grad_enabled_as_a_call_and_as_a_context_manager():
    def case(L):
        L.set_grad_enabled(False)
        a = L.is_grad_enabled()
        L.set_grad_enabled(True)
        with L.set_grad_enabled(False):
            b = L.is_grad_enabled()
        with L.no_grad():
            with L.set_grad_enabled(True):
                c = _records(L)
            d = L.is_grad_enabled()
        return a, b, c, d, L.is_grad_enabled()

    assert assert_same(case) == (False, False, True, False, True)


def test_set_grad_enabled_as_a_decorator():
    def case(L):
        @L.set_grad_enabled(False)
        def f(x):
            return x * 2, L.is_grad_enabled()

        before = L.is_grad_enabled()
        y, inside = f(T(L, X, True))
        return before, y.requires_grad, inside, L.is_grad_enabled()

    assert assert_same(case) == (True, False, False, True)
