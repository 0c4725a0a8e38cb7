"""Function transforms, as torch.func and JAX: jvp, vjp, grad, value_and_grad, jacfwd, jacrev,
hessian, hvp and vmap, on functions that take and return Tensors.

Two modes of differentiation:
- forward (`jvp`): a tangent is pushed through each op alongside its value, by the op's jvp
  rule, as forward runs (minigrad/transforms.py).  One pass gives J u: a column of the
  Jacobian per pass, so `jacfwd` of f: Rⁿ → Rᵐ costs n passes.
- reverse (`vjp`): the graph is recorded, then the backward sweep pulls a cotangent back
  through it (minigrad/autograd.py).  One sweep gives vᵀ J: a row per sweep, so `jacrev`
  costs one forward and m sweeps.
`vmap` runs f on a whole batch at once through each op's batch rule; `vmap(grad(loss))`
gives per-example gradients in one pass.

They compose: hessian(f) is jacfwd(jacrev(f)) (forward over reverse); jacfwd(jacfwd(f)),
jacrev(jacfwd(f)) and grad(grad(f)) work too (a jvp rule runs on Tensors where something may
differentiate its tangent), and vmap(jvp(...)), vmap(grad(...)) batch a derivative.  Not
supported, with an error saying so: vmap inside vmap.
"""
import numpy as np

from minigrad import transforms
from minigrad.autograd import run_backward
from minigrad.grad_mode import enable_grad
from minigrad.ops import BroadcastTo, Reshape, Stack, Transpose
from minigrad.tensor import Tensor, as_tensor
from minigrad.transforms import TangentLevel, BatchLevel, is_batched, mark_batched, state, switched

__all__ = ["jvp", "vjp", "grad", "value_and_grad", "jacrev", "jacfwd", "hessian", "hvp", "vmap"]


# ---- forward mode -------------------------------------------------------------------------

def jvp(f, primals, tangents):
    """(f(*primals), J u): f's output and its directional derivative along `tangents`, by forward mode.

    primals, tangents: tuples of Tensors (or arrays), tangent i of primal i's shape.  f returns a
    Tensor or a tuple of Tensors; the tangent output has the same structure.  No backward runs.
    """
    primals = _tensors("jvp", "primals", primals)
    tangents = _tensors("jvp", "tangents", tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents; "
                         "give one tangent per primal")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if p.shape != t.shape:
            raise ValueError(f"jvp: tangent {i} has shape {t.shape} but primal {i} has shape {p.shape}; "
                             "a tangent is a direction in its primal's space, so it has the primal's shape")
    level = TangentLevel()
    inputs = []
    for p, t in zip(primals, tangents):
        p, t = _same_batching(p, t)
        x = Reshape.apply(p, shape=p.shape)  # a new tensor (a view) that owns this tangent
        level.tangents[x] = t if t.dtype == x.dtype or x.dtype.kind not in "fc" else t.astype(x.dtype)
        inputs.append(x)
    with switched(tangents=state.tangents + (level,)):  # (an outer jvp's level stays: it sees this one's ops)
        out = f(*inputs)
    _check_outputs("jvp", out)
    return out, _tree_map(lambda o: _tangent_of(o, level), out)


def _tangent_of(out, level):
    """out's tangent as a Tensor: with a history where it was computed on Tensors (an outer jvp
    or reverse mode may differentiate it), else new."""
    tangent = level.tangents.get(out)
    if tangent is None:
        tangent = np.zeros(out.data.shape, _float(out.dtype))
    t = tangent if isinstance(tangent, Tensor) else Tensor(np.array(tangent), copy=False)
    return mark_batched(t, state.batching) if is_batched(out) else t


def _same_batching(p, t):
    """Inside vmap a primal and its tangent must both hold the batch, or neither: the other is repeated."""
    if is_batched(p) == is_batched(t):
        return p, t
    level = state.batching
    with switched(batching=None):
        if is_batched(p):
            t = BroadcastTo.apply(t, shape=(level.size,) + t.shape)
        else:
            p = BroadcastTo.apply(p, shape=(level.size,) + p.shape)
    return mark_batched(p, level), mark_batched(t, level)


# ---- reverse mode -------------------------------------------------------------------------

def vjp(f, *primals):
    """(f(*primals), vjp_fn): vjp_fn(v) gives vᵀ J, one Tensor per primal, by reverse mode.

    f returns one Tensor; v has its shape.  vjp_fn may be called many times (jacrev does).
    """
    primals = [as_tensor(p) for p in primals]
    leaves = [_watched(p) for p in primals]
    # The backward pass itself must be recorded when something differentiates it again: an outer
    # reverse mode (a primal requires grad) or an outer forward mode (tangents go through its ops).
    create_graph = bool(state.tangents) or any(p.requires_grad for p in primals)
    with enable_grad():
        out = f(*leaves)
    _check_outputs("vjp", out, single=True)

    def vjp_fn(cotangent):
        cotangent = as_tensor(cotangent)
        if cotangent.shape != out.shape:
            raise ValueError(f"vjp: the cotangent has shape {cotangent.shape} but f's output has "
                             f"shape {out.shape}")
        if is_batched(out) and not is_batched(cotangent):
            cotangent = np.broadcast_to(cotangent.data, out.data.shape)
        if not out.requires_grad:  # f does not depend on its inputs
            return tuple(_zeros_like(x) for x in leaves)
        with switched(batching=None):  # the backward sweep works on whole arrays
            grads = run_backward(out, cotangent, retain_graph=True, create_graph=create_graph,
                                 accumulate=False, wanted=leaves)
        return tuple(_zeros_like(x) if g is None else _result(g, x) for g, x in zip(grads, leaves))

    return out, vjp_fn


def _watched(p):
    """A tensor standing for primal p that requires grad, with p's tangent and batching.
    If p requires grad already (an outer grad), it stays connected to p, so that outer
    derivative sees through; inside vmap it holds the batch, so each example gets its gradient."""
    level = state.batching
    if level is not None and not is_batched(p):
        with switched(batching=None):
            p = mark_batched(BroadcastTo.apply(p, shape=(level.size,) + p.shape), level)
    if p.requires_grad:
        return Reshape.apply(p, shape=p.shape)
    leaf = Tensor(p.data, True, copy=False)
    for tangent_level in state.tangents:
        if p in tangent_level.tangents:
            tangent_level.tangents[leaf] = tangent_level.tangents[p]
    return mark_batched(leaf, level) if is_batched(p) else leaf


def _result(g, like):
    g = g if isinstance(g, Tensor) else Tensor(np.array(g), copy=False)
    return mark_batched(g, state.batching) if is_batched(like) else g


def _zeros_like(x):
    return _result(Tensor(np.zeros(x.data.shape, x.dtype), copy=False), x)


def value_and_grad(f, argnums=0):
    """A function returning (f(*args), the gradient of f w.r.t. args[argnums]): a Tensor, or a
    tuple for a tuple of argnums.  f must return one number (a one-element Tensor)."""
    def value_and_grad_f(*args):
        positions = _argnums("value_and_grad", argnums, len(args))
        out, vjp_fn = vjp(_only(f, args, positions), *(args[i] for i in positions))
        if out.size != 1:
            raise ValueError(f"grad: f must return one number (a one-element Tensor, e.g. a loss), but it "
                             f"returned shape {out.shape}; use jacrev for a vector output, or vjp")
        grads = vjp_fn(np.ones(out.shape, _float(out.dtype)))
        return out, grads if isinstance(argnums, (tuple, list)) else grads[0]

    return value_and_grad_f


def grad(f, argnums=0):
    """A function returning the gradient of f w.r.t. args[argnums] (as torch.func.grad, jax.grad)."""
    value_and_grad_f = value_and_grad(f, argnums)
    return lambda *args: value_and_grad_f(*args)[1]


# ---- Jacobians and Hessians ------------------------------------------------------------------

def jacrev(f, argnums=0):
    """The Jacobian of f w.r.t. args[argnums], row by row by reverse mode: one forward, then one
    backward sweep per output element.  Shape: f's output shape + the argument's shape."""
    def jacobian(*args):
        positions = _argnums("jacrev", argnums, len(args))
        out, vjp_fn = vjp(_only(f, args, positions), *(args[i] for i in positions))  # (f returns one Tensor)
        rows = [vjp_fn(_basis(out.shape, k, out.dtype)) for k in range(out.size)]
        jacobians = tuple(_assemble([row[n] for row in rows], out.shape, args[i])
                          for n, i in enumerate(positions))
        return jacobians if isinstance(argnums, (tuple, list)) else jacobians[0]

    return jacobian


def jacfwd(f, argnums=0):
    """The Jacobian of f w.r.t. args[argnums], column by column by forward mode: one jvp per
    element of the argument.  Shape: f's output shape + the argument's shape."""
    def jacobian(*args):
        positions = _argnums("jacfwd", argnums, len(args))
        primals = tuple(as_tensor(args[i]) for i in positions)
        only = _only(f, args, positions)
        jacobians = []
        for n, p in enumerate(primals):
            columns = []
            for k in range(p.size):
                tangents = tuple(_basis(q.shape, k, q.dtype) if m == n else np.zeros(q.shape)
                                 for m, q in enumerate(primals))
                out, tangent_out = jvp(only, primals, tangents)
                _check_outputs("jacfwd", out, single=True)
                columns.append(tangent_out)
            if p.size == 0:
                out = only(*primals)
            jacobians.append(_assemble(columns, out.shape, p, columns_last=True))
        return tuple(jacobians) if isinstance(argnums, (tuple, list)) else jacobians[0]

    return jacobian


def hessian(f, argnums=0):
    """The Hessian of a scalar f: jacfwd(jacrev(f)), forward over reverse.  Shape: x.shape + x.shape."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f, primals, tangents):
    """(f(*primals), H v): the Hessian of a scalar f times tangents, by forward over reverse (one
    forward and one backward pass, with tangents; the Hessian itself is never formed)."""
    primals = _tensors("hvp", "primals", primals)
    argnums = tuple(range(len(primals)))
    (value, _), (_, products) = jvp(value_and_grad(f, argnums), primals, tangents)
    return value, products if len(products) > 1 else products[0]


def _basis(shape, k, dtype):
    """The k-th unit array of `shape` (1 at flat index k)."""
    e = np.zeros(int(np.prod(shape)), _float(dtype))
    e[k] = 1
    return e.reshape(shape)


def _assemble(parts, out_shape, x, columns_last=False):
    """Jacobian rows (each x's shape) or columns (each the output's shape) into out_shape + x.shape."""
    shape = tuple(out_shape) + tuple(x.shape)
    if not parts:
        return Tensor(np.zeros(shape), copy=False)
    if columns_last:  # columns of the output's shape: stacked on a last axis, as x's elements
        return Reshape.apply(Stack.apply(*parts, axis=-1), shape=shape)
    return Reshape.apply(Stack.apply(*parts, axis=0), shape=shape)


# ---- batching -----------------------------------------------------------------------------

def vmap(f, in_axes=0, out_axes=0):
    """f mapped over a batch axis of its arguments, by each op's batch rule (no Python loop).

    in_axes: for each argument, the axis holding the batch, or None for an argument shared by
    all examples; one int (or None) applies to every argument.  out_axes: where the batch axis
    goes in each output (one int, or one per output).  vmap(f)(X) equals stacking f(X[i]).
    Inside f a batched tensor shows one example's shape.  Masks made from batched data (F.where's
    cond, F.softmax's where, F.masked_fill's mask, F.dropout's) and F.cross_entropy's targets may
    hold the batch: each example gets its own; an array from outside is shared by all examples.
    """
    def mapped(*args):
        axes = _in_axes(in_axes, args)
        if state.batching is not None:
            raise NotImplementedError("vmap inside vmap is not supported; fold the two batch axes into one")
        size = _batch_size(args, axes)
        level = BatchLevel(size)
        inputs = [_move_batch_in(a, axis, level) for a, axis in zip(args, axes)]
        try:
            with switched(batching=level):
                out = f(*inputs)
            _check_outputs("vmap", out)
            return _tree_map(lambda o, axis: _move_batch_out(o, axis, size), out, _out_axes(out_axes, out))
        finally:
            for t in level.made:  # tensors made inside are plain again
                t.__class__ = Tensor

    return mapped


def _in_axes(in_axes, args):
    if not isinstance(in_axes, (tuple, list)):
        return [in_axes] * len(args)
    if len(in_axes) != len(args):
        raise ValueError(f"vmap: in_axes has {len(in_axes)} entries but the function was called with "
                         f"{len(args)} arguments; give one axis (or None) per argument")
    return list(in_axes)


def _batch_size(args, axes):
    sizes = []
    for i, (a, axis) in enumerate(zip(args, axes)):
        if axis is None:
            continue
        shape = np.shape(a.data if isinstance(a, Tensor) else a)
        if not isinstance(axis, int) or not -len(shape) <= axis < len(shape):
            raise ValueError(f"vmap: in_axes[{i}] = {axis!r} does not fit argument {i} of shape {shape}: "
                             f"give an axis in range(-{len(shape)}, {len(shape)}), or None to share it")
        sizes.append((i, axis, shape[axis]))
    if not sizes:
        raise ValueError("vmap: in_axes batches no argument (all None); give the axis of at least one")
    if len({n for _, _, n in sizes}) > 1:
        listed = ", ".join(f"argument {i} has {n} along axis {axis}" for i, axis, n in sizes)
        raise ValueError(f"vmap: the batched axes have different sizes: {listed}")
    return sizes[0][2]


def _move_batch_in(a, axis, level):
    if axis is None:
        return a
    a = as_tensor(a)
    order = [axis % a.ndim] + [k for k in range(a.ndim) if k != axis % a.ndim]
    return mark_batched(Transpose.apply(a, axes=tuple(order)), level)  # (B, ...): the batch in front


def _out_axes(out_axes, out):
    if isinstance(out, Tensor):
        return out_axes
    if not isinstance(out_axes, (tuple, list)):
        return type(out)([out_axes] * len(out))
    if len(out_axes) != len(out):
        raise ValueError(f"vmap: out_axes has {len(out_axes)} entries but f returned {len(out)} outputs")
    return type(out)(out_axes)


def _move_batch_out(out, axis, size):
    if not is_batched(out):  # the same for every example: repeated along the batch axis
        out = BroadcastTo.apply(out, shape=(size,) + out.data.shape)
    ndim = out.data.ndim
    if not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ValueError(f"vmap: out_axes {axis!r} does not fit an output of {ndim - 1} axes (one example's "
                         f"shape {out.data.shape[1:]}) with the batch axis added")
    order = list(range(1, ndim))
    order.insert(axis % ndim, 0)
    return Transpose.apply(out, axes=tuple(order))


# ---- checks and helpers -----------------------------------------------------------------------

def _tensors(name, what, values):
    if isinstance(values, Tensor) or not isinstance(values, (tuple, list)):
        raise TypeError(f"{name}: {what} must be a tuple of Tensors, one per argument of f; got a "
                        f"{type(values).__name__} (for one argument write ({what[0]},))")
    return tuple(as_tensor(v) for v in values)


def _argnums(name, argnums, count):
    positions = tuple(argnums) if isinstance(argnums, (tuple, list)) else (argnums,)
    for k in positions:
        if not isinstance(k, int) or not -count <= k < count:
            raise ValueError(f"{name}: argnums {argnums!r} is out of range for a function called with "
                             f"{count} positional argument{'s' * (count != 1)}")
    return tuple(k % count for k in positions)


def _only(f, args, positions):
    """f as a function of args[positions] only, the other arguments held fixed."""
    def only(*chosen):
        full = list(args)
        for k, x in zip(positions, chosen):
            full[k] = x
        return f(*full)

    return only


def _check_outputs(name, out, single=False):
    if single and not isinstance(out, Tensor):
        raise TypeError(f"{name}: f must return one Tensor, got {type(out).__name__}")
    bad = [type(o).__name__ for o in _leaves(out) if not isinstance(o, Tensor)]
    if bad:
        raise TypeError(f"{name}: f must return a Tensor or a tuple of Tensors, got {', '.join(bad)} "
                        "(wrap numbers with minigrad.tensor, and compute outputs with minigrad ops)")


def _leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for part in tree for leaf in _leaves(part)]
    return [tree]


def _tree_map(fn, tree, *others):
    if isinstance(tree, (tuple, list)):
        return type(tree)(_tree_map(fn, *parts) for parts in zip(tree, *others))
    return fn(tree, *others)


def _float(dtype):
    return dtype if np.dtype(dtype).kind in "fc" else np.float64
