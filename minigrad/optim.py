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

    def zero_grad(self):
        """Set every parameter's .grad to None (the next backward() starts afresh)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """Update every parameter that has a gradient."""
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self.update(i, p.data, p.grad.data)

    def update(self, i, p, g):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay.

    g ← g + weight_decay p;  b ← momentum b + g (b = g at the first step);
    g ← g + momentum b if nesterov else b;  p ← p - lr g.
    """

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
        v += (1.0 - beta2) * (g * g)
        m_hat = m / (1.0 - beta1 ** t)
        v_hat = v / (1.0 - beta2 ** t)
        p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


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
