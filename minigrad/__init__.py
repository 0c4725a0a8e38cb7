"""minigrad: a small reverse-mode autograd engine on NumPy, for learning how it works."""
from minigrad.tensor import Tensor, as_tensor  # noqa: I001  (the floors in order: tensor, function, ops, autograd)
from minigrad import ops  # noqa: F401  (Tensor's operators call minigrad.ops)
from minigrad import numpy_protocol  # noqa: F401  (np.exp(x) on tensors: Tensor.__array_ufunc__ calls it)
from minigrad.autograd import grad
from minigrad.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from minigrad.creation import arange, full, linspace, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from minigrad.gradcheck import GradcheckError, gradcheck, gradgradcheck
from minigrad.random import manual_seed
from minigrad.serialization import load, save
from minigrad import functional, nn, optim  # noqa: F401  (minigrad.nn works after `import minigrad`)

# `minigrad.tensor` is the factory, as torch.tensor (it shadows the module's name on the package;
# `from minigrad.tensor import Tensor` still reads the module).
__all__ = ["Tensor", "as_tensor", "set_grad_enabled", "no_grad", "enable_grad", "is_grad_enabled", "grad", "gradcheck", "gradgradcheck",
           "GradcheckError"]
__all__ += ["tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "arange", "linspace", "rand", "randn"]
__all__ += ["manual_seed", "functional", "nn", "optim", "save", "load"]
__version__ = "0.1.0"
