"""Function: the base class of every op; Example and Boundary, the inputs each op is tested on.

An op is one class with `forward` and `backward` side by side:

    class Exp(Function):
        '''exp(x), elementwise.  d/dx = exp(x) = out.'''
        examples = [Example((3, 4))]

        def forward(self, x):
            return np.exp(x)

        def backward(self, grad, x, out):
            return grad * out

- forward(*arrays, **params) gets NumPy arrays (differentiable inputs, positional)
  and settings (axis, masks, indices: keywords) and returns one array.
  The engine makes the op with `cls()`: an op has no __init__ of its own.
- backward(grad, *inputs, out) gets the upstream gradient, the inputs and the output,
  and returns one gradient per input (a tuple if there are several; None for an input
  that needs none).  Write it with NumPy functions and operators only: the engine
  passes arrays normally and Tensors under create_graph=True, where the same code then
  records a graph (see Tensor.__array_ufunc__).  Anything else backward needs
  (masks, shapes) forward may keep on `self`, as arrays.  A mask or index the caller
  passed is kept as a copy (`np.array(mask, dtype=bool)`), so a caller who changes theirs
  afterwards cannot change the gradient.
- `reads` names the arguments of backward whose values it reads: `reads = ("out",)` for Exp,
  `reads = ("b", "out")` for Div, `reads = ()` for Add; "inputs" stands for all inputs.
  (Shapes and dtypes do not count: no in-place change alters them; nor does what forward
  kept on `self`.)  The engine checks exactly those: a backward whose input or output was
  changed in place after the op ran refuses to run, while an input it does not read may
  change freely.  The default, ("inputs", "out"), is the safe one: say less only when true.
- Never write into `grad`, the inputs or `out`: they may be shared with other ops.
  In-place steps on an array backward made itself are fine (and save memory).
- A gradient may have the broadcast shape, and the engine sums it back to the input's
  shape; or it may keep size-1 axes where the input has more (a reduction's gradient,
  `grad.reshape(kept_shape)`), and the engine repeats it along them.
- One backward serves both modes: never test what kind of object `grad` is.
- `self.needs_grad[i]` says whether input i needs a gradient, to skip costly work.
- An intermediate that forward made and backward needs again: forward makes it with
  `self.keep(compute, *args)`, backward takes it with `self.kept(compute, *args)` (see
  there): the engine, not the op, decides when the kept array may be reused.
- A backward may also call other ops (`Op.apply`).
"""
import inspect
import weakref

import numpy as np

from minigrad import transforms
from minigrad.grad_mode import mode, next_number
from minigrad.tensor import Tensor

ALL_OPS = []


class Example:
    """Inputs for an op's automatic tests: input shapes (a positional that is not a
    tuple, like 2.5 or None, is passed as a constant), keyword settings, and the
    interval (low, high) random inputs are drawn from."""

    def __init__(self, *shapes, domain=(-2.0, 2.0), **params):
        self.shapes, self.domain, self.params = shapes, domain, params

    def __repr__(self):
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Example{self.shapes}{params}"


class Boundary:
    """A boundary case for an op's automatic tests: exact inputs at an edge of its domain
    (0, ±inf, NaN, ties), with the answer worked out independently (a NumPy formula or a
    hand limit).

    Boundary(*inputs, expected=..., grads=..., **params): float arrays and lists among the
    inputs become tensors that require grad, numbers stay constants; params are passed to
    the op as in Example.  expected: the output; grads: the gradient of out.sum() (or of
    (out * upstream).sum() with upstream=...) for each tensor input, None to skip one.
    Zeros in `expected` are compared with their sign (relu(-1) is +0, not -0).
    """

    def __init__(self, *inputs, expected=None, grads=None, upstream=None, **params):
        self.inputs, self.expected, self.grads = inputs, expected, grads
        self.upstream, self.params = upstream, params

    def __repr__(self):
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Boundary{tuple(self.inputs)}{params}"


class Function:
    # What the engine records (slots: quick to set on every op); an op's own state goes in __dict__.
    __slots__ = ("inputs", "arrays", "needs_grad", "number", "__dict__")
    examples = []    # every op lists some: the test sweep gradient-checks each one
    reference = None  # an independent NumPy formula for forward, checked by the sweep
    boundary = []    # Boundary cases: exact values at the edges (0, inf, NaN), checked by the sweep
    reads = ("inputs", "out")  # the arguments of backward whose values it reads (see the module's docstring)
    read_inputs, reads_out = None, True  # `reads` as the engine checks it: input positions (None: all), out
    some_unread = False  # whether backward may leave an input unread (from `reads`)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                                    for p in list(inspect.signature(init).parameters.values())[1:]):
            raise TypeError(f"{cls.__name__} defines __init__ with arguments, but the engine makes each op "
                            f"with {cls.__name__}(): settings go to apply as keywords, e.g. "
                            f"{cls.__name__}.apply(x, k=2), and forward takes them (def forward(self, x, k))")
        cls.read_inputs, cls.reads_out, cls.some_unread = _what_backward_reads(cls)
        if not cls.__name__.startswith("_"):  # _Names are shared bases, not ops
            ALL_OPS.append(cls)

    @classmethod
    def apply(cls, *inputs, **params):
        """Run forward on the inputs' arrays; record the op if any input needs a gradient."""
        if transforms.state.batching:  # inside vmap: the op's batch rule runs it (minigrad/transforms.py)
            return transforms.apply_batched(cls, inputs, params)
        arrays, needs = [], []
        for x in inputs:  # a plain loop: this is the hottest path of the engine
            if isinstance(x, Tensor):
                arrays.append(x.data)
                needs.append(x.requires_grad)
            else:  # a constant: a number or an array
                arrays.append(x)
                needs.append(False)
        fn = cls()
        try:
            out = fn.forward(*arrays, **params) if params else fn.forward(*arrays)
        except Exception as err:  # name the op and the inputs, and keep the line of forward that failed
            raise op_error(fn, "forward", err, arrays) from err
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        # Tensor(data, requires_grad, dtype, grad_fn, copy): positional, as keywords cost ~40% more here.
        if True in needs and mode.grad_enabled:
            fn.inputs, fn.arrays, fn.needs_grad, fn.number = inputs, arrays, needs, next_number()
            if cls.some_unread and out.nbytes >= RELEASE_BYTES:  # (small arrays cost less to keep)
                release_unread(fn)
            out = Tensor(out, True, None, fn, False)
        else:
            out = Tensor(out, False, None, None, False)
        if transforms.state.tangents:  # inside jvp: fn.jvp pushes the tangents on (minigrad/transforms.py)
            transforms.push_tangents(fn, inputs, arrays, out)
        return out

    def keep(self, compute, *args, value=None):
        """compute(*args), computed in forward and kept for backward (which takes it with `kept`).

        For an intermediate that backward needs again (layer norm's statistics, GELU's tanh).
        One value per compute function.  value: compute(*args) as forward already made it, a
        quicker way (in place, on arrays of its own); compute then runs only under create_graph.
        """
        if value is None:
            value = compute(*args)
        self.__dict__.setdefault("_kept", {})[compute] = value
        return value

    def kept(self, compute, *args):
        """What forward kept with `self.keep(compute, *args)`, in backward (or a jvp rule).

        The engine decides whether the kept value may be used: a plain backward gets forward's
        array back, while under create_graph, where backward's args are Tensors, compute runs
        again on them, so the intermediate's own gradient is recorded.
        """
        for a in args:  # (a loop, not any(...): a generator costs more than compute on small arrays)
            if isinstance(a, Tensor):  # (nn.Parameter too: any Tensor subclass)
                return compute(*args)
        return self._kept[compute]

    def forward(self, *arrays, **params):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, grad, *inputs_and_out):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def __call__(self, *args, **kwargs):  # PyTorch's old style, Exp()(x)
        name = type(self).__name__
        raise TypeError(f"{name}()(x) calls an op object; in minigrad write {name}.apply(x): the engine "
                        "makes the op itself, and settings go to apply as keywords")

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _what_backward_reads(cls):
    """cls.reads as (positions of the inputs backward reads, or None for all; whether it reads out;
    whether some input may go unread)."""
    names = (cls.reads,) if isinstance(cls.reads, str) else tuple(cls.reads)
    arguments = [p.name for p in list(inspect.signature(cls.backward).parameters.values())[2:]
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    inputs = arguments[:-1]  # backward(self, grad, *inputs, out)
    for name in names:
        if name not in inputs and name not in ("inputs", "out"):
            raise TypeError(f"{cls.__name__}.reads names {name!r}, which is not an argument of its backward: "
                            f"name those whose values backward reads, among {inputs + ['out']}, or 'inputs' "
                            "for all")
    read_inputs = None if "inputs" in names else frozenset(inputs.index(n) for n in names if n in inputs)
    some_unread = read_inputs is not None and (len(read_inputs) < len(inputs) or not inputs)  # (none: *args)
    return read_inputs, "out" in names, some_unread


RELEASE_BYTES = 1 << 16  # (an array smaller than this costs less to keep than to stand in for)


def release_unread(fn):
    """Let the graph drop the arrays of fn's inputs that its backward does not read (Function.reads),
    where no backward reads them at all (the op that made one does not read its output either):
    a `Released` stand-in takes the input's place, so the array goes as soon as the caller's own
    tensor does.  Scores scaled, masked and then normalised keep one array, not three."""
    inputs, fn.arrays = list(fn.inputs), list(fn.arrays)  # (new lists: a jvp rule still gets the values)
    released = False
    for i, x in enumerate(inputs):
        if (i not in fn.read_inputs and isinstance(x, Tensor) and x.grad_fn is not None
                and not x.grad_fn.reads_out and x.data.nbytes >= RELEASE_BYTES):
            stand_in = x.__dict__.get("_stand_in")
            if stand_in is None or stand_in.grad_fn is not x.grad_fn:  # (one per tensor, for all its ops)
                stand_in = x._stand_in = Released(x)
            inputs[i], fn.arrays[i], released = stand_in, stand_in.data, True
    if released:
        fn.inputs = SomeReleased(inputs)


class SomeReleased(tuple):
    """The inputs of an op where some are Released stand-ins: not a plain tuple, so the sweep looks
    at them again (autograd.check_saved_inputs) before it runs the op's backward."""


class Released(Tensor):
    """Stands in the graph for a tensor whose values no backward reads: its shape, dtype and grad_fn,
    and no memory.  While the tensor itself is alive, the sweep and the drawings use it instead
    (`original`), so a tensor is one node however many ops it feeds."""

    def __init__(self, x):
        no_memory = np.broadcast_to(np.zeros((), x.dtype), x.shape)
        super().__init__(no_memory, x.requires_grad, None, x.grad_fn, False)
        self.original = weakref.ref(x)

    def itself(self):
        """The tensor this stands for, if it is alive and still made by the same op; else self."""
        x = self.original()
        return x if x is not None and x.grad_fn is self.grad_fn else self


def inputs_itself(inputs):
    """fn.inputs with each Released stand-in whose tensor is alive replaced by that tensor."""
    return tuple(x.itself() if type(x) is Released else x for x in inputs)


def op_error(fn, stage, err, arrays):
    """err, re-raised with the op's name and its inputs' shapes: `Name: message (inputs: ...)`."""
    name = type(fn).__name__ if stage == "forward" else f"{type(fn).__name__}.{stage}"
    message = str(err)
    if not message.startswith(type(fn).__name__):  # (an op's own check names it already)
        message = f"{name}: {message}"
    message += f" (inputs: {_describe(arrays)})"
    try:
        return type(err)(message)
    except TypeError:  # an exception type that takes other arguments
        return RuntimeError(message)


def _describe(arrays):
    return ", ".join(f"shape {a.shape} {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
                     for a in arrays)
