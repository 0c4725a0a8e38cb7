"""How a Tensor shows its values: repr(x) shows them and how it was made; f"{loss:.3f}" formats
a one-element tensor like its number; float(x), x.item(), x.tolist() and x.numpy() hand them
to Python and NumPy.  Tensor's base class, readable alone."""
import numpy as np


class Printing:
    """Tensor's base: __repr__, __format__ and the conversions to Python and NumPy values."""
    __slots__ = ()

    def __bool__(self): return bool(self.data)
    def __float__(self): return float(self.item())
    def __int__(self): return int(self.item())
    def numpy(self): return self.data
    def tolist(self): return self.data.tolist()

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element tensor has one value; this one has shape {self.shape}")
        return self.data.item()

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        extra = f", shape={self.shape}" if self.ndim > 1 else ""
        extra += f", dtype={self.dtype}" if self.dtype != np.float64 else ""
        if self.grad_fn is not None:
            extra += f", grad_fn={type(self.grad_fn).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    def __format__(self, spec):
        """f"{loss:.3f}": a one-element tensor formats like its number; no spec gives repr."""
        if not spec:
            return str(self)
        if self.data.size != 1:
            raise TypeError(f"format: only a one-element tensor formats like a number (spec {spec!r}); this one "
                            f"has shape {self.shape}: format its elements, e.g. np.array2string(x.data, precision=3)")
        return format(self.data.item(), spec)
