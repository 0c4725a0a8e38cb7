"""Reverse mode: the gradient-mode switch and the backward sweep.

Function.apply records each op that gets an input requiring a gradient: the output's
`grad_fn` holds the op, its inputs and a number from `next_number`, which grows with
every recorded op.  `backward()` walks that graph from the output back to the leaves:

1. seed: the output's gradient (1 for a one-element output);
2. take the newest tensor still waiting.  An op's output is always newer than its
   inputs, so every op that used this tensor has already handed its gradient back:
   the gradient is complete;
3. run its op's backward rule, which hands a gradient to each input, summed back to
   the input's shape (broadcasting is undone here, and nowhere else), and add it to
   whatever that input has received so far;
4. when nothing waits, add each leaf's gradient into its `.grad`.
"""
import itertools
from heapq import heappop, heappush

import numpy as np

from minigrad.tensor import Tensor, unwrap, wrap


class EngineState:
    """What the engine reads on every op (an instance, as its attributes are quick to read).

    grad_enabled: whether ops record a graph now (switched by no_grad / enable_grad).
    last_change: the number of the latest in-place change of any tensor (see Tensor._in_place).
    """
    __slots__ = ("grad_enabled", "last_change")

    def __init__(self):
        self.grad_enabled, self.last_change = True, 0


state = EngineState()
next_number = itertools.count(1).__next__  # each recorded op and each in-place change takes the next number:
                                           # an op's output is newer (larger) than its inputs


class set_grad_enabled:
    """Context manager and decorator that switches graph recording on or off."""

    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        self.previous, state.grad_enabled = state.grad_enabled, self.enabled

    def __exit__(self, *exc):
        state.grad_enabled = self.previous

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.enabled):
                return func(*args, **kwargs)

        wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
        return wrapper


def no_grad():
    """Record no graph inside: `with no_grad(): ...` or `@no_grad()` on a function."""
    return set_grad_enabled(False)


def enable_grad():
    """Record graphs again, e.g. inside a `no_grad()` block."""
    return set_grad_enabled(True)


def is_grad_enabled():
    return state.grad_enabled


def run_backward(root, grad=None, retain_graph=False, create_graph=False, accumulate=True, wanted=(), hook=None):
    """The sweep from `root`, newest tensor first; returns the gradients of `wanted`.

    accumulate: add into leaves' (and retain_grad tensors') `.grad`.  retain_graph: keep
    each op's saved inputs (else dropped once used).  hook: `op(fn, output, grad, handed)`
    and `leaf(tensor, grad)` are told each step (minigrad.viz.explain_backward draws them).
    """
    grads = {root: _seed(root, grad, create_graph)}  # tensor (hashed by identity) -> the sum of its gradients so far
    owned = set()             # tensors whose sum in `grads` the sweep made itself, so may add into
    waiting, leaves = [], []  # waiting: a heap of (-op number, tensor), newest first; leaves: in arrival order
    _schedule(root, waiting, leaves)
    found = dict.fromkeys(wanted)  # wanted tensor -> its gradient, once the sweep has it
    with set_grad_enabled(create_graph):
        while waiting:
            t = heappop(waiting)[1]
            g = grads.pop(t)  # complete: every op that used t is newer, so has run
            if t.retains_grad or found:
                _keep(t, g, found, accumulate)
            fn = t.grad_fn
            in_grads = _apply_rule(fn, g, t, create_graph, hook)
            for x, like, need, gx in zip(fn.inputs, fn.arrays, fn.needs_grad, in_grads):
                if not need or gx is None:
                    continue
                if type(gx) is not type(like) or gx.shape != like.shape or gx.dtype is not like.dtype:
                    gx = _fit(gx, like, fn, create_graph)
                if x not in grads:  # the first gradient to reach x: x now waits its turn
                    grads[x] = gx
                    if x.grad_fn is None:
                        leaves.append(x)
                    else:
                        heappush(waiting, (-x.grad_fn.number, x))
                elif x in owned:
                    grads[x] += gx
                else:  # (the first gradient may be shared with other inputs: a new array for the sum)
                    grads[x] = grads[x] + gx
                    owned.add(x)
            if not retain_graph:
                fn.inputs = fn.arrays = None  # the saved inputs can go now
    for x in leaves:
        _finish_leaf(x, grads.pop(x), found, accumulate, hook)
    return [found[t] for t in wanted]


def _keep(t, g, found, accumulate):
    """Hold on to t's gradient where asked: in `.grad` (retain_grad), or among those wanted."""
    if t.retains_grad and accumulate:
        t.grad = _accumulate(t.grad, g)
    if t in found:
        found[t] = g


def _schedule(t, waiting, leaves):
    """t waits its turn: on the heap by its op's number (newest first), or as a leaf."""
    if t.grad_fn is None:
        leaves.append(t)
    else:
        heappush(waiting, (-t.grad_fn.number, t))


def _seed(root, grad, create_graph):
    """The gradient the sweep starts from: ones for a one-element output, else `grad`."""
    if not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no grad_fn "
                           "(was it computed under no_grad(), or from tensors without requires_grad=True?)")
    out = root.data
    if grad is None:
        if out.size != 1:
            raise RuntimeError(f"backward: grad can be implicit only for a one-element output, but the "
                               f"output has shape {out.shape}; pass grad= of that shape (e.g. ones)")
        grad = np.array(1, out.dtype).reshape(out.shape)  # (np.ones is Python code: slower here)
    elif not (create_graph and isinstance(grad, Tensor)):  # (a Tensor grad under create_graph stays in the graph)
        grad = np.asarray(unwrap(grad), dtype=out.dtype)
    if grad.shape != out.shape:
        raise ValueError(f"backward: grad has shape {grad.shape} but the output has shape {out.shape}")
    if create_graph:
        grad = wrap(grad) if type(grad) is np.ndarray else grad.astype(out.dtype, copy=False)
    return grad


def _apply_rule(fn, grad, out, create_graph, hook=None):
    """fn's backward rule, run on what forward saw: one gradient (or None) per input."""
    if fn.inputs is None or fn.number < state.last_change:
        _check_recorded(fn)
    try:
        if create_graph:
            in_grads = fn.backward(grad, *_inputs_as_recorded(fn), out)
        else:
            in_grads = fn.backward(grad, *fn.arrays, out.data)
    except Exception as err:  # name the op, and keep the line of its backward that failed
        raise op_error(fn, "backward", err, fn.arrays) from err
    if type(in_grads) is not tuple:
        in_grads = (in_grads,)
    if hook is not None:
        hook.op(fn, out, grad, _handed(fn, in_grads, create_graph))
    return in_grads


def _handed(fn, in_grads, create_graph):
    """For a hook: (input, gradient as backward returned it, gradient fitted to the input)."""
    return [(x, gx, _fit(gx, like, fn, create_graph))
            for x, like, need, gx in zip(fn.inputs, fn.arrays, fn.needs_grad, in_grads) if need and gx is not None]


def _finish_leaf(x, g, found, accumulate, hook):
    if hook is not None:
        hook.leaf(x, g)
    if x in found:
        found[x] = g
    if accumulate:
        x.grad = _accumulate(x.grad, g)


def _fit(grad, like, fn, create_graph):
    """grad brought to the shape of `like` (see _to_shape) and to its dtype."""
    if type(grad) is Tensor and not create_graph:  # a backward that called another op's apply
        grad = grad.data
    if grad.shape != like.shape:
        grad = _to_shape(grad, like, fn, create_graph)
    if grad.dtype != like.dtype:
        grad = grad.astype(like.dtype)
    return grad


def _to_shape(grad, like, fn, create_graph):
    """The one place broadcasting is dealt with in backward.  A gradient of a broadcast shape
    is summed back down; a smaller one, with size-1 axes (Sum's backward returns its gradient
    with the summed axes kept as 1), is repeated up along them."""
    try:
        # Repeated when grad's axes are each 1 or the input's (the size test decides most cases quickly).
        repeat = grad.ndim == like.ndim and (grad.size < like.size or all(
            g in (1, n) for g, n in zip(grad.shape, like.shape)))
        if repeat:
            fitted = repeat_to_shape(grad, like.shape, view=create_graph or like.size > 4096)
        else:
            fitted = sum_to_shape(grad, like.shape)
    except ValueError:  # the two shapes do not broadcast
        fitted = None
    if fitted is None or fitted.shape != like.shape:
        raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape "
                           f"{grad.shape} for an input of shape {like.shape}")
    return fitted


def sum_to_shape(grad, shape):
    """Sum a broadcast gradient back down to `shape`."""
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def repeat_to_shape(grad, shape, view=True):
    """grad repeated along its size-1 axes up to `shape`: a read-only broadcast view (no
    memory; a BroadcastTo op under create_graph) or, with view=False, a new array, which
    for small arrays is quicker to make than the view."""
    if view:
        return np.broadcast_to(grad, shape)
    full = np.empty(shape, grad.dtype)
    full[...] = grad
    return full


def _check_recorded(fn):
    """Refuse a backward through a freed graph, or at values an in-place change has
    overwritten since fn ran."""
    if fn.inputs is None:
        raise RuntimeError(f"backward: the graph through {type(fn).__name__} was already freed by an earlier "
                           "backward(); pass retain_graph=True to the first backward() to go through it twice")
    for i, x in enumerate(fn.inputs):
        if isinstance(x, Tensor) and x._version > fn.number:
            raise RuntimeError(
                f"{type(fn).__name__}.backward: its input {i} (shape {x.shape}) was modified by an in-place "
                f"operation after {type(fn).__name__} used it, so its gradient would be wrong; change a copy "
                "instead, or compute the forward again after the change")


def _inputs_as_recorded(fn):
    """The inputs for a backward under create_graph: Tensors, so that the graph goes on, with
    the values they had in forward.  If `x.data` was rebound since, a stand-in holds the old
    array and passes gradients on to x, so both modes differentiate at forward-time values."""
    return [_AsRecorded.apply(x, value=array) if isinstance(x, Tensor) and x.data is not array else x
            for x, array in zip(fn.inputs, fn.arrays)]


def _accumulate(current, g):
    """current + g as a Tensor.  A first gradient gets its own copy: the sweep may have
    handed one array to several inputs (x + y), or a read-only broadcast view."""
    if type(g) is not Tensor:
        g = wrap(np.array(g))
    return g if current is None else current + g


def grad(output, inputs, grad_output=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of `output` w.r.t. each of `inputs`, returned rather than stored in `.grad`.

    Like torch.autograd.grad.  With create_graph=True the results are Tensors with a
    graph (through grad_output too, if it requires grad), so they can be differentiated
    again: Hessian-vector and Jacobian-vector products.
    """
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    results = run_backward(output, grad_output, retain_graph=create_graph if retain_graph is None else retain_graph,
                           create_graph=create_graph, accumulate=False, wanted=inputs)
    for t, g in zip(inputs, results):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: an input of shape {t.shape} is not used to compute the output; "
                               "pass allow_unused=True to get None for it")
    results = [g if g is None or type(g) is Tensor else wrap(np.array(g)) for g in results]
    return results[0] if single else results


from minigrad.function import Function, op_error  # noqa: E402  (Function records ops with next_number above)


class _AsRecorded(Function):
    """x as it was when an op used it: forward returns that array, backward passes grad to x."""

    def forward(self, x, value):
        return value

    def backward(self, grad, x, out):
        return grad
