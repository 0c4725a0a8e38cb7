"""Elementwise ops.  Inputs may have different shapes that broadcast (NumPy rules);
each backward returns gradients of the broadcast shape and the engine sums them back."""
import numpy as np

from minigrad.function import Boundary, Example, Function
from minigrad.transforms import elementwise_batch, sum_tangents

_BINARY = [Example((3, 4), (3, 4)), Example((2, 3, 4), (4,)), Example((3, 1), (1, 4)), Example((3, 4), 2.5),
           Example((0, 3), (3,))]
_UNARY = [Example((3, 4)), Example((0, 3))]
inf, nan = np.inf, np.nan


def as_float(x, *others):
    """The input(s) of an op that computes in floats, integer and boolean ones converted first:
    to float64 (minigrad's default float), or beside float inputs to the float type NumPy
    gives them (uint8 with float32 is float32).  So -x cannot wrap around and x * x cannot
    overflow in uint8, and exp(uint8) is not NumPy's float16.  One array in, one out;
    several in, a tuple out (None passes through)."""
    if not others:  # the usual case, kept quick: one input, already float
        return x if x.dtype.kind in "fc" else x.astype(np.float64)
    arrays = (x,) + others
    for a in arrays:
        if a is not None and a.dtype.kind not in "fc":
            break
    else:
        return arrays
    floats = [a.dtype for a in arrays if a is not None and a.dtype.kind in "fc"]
    return tuple(a if a is None or a.dtype.kind in "fc"
                 else a.astype(np.result_type(a.dtype, *floats) if floats else np.float64) for a in arrays)


class Add(Function):
    """a + b.  Backward: d/da = 1, d/db = 1."""
    examples = _BINARY
    reference = staticmethod(lambda a, b: a + b)
    reads = ()

    def forward(self, a, b):
        return a + b

    def backward(self, grad, a, b, out):
        return grad, grad

    def jvp(self, tangents, a, b, out):
        """ṫa + ṫb."""
        ta, tb = tangents
        return sum_tangents(ta, tb)

    batch = elementwise_batch


class Sub(Function):
    """a - b.  Backward: d/da = 1, d/db = -1."""
    examples = _BINARY + [Example((), (2, 3))]
    reference = staticmethod(lambda a, b: a - b)
    reads = ()

    def forward(self, a, b):
        return a - b

    def backward(self, grad, a, b, out):
        return grad, (-grad if self.needs_grad[1] else None)

    def jvp(self, tangents, a, b, out):
        """ṫa - ṫb."""
        ta, tb = tangents
        return sum_tangents(ta, None if tb is None else -tb)

    batch = elementwise_batch


class Mul(Function):
    """a * b.  Backward: d/da = b, d/db = a."""
    examples = _BINARY
    reference = staticmethod(lambda a, b: a * b)
    reads = ("a", "b")

    def forward(self, a, b):
        return a * b

    def backward(self, grad, a, b, out):
        return (grad * b if self.needs_grad[0] else None,
                grad * a if self.needs_grad[1] else None)

    def jvp(self, tangents, a, b, out):
        """ṫa b + a ṫb."""
        ta, tb = tangents
        return sum_tangents(None if ta is None else ta * b, None if tb is None else a * tb)

    batch = elementwise_batch


class Div(Function):
    """a / b.  Backward: d/da = 1/b, d/db = -a/b² = -out/b."""
    examples = [Example((3, 4), (3, 4), domain=(0.5, 2.0)), Example((2, 3), (3,), domain=(0.5, 2.0)),
                Example(3.0, (2, 2), domain=(0.5, 2.0)), Example((0, 3), (3,), domain=(0.5, 2.0))]
    reference = staticmethod(lambda a, b: a * (1.0 / b))
    reads = ("b", "out")

    def forward(self, a, b):
        return a / b

    def backward(self, grad, a, b, out):
        return (grad / b if self.needs_grad[0] else None,
                -grad * out / b if self.needs_grad[1] else None)

    def jvp(self, tangents, a, b, out):
        """(ṫa - out ṫb) / b."""
        ta, tb = tangents
        return sum_tangents(None if ta is None else ta / b, None if tb is None else -tb * out / b)

    batch = elementwise_batch


class Pow(Function):
    """a ** b.  Backward: d/da = b a^(b-1), d/db = out ln a
    (so a >= 0 when b needs a gradient; 0 at a = 0)."""
    examples = [Example((3, 4), 3.0), Example((3, 4), 0.5, domain=(0.5, 2.0)),
                Example((2, 3), (3,), domain=(0.5, 2.0)), Example(2.0, (3,)), Example((0, 3), 2.0)]
    boundary = [Boundary([0.0, 2.0], 0.0, expected=[1.0, 1.0], grads=[[0.0, 0.0]]),  # x^0 = 1: flat, also at 0
                Boundary([0.0, 0.0], [2.0, 0.5], expected=[0.0, 0.0], grads=[[0.0, inf], [0.0, 0.0]]),
                Boundary(0.0, [2.0, 0.5], expected=[0.0, 0.0], grads=[[0.0, 0.0]])]  # out ln a -> 0 as a -> 0
    reference = staticmethod(np.power)
    reads = ("a", "b", "out")

    def forward(self, a, b):
        return a ** b

    def backward(self, grad, a, b, out):
        grad_a = grad_b = None
        if self.needs_grad[0]:
            # Exponent b - 1, but 0 where b = 0: there b a^(b-1) would be 0 * inf = NaN at a = 0,
            # while a^0 = 1 has derivative 0 everywhere.
            grad_a = grad * b * a ** (b - (b != 0))
        if self.needs_grad[1]:
            # ln a read as ln 1 = 0 where a = 0: out ln a -> 0 there (out = 0 for b > 0), not 0 * -inf.
            grad_b = grad * out * np.log(np.where(a == 0, 1.0, a))
        return grad_a, grad_b

    def jvp(self, tangents, a, b, out):
        """ṫa b a^(b-1) + ṫb out ln a (each term as in backward, so 0 where backward has 0)."""
        ta, tb = tangents
        return sum_tangents(None if ta is None else ta * b * a ** (b - (b != 0)),
                            None if tb is None else tb * out * np.log(np.where(a == 0, 1.0, a)))

    batch = elementwise_batch


class Neg(Function):
    """-x.  Backward: d/dx = -1."""
    examples = _UNARY
    boundary = [Boundary([0.0, inf], expected=[-0.0, -inf], grads=[[-1.0, -1.0]])]
    reference = staticmethod(lambda x: 0.0 - x)
    reads = ()

    def forward(self, x):
        return -x

    def backward(self, grad, x, out):
        return -grad

    def jvp(self, tangents, x, out):
        """-ṫ."""
        t, = tangents
        return -t

    batch = elementwise_batch


class Exp(Function):
    """exp(x).  Backward: d/dx = exp(x) = out; it reads out only."""
    examples = _UNARY + [Example(())]
    boundary = [Boundary([-inf, 0.0, inf], expected=[0.0, 1.0, inf], grads=[[0.0, 1.0, inf]])]
    reference = staticmethod(lambda x: np.e ** x)
    reads = ("out",)

    def forward(self, x):
        return np.exp(as_float(x))

    def backward(self, grad, x, out):
        return grad * out

    def jvp(self, tangents, x, out):
        """ṫ out."""
        t, = tangents
        return t * out

    batch = elementwise_batch


class Log(Function):
    """Natural log, x > 0.  Backward: d/dx = 1/x; it reads x only."""
    examples = [Example((3, 4), domain=(0.2, 3.0)), Example((0, 3))]
    boundary = [Boundary([0.0, 1.0, inf], expected=[-inf, 0.0, inf], grads=[[inf, 1.0, 0.0]])]
    reference = staticmethod(lambda x: np.log2(x) / np.log2(np.e))
    reads = ("x",)

    def forward(self, x):
        return np.log(as_float(x))

    def backward(self, grad, x, out):
        return grad / x

    def jvp(self, tangents, x, out):
        """ṫ / x."""
        t, = tangents
        return t / x

    batch = elementwise_batch


class Sqrt(Function):
    """sqrt(x), x > 0.  Backward: d/dx = 1 / (2 sqrt(x)) = 0.5 / out; it reads out only."""
    examples = [Example((3, 4), domain=(0.2, 3.0)), Example((0, 3))]
    boundary = [Boundary([0.0, 4.0, inf], expected=[0.0, 2.0, inf], grads=[[inf, 0.25, 0.0]])]
    reference = staticmethod(lambda x: x ** 0.5)
    reads = ("out",)

    def forward(self, x):
        return np.sqrt(as_float(x))

    def backward(self, grad, x, out):
        return grad * 0.5 / out

    def jvp(self, tangents, x, out):
        """ṫ / (2 out)."""
        t, = tangents
        return t * 0.5 / out

    batch = elementwise_batch


class Tanh(Function):
    """tanh(x).  Backward: d/dx = 1 - tanh² = 1 - out²; it reads out only."""
    examples = _UNARY
    boundary = [Boundary([-inf, 0.0, inf], expected=[-1.0, 0.0, 1.0], grads=[[0.0, 1.0, 0.0]])]
    reference = staticmethod(lambda x: (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1))
    reads = ("out",)

    def forward(self, x):
        return np.tanh(as_float(x))

    def backward(self, grad, x, out):
        return grad * (1 - out * out)

    def jvp(self, tangents, x, out):
        """ṫ (1 - out²)."""
        t, = tangents
        return t * (1 - out * out)

    batch = elementwise_batch


class Sigmoid(Function):
    """1 / (1 + exp(-x)).  Backward: d/dx = out (1 - out); it reads out only.

    Computed from exp(-|x|), which never overflows, so large |x| gives 0 or 1, not NaN.
    """
    examples = [Example((3, 4), domain=(-5.0, 5.0)), Example((0, 3))]
    boundary = [Boundary([-inf, 0.0, inf], expected=[0.0, 0.5, 1.0], grads=[[0.0, 0.25, 0.0]])]
    reference = staticmethod(lambda x: 1 / (1 + np.exp(-x)))
    reads = ("out",)

    def forward(self, x):
        x = as_float(x)  # (-|x| of an unsigned integer would wrap around)
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def backward(self, grad, x, out):
        return grad * out * (1 - out)

    def jvp(self, tangents, x, out):
        """ṫ out (1 - out)."""
        t, = tangents
        return t * out * (1 - out)

    batch = elementwise_batch


class Relu(Function):
    """max(x, 0).  Backward: d/dx = 1 where x > 0, else 0 (0 at x = 0, as PyTorch)."""
    examples = _UNARY
    boundary = [Boundary([-inf, -1.0, -0.0, 0.0, 2.0, inf], expected=[0.0, 0.0, 0.0, 0.0, 2.0, inf],
                         grads=[[0.0, 0.0, 0.0, 0.0, 1.0, 1.0]]),
                Boundary([nan], expected=[nan]),
                Boundary([-1.0, 2.0], upstream=[inf, 1.0], grads=[[0.0, 1.0]])]  # an inf gradient where flat stays out
    reference = staticmethod(lambda x: np.maximum(x, 0.0))
    reads = ()  # the sign kept by forward

    def forward(self, x):
        self.positive = x > 0
        return np.maximum(x, 0)  # (not x * mask: -inf * 0 is NaN, and -1 * 0 is -0.)

    def backward(self, grad, x, out):
        return np.where(self.positive, grad, 0)  # selected, not masked: an inf gradient stays out

    def jvp(self, tangents, x, out):
        """ṫ where x > 0, else 0."""
        t, = tangents
        return np.where(self.positive, t, 0)

    batch = elementwise_batch


class Abs(Function):
    """|x|.  Backward: d/dx = sign(x) (0 at x = 0, as PyTorch)."""
    examples = _UNARY
    boundary = [Boundary([-inf, 0.0, 2.0], expected=[inf, 0.0, 2.0], grads=[[-1.0, 0.0, 1.0]])]
    reference = staticmethod(lambda x: np.sqrt(x * x))
    reads = ("x",)

    def forward(self, x):
        return np.abs(x)

    def backward(self, grad, x, out):
        return grad * np.sign(x)

    def jvp(self, tangents, x, out):
        """ṫ sign(x)."""
        t, = tangents
        return t * np.sign(x)

    batch = elementwise_batch


class _Pick(Function):
    """Backward, shared by maximum and minimum: the gradient goes to the chosen input; ties split
    it in half."""
    examples = [Example((3, 4), (3, 4)), Example((2, 3), (3,)), Example((3, 4), 0.3), Example((0, 3), (3,))]
    reads = ()  # the winners kept by forward

    def forward(self, a, b):
        out = self.pick(a, b)
        self.a_won, self.tie = self.wins(a, b), a == b
        return out

    def backward(self, grad, a, b, out):
        # Selected, not multiplied by 0/1 shares: an inf gradient stays with the input it belongs to.
        half = 0.5 * grad
        return (np.where(self.a_won, grad, np.where(self.tie, half, 0)) if self.needs_grad[0] else None,
                np.where(self.a_won | self.tie, np.where(self.tie, half, 0), grad) if self.needs_grad[1] else None)

    def jvp(self, tangents, a, b, out):
        """The chosen input's tangent; the mean of both at ties (the transpose of backward's split)."""
        ta, tb = (0 if t is None else t for t in tangents)
        return np.where(self.a_won, ta, np.where(self.tie, 0.5 * (ta + tb), tb))

    batch = elementwise_batch


class Maximum(_Pick):
    """Elementwise max(a, b).  Backward: d/da = 1 where a > b, 1/2 at ties, else 0."""
    pick, wins = staticmethod(np.maximum), staticmethod(np.greater)
    reference = staticmethod(lambda a, b: np.where(a > b, a, b))
    boundary = [Boundary([inf, 1.0, 2.0], [0.0, inf, 2.0], expected=[inf, inf, 2.0], grads=[[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]]),
                Boundary([3.0, 1.0], [1.0, 3.0], upstream=[inf, 1.0], grads=[[inf, 0.0], [0.0, 1.0]])]


class Minimum(_Pick):
    """Elementwise min(a, b).  Backward: d/da = 1 where a < b, 1/2 at ties, else 0."""
    pick, wins = staticmethod(np.minimum), staticmethod(np.less)
    reference = staticmethod(lambda a, b: np.where(a < b, a, b))
    boundary = [Boundary([-inf, 1.0, 2.0], [0.0, -inf, 2.0], expected=[-inf, -inf, 2.0], grads=[[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]]),
                Boundary([1.0, 3.0], [3.0, 1.0], upstream=[inf, 1.0], grads=[[inf, 0.0], [0.0, 1.0]])]



class Where(Function):
    """cond ? a : b, with cond a boolean array (no gradient).  Backward: d/da = cond, d/db = not cond."""
    examples = [Example((3, 4), (3, 4), cond=np.arange(12).reshape(3, 4) % 3 == 0),
                Example((3, 4), (4,), cond=np.array([True, False, False, True])),
                Example((0, 4), (4,), cond=np.array([True, False, False, True]))]
    reference = staticmethod(lambda a, b, cond: cond * a + (1 - cond) * b)
    boundary = [Boundary([1.0, nan], [nan, 4.0], cond=np.array([True, False]), expected=[1.0, 4.0]),
                Boundary([1.0, 2.0], [3.0, 4.0], cond=np.array([True, False]), upstream=[inf, inf],
                         grads=[[inf, 0.0], [0.0, inf]])]
    reads = ()  # the mask kept by forward

    def forward(self, a, b, cond):
        self.cond = np.array(cond, dtype=bool)  # (a copy: the caller may change theirs before backward)
        return np.where(self.cond, a, b)

    def backward(self, grad, a, b, out):
        return (np.where(self.cond, grad, 0) if self.needs_grad[0] else None,
                np.where(self.cond, 0, grad) if self.needs_grad[1] else None)

    def jvp(self, tangents, a, b, out):
        """cond ? ṫa : ṫb."""
        ta, tb = (0 if t is None else t for t in tangents)
        return np.where(self.cond, ta, tb)

    batch = elementwise_batch


class MaskedFill(Function):
    """x with value wherever mask is True (mask: boolean; value: a number or a tensor; both
    broadcast against x).  Backward: d/dx = not mask, d/dvalue = mask; it reads neither input nor out,
    only its copy of the mask."""
    examples = [Example((3, 4), -1e9, mask=np.eye(3, 4, dtype=bool)),
                Example((2, 3, 3), 0.0, mask=np.triu(np.ones((3, 3), dtype=bool), 1)),
                Example((2, 3), (3,), mask=np.array([[True, False, True], [False, False, True]])),
                Example((0, 3), (3,), mask=np.array([True, False, True]))]
    boundary = [Boundary([nan, 2.0], -inf, mask=np.array([True, False]), expected=[-inf, 2.0],
                         upstream=[inf, 1.0], grads=[[0.0, 1.0]])]
    reference = staticmethod(lambda x, value, mask: np.choose(mask, [x, value + 0 * x]))
    reads = ()  # the mask kept by forward

    def forward(self, x, value, mask):
        self.mask = np.array(mask, dtype=bool)  # (a copy: the caller may change theirs before backward)
        return np.where(self.mask, value, x)  # NumPy's dtype: uint8 filled with -1e9 is float, not wrapped

    def backward(self, grad, x, value, out):
        return (np.where(self.mask, 0, grad) if self.needs_grad[0] else None,
                np.where(self.mask, grad, 0) if self.needs_grad[1] else None)

    def jvp(self, tangents, x, value, out):
        """mask ? ṫvalue : ṫx."""
        tx, tvalue = (0 if t is None else t for t in tangents)
        return np.where(self.mask, tvalue, tx)

    batch = elementwise_batch


class Cast(Function):
    """x converted to `dtype`.  Backward: d/dx = 1, converted back to x's dtype."""
    examples = [Example((3, 4), dtype=np.dtype(np.float64)), Example((0, 3), dtype=np.dtype(np.float64))]
    reference = staticmethod(lambda x, dtype: np.array(x, dtype=dtype))
    reads = ()  # the dtype only

    def forward(self, x, dtype):
        return x.astype(dtype)

    def backward(self, grad, x, out):
        return grad.astype(x.dtype)

    def jvp(self, tangents, x, out):
        """ṫ converted to out's dtype."""
        return tangents[0].astype(out.dtype)

    batch = elementwise_batch
