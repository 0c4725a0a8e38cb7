"""PyTorch's spellings on a Tensor: minigrad follows NumPy's names, and a student's PyTorch
habit gets a one-line hint naming NumPy's way instead of a bare AttributeError."""


class PyTorchSpellings:
    """Tensor's base: each method answers a PyTorch spelling with minigrad's (NumPy's) way."""
    __slots__ = ()

    def view(self, *shape): refuse("view", "reshape(...)")
    def float(self): refuse("float", "astype(np.float32) or astype(np.float64)")
    def double(self): refuse("double", "astype(np.float64)")
    def dim(self): refuse("dim", "the .ndim property")
    def unsqueeze(self, dim): refuse("unsqueeze", "reshape, or indexing with None (x[:, None])")
    def clone(self): refuse("clone", "copy()")
    def to(self, *dtype_or_device): refuse("to", "astype(dtype); minigrad runs on the CPU only")
    def expand(self, *sizes): refuse("expand", "np.broadcast_to(x, shape)")
    def numel(self): refuse("numel", "the .size property")
    def cuda(self, *device): raise TypeError("Tensor.cuda() is PyTorch's; minigrad runs on the CPU only: drop .cuda()")
    def pow(self, exponent): refuse("pow", "x ** exponent")
    def clamp(self, min=None, max=None): refuse("clamp", "F.maximum(x, min) and F.minimum(x, max) (F.relu(x) for min=0)")
    def std(self, *dim, **kwargs): refuse("std", "x.var(axis=...) ** 0.5 (ddof=1 for PyTorch's unbiased default)")
    def detach_(self): refuse("detach_", "x = x.detach(), a new tensor cut from the graph")
    # (x.size() fails as Python's "'int' object is not callable": x.size is NumPy's element count, a plain int)


def refuse(pytorch_name, numpy_way):
    raise TypeError(f"Tensor.{pytorch_name}() is PyTorch's spelling; minigrad follows NumPy: use {numpy_way}")


def refuse_two_axis_transpose(axes, shape):
    """x.transpose(a, b) as PyTorch's swap of two axes: NumPy reads two axes as the whole
    permutation, the identity for (0, 1) or (-2, -1) on 2-D, and refuses them on other shapes."""
    raise ValueError(f"transpose{tuple(axes)} on shape {shape}: NumPy reads the axes as the whole permutation, "
                     f"not PyTorch's swap of two axes; write x.swapaxes{tuple(axes)}, x.T (2-D), or x.mT "
                     "(the last two axes)")
