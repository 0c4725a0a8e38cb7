"""minigrad: a small reverse-mode autograd engine on NumPy, for learning how it works."""
from minigrad.tensor import Tensor, as_tensor  # noqa: I001
from minigrad.autograd import enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled
from minigrad import ops  # noqa: F401  (registers the ops Tensor's operators use)
from minigrad.gradcheck import GradcheckError, gradcheck, gradgradcheck
from minigrad.random import manual_seed
from minigrad import functional, nn, optim  # noqa: F401  (minigrad.nn works after `import minigrad`)

__all__ = ["Tensor", "as_tensor", "set_grad_enabled", "no_grad", "enable_grad", "is_grad_enabled", "grad", "gradcheck", "gradgradcheck",
           "GradcheckError"]
__all__ += ["manual_seed", "functional", "nn", "optim"]
__version__ = "0.1.0"
