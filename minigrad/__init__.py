"""minigrad: a small reverse-mode autograd engine on NumPy, for learning how it works."""
import sys

from minigrad.tensor import Tensor, as_tensor  # noqa: I001
from minigrad.autograd import enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled
from minigrad import ops  # noqa: F401  (registers the ops Tensor's operators use)
from minigrad.creation import (CallableModule, arange, full, linspace, ones, ones_like, rand, randn,
                               zeros, zeros_like)
from minigrad.gradcheck import GradcheckError, gradcheck, gradgradcheck
from minigrad.random import manual_seed
from minigrad.serialization import load, save
from minigrad import functional, nn, optim  # noqa: F401  (minigrad.nn works after `import minigrad`)

# `minigrad.tensor` is the module tensor.py and, as in PyTorch, the factory `minigrad.tensor([1., 2.])`:
# the module is made callable rather than shadowed, so `import minigrad.tensor` keeps working.
sys.modules["minigrad.tensor"].__class__ = CallableModule
del sys, CallableModule

__all__ = ["Tensor", "as_tensor", "set_grad_enabled", "no_grad", "enable_grad", "is_grad_enabled", "grad", "gradcheck", "gradgradcheck",
           "GradcheckError"]
__all__ += ["tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "arange", "linspace", "rand", "randn"]
__all__ += ["manual_seed", "functional", "nn", "optim", "save", "load"]
__version__ = "0.1.0"
