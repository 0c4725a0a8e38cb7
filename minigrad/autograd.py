"""Reverse mode: the backward sweep, and `minigrad.grad`.

Function.apply records each op that gets an input requiring a gradient: the output's
`grad_fn` holds the op, its inputs and a number from `next_number`, which grows with
every recorded op.  `backward()` walks that graph from the output back to the leaves:

1. seed: the output's gradient (1 for a one-element output);
2. take the newest waiting tensor: an op's output is newer than its inputs, so every op
   that used this tensor has handed its gradient back, and the gradient is complete;
3. run its op's backward rule, which hands each input a gradient, brought to the input's
   shape (broadcasting is undone here, and nowhere else), added to what it has so far;
4. when nothing waits, add each leaf's gradient into its `.grad`.

Read `run_backward` first; each helper below it, in the order it calls them, is one step or check.
"""
from heapq import heappop, heappush

import numpy as np

from minigrad import versions
from minigrad.function import Function, SomeReleased, inputs_itself, op_error
from minigrad.grad_mode import changes
from minigrad.tensor import Tensor, unwrap


def run_backward(root, grad=None, retain_graph=False, create_graph=False, accumulate=True, wanted=(),
                 hook=None):
    """The sweep from `root`, newest tensor first; returns the gradients of `wanted`.

    Under create_graph the rules get Tensors, so (grad mode on) the sweep records itself.
    accumulate: add into leaves' (and retain_grad tensors') `.grad`.  retain_graph: keep
    each op's saved inputs (else dropped once used).  hook: `op(fn, output, grad, handed)`
    and `leaf(tensor, grad)` are told each step (minigrad.viz.explain_backward draws them).
    """
    grads = {root: seed(root, grad, create_graph)}  # 1. seed.  tensor -> the sum of its gradients so far
    waiting = [(-root.grad_fn.number, root)] if root.grad_fn else []  # a heap of (-op number, tensor)
    found = dict.fromkeys(wanted)  # wanted tensor -> its gradient, once the sweep has it
    while waiting:
        t = heappop(waiting)[1]  # 2. the newest waiting tensor
        g = grads.pop(t)  # complete: every op that used t is newer, so has run
        if t.retains_grad or found:
            keep(t, g, found, accumulate)
        fn = t.grad_fn
        in_grads = run_rule(fn, g, t, create_graph, hook)  # 3. its op's rule: one gradient per input
        for i, gx in enumerate(in_grads):  # (by position: a zip of four costs a third more)
            if gx is None or not fn.needs_grad[i]:
                continue
            x, like = fn.inputs[i], fn.arrays[i]
            if type(gx) is not type(like) or gx.shape != like.shape or gx.dtype is not like.dtype:
                gx = fit(gx, like, fn, create_graph)  # (the check inline: most gradients fit already)
            if x in grads:
                grads[x] = grads[x] + gx  # (a new sum: gx may be shared with another input)
            else:  # the first gradient to reach x
                grads[x] = gx
                if x.grad_fn is not None:  # x waits its turn; a leaf stays in grads until the end
                    heappush(waiting, (-x.grad_fn.number, x))
        if not retain_graph:
            fn.inputs = fn.arrays = None  # the saved inputs can go now
    for x, g in grads.items():  # 4. leaves last: what is left in grads, in arrival order
        if hook is not None:
            hook.leaf(x, g)
        if accumulate:
            x.grad = own_gradient(x.grad, g)
    return [grads[t] if t in grads else found[t] for t in wanted]


def seed(root, grad, create_graph):
    """The gradient the sweep starts from: 1 for a one-element output (a loss), else `grad`."""
    if grad is None and root.requires_grad and root.data.size == 1:  # loss.backward()
        grad = np.array(1, root.data.dtype).reshape(root.data.shape)  # (np.ones costs 2k instructions more)
    else:
        grad = given_seed(root, grad, create_graph)
    return Tensor(grad, copy=False) if create_graph and type(grad) is np.ndarray else grad


def given_seed(root, grad, create_graph):
    """`grad` as backward's seed, checked against the output `root`."""
    if not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no grad_fn "
                           "(was it computed under no_grad(), or from tensors without requires_grad=True?)")
    out = root.data
    if grad is None:
        raise RuntimeError(f"backward: grad can be implicit only for a one-element output, but the "
                           f"output has shape {out.shape}; pass grad= of that shape (e.g. ones)")
    if create_graph and isinstance(grad, Tensor):  # (a Tensor grad under create_graph stays in the graph)
        grad = grad.astype(out.dtype, copy=False)
    else:
        grad = np.asarray(unwrap(grad), dtype=out.dtype)
    if grad.shape != out.shape:
        raise ValueError(f"backward: grad has shape {grad.shape} but the output has shape {out.shape}")
    return grad


def keep(t, g, found, accumulate):
    """Hold on to t's gradient where asked: in `.grad` (retain_grad), or among those wanted."""
    if t.retains_grad and accumulate:
        t.grad = own_gradient(t.grad, g)
    if t in found:
        found[t] = g


def run_rule(fn, grad, out, create_graph, hook):
    """fn's backward rule, run on what forward saw: one gradient (or None) per input."""
    if type(fn.inputs) is not tuple or fn.number < changes.last:  # (rare: freed (None), released, changed)
        check_saved_inputs(fn, out)
    try:
        if create_graph:
            in_grads = fn.backward(grad, *inputs_as_recorded(fn), out)
        else:
            in_grads = fn.backward(grad, *fn.arrays, out.data)
    except Exception as err:  # name the op, and keep the line of its backward that failed
        raise op_error(fn, "backward", err, fn.arrays) from err
    in_grads = in_grads if type(in_grads) is tuple else (in_grads,)  # (one input: a bare gradient)
    if len(in_grads) != len(fn.arrays):
        raise RuntimeError(f"{type(fn).__name__}.backward returned {len(in_grads)} gradients for "
                           f"{len(fn.arrays)} inputs: give one per input (None where an input needs none)")
    if hook is not None:
        tell_hook(hook, fn, out, grad, in_grads, create_graph)
    return in_grads


def tell_hook(hook, fn, out, grad, in_grads, create_graph):
    """Show a hook (minigrad.viz.BackwardTrace) one step: the op, its output, the gradient in and out."""
    hook.op(fn, out, grad, [(x, gx, fit(gx, like, fn, create_graph)) for x, like, need, gx
                            in zip(fn.inputs, fn.arrays, fn.needs_grad, in_grads) if need and gx is not None])


def fit(grad, like, fn, create_graph):
    """grad brought to the shape of the input's array `like` (see to_shape) and to its dtype."""
    if type(grad) is Tensor and not create_graph:  # a backward that called another op's apply
        grad = grad.data
    if grad.shape != like.shape:
        grad = to_shape(grad, like.shape, fn)
    return grad if grad.dtype == like.dtype else grad.astype(like.dtype)


def to_shape(grad, shape, fn):
    """The one place broadcasting is dealt with in backward.  A gradient whose axes are each 1
    or the input's is repeated up along its size-1 axes (Sum's backward returns its gradient
    with the summed axes kept as 1); any other is summed back down over the broadcast axes."""
    try:
        if grad.ndim == len(shape) and all(g in (1, n) for g, n in zip(grad.shape, shape)):
            fitted = grad + np.zeros(shape, grad.dtype)  # (np.broadcast_to's view costs 5x this new array)
        else:
            fitted = sum_to_shape(grad, shape)
    except ValueError:  # the two shapes do not broadcast
        fitted = None
    if fitted is None or fitted.shape != shape:
        raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape "
                           f"{grad.shape} for an input of shape {shape}")
    return fitted


def sum_to_shape(grad, shape):
    """Sum a broadcast gradient back down to `shape`."""
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def own_gradient(current, g):
    """current + g as a Tensor of its own: the sweep may have handed one gradient to several
    inputs (x + y), or a read-only broadcast view, or the caller's own `grad`."""
    if current is not None:
        return current + g  # a new tensor (recorded under create_graph)
    return g.copy() if isinstance(g, Tensor) else Tensor(np.array(g), copy=False)


def check_saved_inputs(fn, out):
    """Refuse a backward through a freed graph, or one that would read a value changed in place
    since fn ran (through any alias: minigrad/versions.py); give fn's inputs as the nodes they
    were when fn ran (changed in place inside the graph since, or released by it)."""
    if fn.inputs is None:
        raise RuntimeError(f"backward: the graph through {type(fn).__name__} was already freed by an "
                           "earlier backward(); pass retain_graph=True to the first backward() to go through "
                           "it twice")
    if type(fn.inputs) is SomeReleased:  # an input released from the graph gets its gradient as itself
        fn.inputs = inputs_itself(fn.inputs)
    if fn.number < changes.last:
        versions.refuse_overwritten_reads(fn, out)
        fn.inputs = versions.nodes_when_recorded(fn)


def inputs_as_recorded(fn):
    """The inputs for a backward under create_graph: Tensors, so that the graph goes on, with
    the values they had in forward.  If `x.data` was rebound since, a stand-in holds the old
    array and passes gradients on to x, so both modes differentiate at forward-time values."""
    return [_AsRecorded.apply(x, value=array) if isinstance(x, Tensor) and x.data is not array else x
            for x, array in zip(fn.inputs, fn.arrays)]


class _AsRecorded(Function):
    """x as it was when an op used it: forward returns that array, backward passes grad to x."""
    reads = ()

    def forward(self, x, value):
        return value

    def backward(self, grad, x, out):
        return grad


def grad(output, inputs, grad_output=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of `output` w.r.t. each of `inputs`, returned rather than stored in `.grad`.

    Like torch.autograd.grad.  With create_graph=True the results are Tensors with a
    graph (through grad_output too, if it requires grad), so they can be differentiated
    again: Hessian-vector and Jacobian-vector products.  Each result is a tensor of its own.
    """
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    results = run_backward(output, grad_output, create_graph if retain_graph is None else retain_graph,
                           create_graph, accumulate=False, wanted=inputs)
    for t, g in zip(inputs, results):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: an input of shape {t.shape} is not used to compute the output; "
                               "pass allow_unused=True to get None for it")
    results = [None if g is None else own_gradient(None, g) for g in results]
    return results[0] if single else results
