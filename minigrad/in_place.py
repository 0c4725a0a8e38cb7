"""In-place updates of a Tensor: `x += 1`, `x.add_(...)`, `x.zero_()`, `x[i] = v`.

Outside a graph (an optimizer step under no_grad) they change `x.data` itself and keep the
tensor's identity.  Inside a graph, `y += x` makes a new tensor and rebinds y (recorded, like
y = y + x); the explicit methods are refused there, as the graph would not see the change.
Each change takes a number (grad_mode.next_number): a backward that reads the tensor (an op's
input or output, Function.reads) from before the change refuses to run (autograd.check_saved_inputs).
"""
import numpy as np

import minigrad  # the floors above, used at call time: minigrad.ops
from minigrad.grad_mode import changes, mode, next_number


class InPlaceUpdates:
    """Tensor's base: the in-place operators and methods (see the module's docstring)."""
    __slots__ = ()

    def __iadd__(self, other): return self._in_place("+=", np.add, other, minigrad.ops.Add)
    def __isub__(self, other): return self._in_place("-=", np.subtract, other, minigrad.ops.Sub)
    def __imul__(self, other): return self._in_place("*=", np.multiply, other, minigrad.ops.Mul)
    def __itruediv__(self, other): return self._in_place("/=", np.true_divide, other, minigrad.ops.Div)
    def add_(self, other): return self._in_place("add_", np.add, other)
    def sub_(self, other): return self._in_place("sub_", np.subtract, other)
    def mul_(self, other): return self._in_place("mul_", np.multiply, other)
    def div_(self, other): return self._in_place("div_", np.true_divide, other)
    def fill_(self, value): return self._in_place("fill_", lambda a, v, out: np.copyto(out, v), value)
    def zero_(self): return self.fill_(0)
    def copy_(self, other): return self.fill_(other)

    def __setitem__(self, index, value):
        self._in_place("item assignment", lambda a, v, out: out.__setitem__(minigrad.ops.plain_index(index), v), value)

    def _in_place(self, name, ufunc, other, op=None):
        """self.data changed by ufunc(data, other) in place, keeping this tensor's identity."""
        if mode.grad_enabled and (self.requires_grad or getattr(other, "requires_grad", False)):
            if op is not None and not (self.requires_grad and self.grad_fn is None):
                return op.apply(self, other)
            what = "a leaf that requires grad" if self.requires_grad and self.grad_fn is None else "a tensor in a graph"
            instead = ("`y = F.where(mask, value, y)` or `y = F.masked_fill(y, mask, value)`"
                       if name == "item assignment" else "`y = y + x`")
            raise RuntimeError(
                f"{name}: cannot change {what} (shape {self.shape}) in place while gradients are recorded: the "
                "graph would not see the change.  Update parameters under `with minigrad.no_grad():`, or write "
                f"{instead} to make a new tensor")
        try:
            ufunc(self.data, np.asarray(other), out=self.data)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{name}: {err} (tensor shape {self.shape} {self.dtype}, "
                            f"value shape {np.shape(other)})") from err
        self._version = changes.last = next_number()  # ops that saved self must refuse
        return self
