"""Modules and layers, with PyTorch's names and habits.

A Module finds its parameters by looking at its attributes: a `Parameter`, a Module,
or a list/tuple of them.  No registration calls are needed:

    class MLP(nn.Module):
        def __init__(self):
            self.fc1, self.fc2 = nn.Linear(2, 8), nn.Linear(8, 1)

        def forward(self, x):                       # x: (B, 2)
            return self.fc2(F.relu(self.fc1(x)))    # (B, 1)

Layers default to float64, so gradients can be checked by finite differences;
pass dtype=np.float32 for speed.  Random initialisation and dropout draw from
`rng=` (a np.random.Generator) when given, else from the default generator that
`minigrad.manual_seed(n)` seeds.
"""
import math
import os

import numpy as np

import minigrad.functional as F
from minigrad.random import generator
from minigrad.tensor import Tensor, unwrap


class Parameter(Tensor):
    """A Tensor that is a learnable weight of a Module: requires_grad=True, found by parameters()."""

    __slots__ = ()

    def __init__(self, data, dtype=None):
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: subclass it, set layers and Parameters as
    attributes, and write forward().  Calling the module calls forward."""

    training = True  # a class default, so subclasses need not call super().__init__()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- what a module contains ------------------------------------------------
    def _members(self):
        """(name, value) for every attribute, and for every item of a list/tuple attribute as 'name.i'."""
        for name, value in vars(self).items():
            if isinstance(value, (list, tuple)):
                yield from ((f"{name}.{i}", item) for i, item in enumerate(value))
            else:
                yield name, value

    def named_children(self):
        """(name, module) for each direct sub-module."""
        return [(name, m) for name, m in self._members() if isinstance(m, Module)]

    def _walk(self, prefix, seen):
        """(dotted name, value) for every Parameter and Module inside, depth first in
        definition order; an object reachable twice (a shared layer) is listed once."""
        for name, value in self._members():
            if isinstance(value, (Parameter, Module)) and id(value) not in seen:
                seen.add(id(value))
                yield prefix + name, value
                if isinstance(value, Module):
                    yield from value._walk(prefix + name + ".", seen)

    def named_modules(self):
        """(dotted name, module) for this module (named '') and every module inside it."""
        return [("", self)] + [(n, m) for n, m in self._walk("", {id(self)}) if isinstance(m, Module)]

    def named_parameters(self):
        """(dotted name, Parameter) pairs, e.g. ('fc1.weight', ...), in definition order."""
        return [(n, p) for n, p in self._walk("", {id(self)}) if isinstance(p, Parameter)]

    def parameters(self):
        """Every Parameter, as a list (so it can be iterated more than once)."""
        return [p for _, p in self.named_parameters()]

    def modules(self):
        return [m for _, m in self.named_modules()]

    def zero_grad(self, set_to_none=True):
        """Forget the gradients of every parameter: set .grad to None (as PyTorch does), or
        with set_to_none=False fill the existing .grad arrays with zeros in place."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def train(self, mode=True):
        """Set training mode (dropout active) here and in every sub-module; returns self."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        """Evaluation mode: dropout becomes the identity.  Same as train(False)."""
        return self.train(False)

    # ---- saving and loading ------------------------------------------------------
    def state_dict(self):
        """{dotted name: copy of the parameter's array}, in the order of named_parameters()."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Copy arrays from `state` into the parameters (in place, keeping their dtypes).

        Every key must match a parameter name and every shape its parameter's shape;
        otherwise nothing is changed and a RuntimeError lists every problem.
        """
        own = dict(self.named_parameters())
        problems = [f"missing key {k!r} (shape {p.shape})" for k, p in own.items() if k not in state]
        problems += [f"unexpected key {k!r}" for k in state if k not in own]
        for k, p in own.items():
            if k in state and np.shape(unwrap(state[k])) != p.shape:
                problems.append(f"shape mismatch for {k!r}: the state has shape {np.shape(unwrap(state[k]))}, "
                                f"the parameter in {type(self).__name__} has shape {p.shape}")
        if problems:
            raise RuntimeError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        for k, p in own.items():
            p.data[...] = unwrap(state[k])

    def save(self, path):
        """Write the state_dict to an .npz file ('.npz' is added to path if missing)."""
        np.savez(_npz(path), **self.state_dict())

    def load(self, path):
        """Load parameters saved by save(path) into this module (same checks as load_state_dict)."""
        with np.load(_npz(path)) as data:
            self.load_state_dict({k: data[k] for k in data.files})
        return self

    # ---- printing ------------------------------------------------------------------
    def extra_repr(self):
        """The settings shown inside the parentheses of repr, e.g. 'in_features=2, out_features=3'."""
        return ""

    def __repr__(self):
        children = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = ([self.extra_repr()] if self.extra_repr() else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _npz(path):
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def check_float_dtype(dtype, where):
    """np.dtype(dtype), after checking it is a floating-point type a layer can learn in;
    `where` names the layer in the error."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{where}: dtype must be a floating-point type (float64 or float32), got {dtype}")
    return dtype


# PyTorch's names that minigrad spells otherwise: `nn.MSELoss` gets a hint, not a bare AttributeError.
PYTORCH_NAMES = {"CrossEntropyLoss": "F.cross_entropy(logits, targets) (minigrad.functional)",
                 "MSELoss": "F.mse_loss(pred, target) (minigrad.functional)",
                 "utils": "minigrad.optim.clip_grad_norm_(model.parameters(), max_norm) for clip_grad_norm_",
                 "functional": "import minigrad.functional as F"}


def __getattr__(name):
    if name in PYTORCH_NAMES:
        raise AttributeError(f"minigrad.nn has no {name}, PyTorch's name; use {PYTORCH_NAMES[name]}")
    raise AttributeError(f"module 'minigrad.nn' has no attribute {name!r}")


def layer_name(module):
    """The module's class and settings on one line, e.g. 'Linear(in_features=2, out_features=3, bias=True)':
    how layer errors name the layer."""
    return f"{type(module).__name__}({module.extra_repr()})"


def check_last_axis(module, x, size, name="input"):
    """The shape of x, after checking that its last axis has `size` entries, as `module` needs.

    The error names the module with its settings, the shape it got and the one expected.
    Inside vmap the shape is one example's, as x.shape shows it.
    """
    shape = x.shape if isinstance(x, Tensor) else np.shape(x)
    if shape[-1:] != (size,):
        raise ValueError(f"{layer_name(module)}: {name} has shape {shape}, "
                         f"expected (..., {size})")
    return shape


class ModuleList(Module):
    """A list of modules, named '0', '1', ... in parameter names (as PyTorch)."""

    def __init__(self, modules=()):
        self.items = list(modules)
        for i, m in enumerate(self.items):
            if not isinstance(m, Module):
                raise TypeError(f"{type(self).__name__}: item {i} is a {type(m).__name__}, not a Module")

    def _members(self):
        return ((str(i), m) for i, m in enumerate(self.items))

    def append(self, module):
        self.items.append(module)
        return self

    def __getitem__(self, i):
        return self.items[i]

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        return iter(self.items)


class Sequential(ModuleList):
    """Modules applied one after another: Sequential(Linear(2, 8), ReLU(), Linear(8, 1))."""

    def __init__(self, *modules):
        super().__init__(modules)

    def forward(self, x):
        for m in self.items:
            x = m(x)
        return x


class Linear(Module):
    """y = x @ weight + bias:  x (..., in_features) -> (..., out_features).

    weight has shape (in_features, out_features), the transpose of PyTorch's, so the
    forward is x @ W as written on the board.  Both are initialised, as in PyTorch,
    from uniform(-1/sqrt(in_features), 1/sqrt(in_features)).
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float64, rng=None):
        self.in_features, self.out_features = in_features, out_features
        dtype = check_float_dtype(dtype, "Linear")
        rng = generator(rng, "Linear")
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(rng.uniform(-bound, bound, (in_features, out_features)), dtype=dtype)
        self.bias = Parameter(rng.uniform(-bound, bound, out_features), dtype=dtype) if bias else None

    def forward(self, x):
        check_last_axis(self, x, self.in_features)
        return F.affine(x, self.weight, self.bias)  # (..., out_features): x @ weight + bias, one op

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A table of num_embeddings learnable vectors of size dim: integer ids (...) -> vectors (..., dim).

    weight (num_embeddings, dim) starts from N(0, 1), as in PyTorch.
    """

    def __init__(self, num_embeddings, dim, dtype=np.float64, rng=None):
        self.num_embeddings, self.dim = num_embeddings, dim
        dtype = check_float_dtype(dtype, "Embedding")
        self.weight = Parameter(generator(rng, "Embedding").standard_normal((num_embeddings, dim)), dtype=dtype)

    def forward(self, ids):
        ids = np.asarray(unwrap(ids))
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{self!r}: ids must be integers, got dtype {ids.dtype} (shape {ids.shape}); "
                            "convert them with .astype(int)")
        bad = (ids < 0) | (ids >= self.num_embeddings)
        if bad.any():
            raise IndexError(f"{self!r}: id {ids[bad].flat[0]} is out of range [0, {self.num_embeddings}) "
                             f"(ids shape {ids.shape})")
        return self.weight[ids]  # (..., dim)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.dim}"


class LayerNorm(Module):
    """Normalise the last axis to mean 0, variance 1, then scale by weight (dim,) and shift by bias (dim,):
    x (..., dim) -> (..., dim).  weight starts at 1, bias at 0.

    dim may also be a tuple of trailing dims, as PyTorch's normalized_shape: LayerNorm((T, D))
    normalises each x[..., :, :] over its T * D elements, with weight and bias of shape (T, D).
    """

    def __init__(self, dim, eps=1e-5, dtype=np.float64):
        shape = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        if not shape or not all(isinstance(n, (int, np.integer)) and n > 0 for n in shape):
            raise ValueError(f"LayerNorm: dim must be a positive int or a tuple of them (the trailing dims "
                             f"to normalise), got {dim!r}")
        self.dim, self.shape, self.eps = dim, shape, eps
        dtype = check_float_dtype(dtype, "LayerNorm")
        self.weight = Parameter(np.ones(shape), dtype=dtype)
        self.bias = Parameter(np.zeros(shape), dtype=dtype)

    def forward(self, x):
        if len(self.shape) == 1:
            check_last_axis(self, x, self.shape[0])
            return F.layer_norm(x, self.weight, self.bias, self.eps)
        shape = np.shape(unwrap(x))
        if shape[len(shape) - len(self.shape):] != self.shape:
            raise ValueError(f"{layer_name(self)}: input has shape {shape}, expected (..., "
                             f"{', '.join(map(str, self.shape))})")
        size = int(np.prod(self.shape))  # the trailing dims as one axis, normalised by layer_norm
        flat = F.layer_norm(F.reshape(x, shape[:len(shape) - len(self.shape)] + (size,)),
                            self.weight.reshape(size), self.bias.reshape(size), self.eps)
        return flat.reshape(shape)

    def extra_repr(self):
        return f"{self.dim}, eps={self.eps}"


class Dropout(Module):
    """While training, zero each element with probability p and scale the rest by 1/(1 - p);
    in eval mode, the identity.  Any shape in, same shape out."""

    def __init__(self, p=0.5, rng=None):
        F.dropout(0.0, p, training=False)  # F.dropout checks p: called here, a bad p fails now, not at forward
        self.p = p
        # None means minigrad's default generator, looked up at each call so manual_seed() applies.
        self.rng = None if rng is None else generator(rng, "Dropout")

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self):
        return f"p={self.p}"


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x):
        return F.relu(x)


class GELU(Module):
    """GELU in its tanh approximation (as GPT-2), elementwise; see minigrad.functional.gelu."""

    def forward(self, x):
        return F.gelu(x)


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x):
        return F.tanh(x)
