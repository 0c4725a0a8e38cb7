"""The floor: how cheap one op can be in a reverse-mode engine written in Python.

Two throw-away engines that can do exactly what the chain workload needs (`*` and
`.sum()`), timed beside minigrad in the same rounds, for information:

* ``floor bare``: the leanest design there is.  Each op records a closure that
  knows its inputs; backward walks the newest-first heap and hands each closure's
  gradients on.  No checks of any kind.
* ``floor checked``: the same tape, doing per op the work minigrad does to stay
  correct and helpful: it keeps the inputs' arrays and which of them need a
  gradient, skips the rest, checks each gradient's type, shape and dtype, looks
  for retain_grad / wanted tensors, a hook, an in-place change since forward and
  a freed graph, and frees the saved arrays once used.

The gap between the two is the price of those checks; the gap between ``floor
checked`` and minigrad is the price of minigrad's op classes (one `forward` and
`backward` per op, any number of inputs and settings) over hand-written closures.
"""
import itertools
from heapq import heappop, heappush

import numpy as np

_number = itertools.count(1).__next__


class _Node:
    """One value on the tape: its array, and how it was made (None for an input)."""
    __slots__ = ("data", "grad", "made_by", "requires_grad", "retains_grad", "version")

    def __init__(self, data, made_by=None, requires_grad=False):
        self.data, self.made_by, self.requires_grad = data, made_by, requires_grad
        self.grad, self.retains_grad, self.version = None, False, 0

    def __mul__(self, other):
        a, b = self.data, other.data
        needs = (self.requires_grad, other.requires_grad)

        def backward(g):
            return (g * b if needs[0] else None, g * a if needs[1] else None)

        return _Node(a * b, (_number(), backward, (self, other), (a, b), needs), True)

    def sum(self):
        a = self.data

        def backward(g):
            full = np.empty(a.shape, a.dtype)
            full[...] = g
            return (full,)

        return _Node(a.sum(), (_number(), backward, (self,), (a,), (True,)), True)


def bare_backward(root):
    grads = {root: np.ones_like(root.data)}
    waiting, leaves, owned = [(-root.made_by[0], root)], [], set()
    while waiting:
        t = heappop(waiting)[1]
        g = grads.pop(t)
        _, backward, inputs = t.made_by[:3]
        for x, gx in zip(inputs, backward(g)):
            _hand_on(x, gx, grads, owned, waiting, leaves)
    for x in leaves:
        x.grad = np.array(grads.pop(x))


def checked_backward(root, wanted=None, hook=None, retain_graph=False, last_change=0):
    grads = {root: np.ones_like(root.data)}
    waiting, leaves, owned = [(-root.made_by[0], root)], [], set()
    while waiting:
        t = heappop(waiting)[1]
        g = grads.pop(t)
        if t.retains_grad or wanted:
            raise NotImplementedError("the floor keeps no gradients of inner tensors")
        number, backward, inputs, arrays, needs = t.made_by
        if inputs is None or number < last_change:
            raise RuntimeError("freed graph, or changed in place")
        in_grads = backward(g)
        if hook is not None:
            hook(t, g)
        for x, like, need, gx in zip(inputs, arrays, needs, in_grads):
            if not need or gx is None:
                continue
            if type(gx) is not type(like) or gx.shape != like.shape or gx.dtype is not like.dtype:
                raise RuntimeError("the floor does not fit gradients to shape")
            _hand_on(x, gx, grads, owned, waiting, leaves)
        if not retain_graph:
            t.made_by = (number, backward, None, None, needs)
    for x in leaves:
        x.grad = np.array(grads.pop(x))


def _hand_on(x, gx, grads, owned, waiting, leaves):
    if x not in grads:
        grads[x] = gx
        if x.made_by is None:
            leaves.append(x)
        else:
            heappush(waiting, (-x.made_by[0], x))
    elif x in owned:
        grads[x] += gx
    else:
        grads[x] = grads[x] + gx
        owned.add(x)


def chain_step(backward):
    """A chain workload's factory for the floor engine whose sweep is `backward`."""
    def factory(wl):
        x, w = wl.arrays
        k = wl.params["k"]

        def run():
            xt, wt = _Node(x, requires_grad=True), _Node(w, requires_grad=True)
            y = xt
            for _ in range(k):
                y = y * wt
            loss = y.sum()
            backward(loss)
            return loss.data, (xt.grad, wt.grad)

        return run
    return factory
