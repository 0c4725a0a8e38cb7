"""Optimizers, gradient clipping and a learning-rate schedule, following PyTorch's formulas.

The loop is PyTorch's:

    opt = optim.Adam(model.parameters(), lr=1e-3)
    for x, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

Updates change each parameter's array (`p.data`) in place, with plain NumPy: no graph
is built, and a float32 parameter stays float32 (hyperparameters are Python floats).
"""
import math

import numpy as np

from minigrad import versions
from minigrad.tensor import Tensor


class Optimizer:
    """Base class: holds the parameters and lr; subclasses write `update(i, p, g)` for one
    parameter's array p and its gradient g (i indexes per-parameter state).

    A frozen parameter (requires_grad_(False)) is held like the others and, having no
    gradient, skipped by step(), as in PyTorch: unfrozen later, it is trained again."""

    def __init__(self, params, lr):
        name = type(self).__name__
        self.params, seen = [], set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}; "
                                "pass model.parameters() (Tensors with requires_grad=True)")
            if p.grad_fn is not None:
                raise ValueError(f"{name}: parameter {i} (shape {p.shape}) was computed by "
                                 f"{type(p.grad_fn).__name__}, so an update to it would not last; "
                                 "optimize the leaf tensors it came from (model.parameters())")
            if id(p) not in seen:  # a parameter listed twice would be updated twice
                seen.add(id(p))
                self.params.append(p)
        if not self.params:
            raise ValueError(f"{name}: got an empty list of parameters")
        if not lr >= 0.0:
            raise ValueError(f"{name}: lr must be >= 0, got {lr}")
        self.lr = lr

    def zero_grad(self, set_to_none=True):
        """Set every parameter's .grad to None (the next backward() starts afresh), or with
        set_to_none=False fill the existing .grad arrays with zeros in place (as PyTorch)."""
        for p in self.params:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def step(self):
        """Update every parameter that has a gradient."""
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self.update(i, p.data, p.grad.data)
                versions.record_change(p.data)  # a backward that saved p's old value must refuse

    def update(self, i, p, g):
        raise NotImplementedError

    # ---- checkpoints ---------------------------------------------------------------
    # A subclass names its settings (`hyperparameters`) and its per-parameter state
    # (`per_parameter`: attributes holding one entry per parameter, an array or None or a
    # number); state_dict and load_state_dict need nothing else.
    hyperparameters = ("lr",)
    per_parameter = ()

    def state_dict(self):
        """{"type", settings..., "state": {name: [one entry per parameter]}}: everything step()
        depends on, as copies; `minigrad.save` writes it without pickle."""
        state = {name: [_copy(entry) for entry in getattr(self, name)] for name in self.per_parameter}
        settings = {name: getattr(self, name) for name in self.hyperparameters}
        return {"type": type(self).__name__, **settings, "state": state}

    def load_state_dict(self, state):
        """Restore what state_dict() returned, for the same parameters in the same order.

        Everything is checked first (the optimizer type, the number of parameters, each
        array's shape); on any problem a ValueError lists them all and nothing is changed.
        """
        name = type(self).__name__
        problems = _state_problems(self, state)
        if problems:
            raise ValueError(f"{name}.load_state_dict: " + "; ".join(problems))
        for key in self.hyperparameters:
            value = state[key]
            setattr(self, key, tuple(value) if isinstance(getattr(self, key), tuple) else value)
        for key in self.per_parameter:
            entries = [_copy(entry, like) for entry, like in zip(state["state"][key], self.params)]
            setattr(self, key, entries)


def _copy(entry, like=None):
    """A copy of one per-parameter entry: an array (in like's dtype, if given), or a number, or None."""
    if entry is None or isinstance(entry, (int, float)):
        return entry
    if np.ndim(entry) == 0 and not isinstance(entry, np.ndarray):
        return entry.item()                                  # a NumPy scalar: a plain number
    return np.array(entry, dtype=None if like is None else like.data.dtype)


def _state_problems(optimizer, state):
    """Everything that keeps `state` from fitting `optimizer`, as a list of messages."""
    if not isinstance(state, dict) or not isinstance(state.get("state"), dict):
        return [f"expected a dict from state_dict(), got {type(state).__name__}"]
    if state.get("type") != type(optimizer).__name__:
        return [f"the state is from a {state.get('type')}, not a {type(optimizer).__name__}"]
    problems = [f"missing {key!r}" for key in optimizer.hyperparameters if key not in state]
    for key in optimizer.per_parameter:
        entries = state["state"].get(key)
        if not isinstance(entries, (list, tuple)) or len(entries) != len(optimizer.params):
            problems.append(f"state {key!r} has {len(entries) if isinstance(entries, (list, tuple)) else 'no'} "
                            f"entries for {len(optimizer.params)} parameters")
            continue
        for i, (entry, p) in enumerate(zip(entries, optimizer.params)):
            if isinstance(entry, np.ndarray) and entry.shape != p.shape:
                problems.append(f"state {key!r} of parameter {i} has shape {entry.shape}, "
                                f"the parameter {p.shape}")
    return problems


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay.

    g ← g + weight_decay p;  b ← momentum b + g (b = g at the first step);
    g ← g + momentum b if nesterov else b;  p ← p - lr g.
    """
    hyperparameters = ("lr", "momentum", "nesterov", "weight_decay")
    per_parameter = ("buffers",)

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        if nesterov and momentum <= 0.0:
            raise ValueError(f"SGD: nesterov=True needs momentum > 0, got momentum={momentum}")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay
        self.buffers = [None] * len(self.params)  # the momentum buffer b of each parameter

    def update(self, i, p, g):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            b = self.buffers[i]
            if b is None:
                b = self.buffers[i] = g.copy()
            else:
                b *= self.momentum
                b += g
            g = g + self.momentum * b if self.nesterov else b
        p -= self.lr * g


class Adam(Optimizer):
    """Adam, with bias-corrected moment estimates; weight_decay adds weight_decay * p to the
    gradient (L2, as torch.optim.Adam).  At step t:

    m ← β1 m + (1 - β1) g;  v ← β2 v + (1 - β2) g²;
    p ← p - lr m̂ / (sqrt(v̂) + eps),  m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t).
    """
    decoupled = False  # AdamW: weight decay shrinks p directly instead of entering g
    hyperparameters = ("lr", "betas", "eps", "weight_decay")
    per_parameter = ("steps", "m", "v")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.steps = [0] * len(self.params)
        self.m = [np.zeros_like(p.data) for p in self.params]  # first moment (mean of g)
        self.v = [np.zeros_like(p.data) for p in self.params]  # second moment (mean of g²)

    def update(self, i, p, g):
        beta1, beta2 = self.betas
        if self.weight_decay and self.decoupled:
            p *= 1.0 - self.lr * self.weight_decay
        elif self.weight_decay:
            g = g + self.weight_decay * p
        self.steps[i] += 1
        t, m, v = self.steps[i], self.m[i], self.v[i]
        m *= beta1
        m += (1.0 - beta1) * g
        v *= beta2
        change = g * g                   # the one more array: g², then the change to p
        change *= 1.0 - beta2
        v += change
        # lr m̂ / (sqrt(v̂) + eps), the bias corrections m̂ = m / (1 - β1^t), v̂ = v / (1 - β2^t)
        # applied as two numbers, not as two more arrays.
        np.sqrt(v, out=change)
        change *= 1.0 / math.sqrt(1.0 - beta2 ** t)
        change += self.eps
        np.divide(m, change, out=change)
        change *= self.lr / (1.0 - beta1 ** t)
        p -= change


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p (1 - lr weight_decay),
    then the Adam step on the plain gradient."""
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


def clip_grad_norm_(params, max_norm):
    """Scale all gradients together, in place, so that their joint L2 norm is at most max_norm.

    Returns the norm before clipping (a float).  A non-finite norm raises: it means some
    gradient overflowed, and scaling by it would turn every gradient into NaN.
    """
    grads = [p.grad.data for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    if not math.isfinite(total):
        raise FloatingPointError(f"clip_grad_norm_: the total gradient norm is {total}: a gradient has "
                                 "overflowed or is NaN (try a smaller learning rate)")
    scale = max_norm / (total + 1e-6)  # the 1e-6 keeps a zero gradient from dividing by zero
    if scale < 1.0:
        for g in grads:
            g *= scale
    return total


class WarmupCosine:
    """Learning rate rising linearly for warmup_steps, then falling along a half cosine to
    min_lr at total_steps, and staying there.  The peak is the optimizer's lr at creation.

    Call step() once after each optimizer.step().  Before step s (counting from 0):
      s < warmup:  lr = peak (s + 1) / (warmup + 1)   (never 0, so no step is wasted)
      otherwise:   lr = min_lr + (peak - min_lr) (1 + cos(π progress)) / 2,
                   progress = (s - warmup) / (total - warmup), at most 1.
    """

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr=0.0):
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(f"WarmupCosine: need 0 <= warmup_steps < total_steps, "
                             f"got warmup_steps={warmup_steps}, total_steps={total_steps}")
        self.optimizer, self.peak_lr, self.min_lr = optimizer, optimizer.lr, min_lr
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        self.steps_done = 0
        optimizer.lr = self.lr_at(0)

    def lr_at(self, step):
        if step < self.warmup_steps:
            return self.peak_lr * (step + 1) / (self.warmup_steps + 1)
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_lr + (self.peak_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def step(self):
        self.steps_done += 1
        self.optimizer.lr = self.lr_at(self.steps_done)

    def state_dict(self):
        """The schedule's settings and how many steps it has taken."""
        return {"type": "WarmupCosine", "peak_lr": self.peak_lr, "min_lr": self.min_lr,
                "warmup_steps": self.warmup_steps, "total_steps": self.total_steps,
                "steps_done": self.steps_done}

    def load_state_dict(self, state):
        """Continue where state_dict() was taken: the settings, the step, and the optimizer's lr."""
        keys = ("peak_lr", "min_lr", "warmup_steps", "total_steps", "steps_done")
        if not isinstance(state, dict) or state.get("type") != "WarmupCosine" or any(k not in state for k in keys):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"WarmupCosine.load_state_dict: expected a dict from WarmupCosine.state_dict() "
                             f"with keys {list(keys)}, got {got}")
        for key in keys:
            setattr(self, key, state[key])
        self.optimizer.lr = self.lr_at(self.steps_done)


def __getattr__(name):  # PyTorch's scheduler module gets a hint, not a bare AttributeError
    if name == "lr_scheduler":
        raise AttributeError("minigrad.optim has no lr_scheduler, PyTorch's module; use "
                             "minigrad.optim.WarmupCosine(optimizer, warmup_steps, total_steps), stepped after each "
                             "optimizer.step()")
    raise AttributeError(f"module 'minigrad.optim' has no attribute {name!r}")
