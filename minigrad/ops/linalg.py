"""Products: matmul, a layer's affine map, einsum, and the fused cosine similarity."""
import math
import string

import numpy as np

from minigrad.function import Boundary, Example, Function
from minigrad.ops.elementwise import Add, as_float
from minigrad.ops.reduce import sum_rows
from minigrad.ops.shape import Reshape
from minigrad.transforms import align, elementwise_batch, is_batched, logical_ndim, shifted_axis, sum_tangents


def _matmul_error(a, b):
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return f"both operands need at least 1 dimension, got shapes {sa} and {sb}"
    ka, kb = sa[-1], (sb[-2] if len(sb) > 1 else sb[0])
    if ka != kb:
        return (f"cannot multiply shapes {sa} and {sb}: the last dimension of the first "
                f"({ka}) must equal the {'second-to-last' if len(sb) > 1 else 'only'} dimension of the second ({kb})")
    return f"batch dimensions of shapes {sa} and {sb} do not broadcast ({sa[:-2]} vs {sb[:-2]})"


class MatMul(Function):
    """a @ b, batched over leading dimensions like np.matmul: (..., T, K) @ (..., K, S) -> (..., T, S).

    Backward: dL/da = g @ bᵀ, dL/db = aᵀ @ g (transposes on the last two axes).
    When b is one (K, S) matrix shared by a batch, a's batch is folded into its rows,
    so each product is one large matrix multiply instead of many small ones.
    """
    examples = [Example((3, 4), (4, 2)), Example((2, 3, 4), (4, 5)), Example((2, 3, 4), (2, 4, 5)),
                Example((2, 1, 3, 4), (3, 4, 2)), Example((4,), (4, 3)), Example((3, 4), (4,)), Example((4,), (4,)),
                Example((2, 3, 4), (4, 0)), Example((2, 4, 0), (0,)), Example((2, 0), (0, 3))]
    boundary = [Boundary(np.ones((2, 0)), np.ones((0, 3)), expected=np.zeros((2, 3)),  # a sum of no products: 0
                         grads=[np.zeros((2, 0)), np.zeros((0, 3))])]
    reference = staticmethod(lambda a, b: np.einsum("...ij,...jk->...ik", a, b) if a.ndim > 1 and b.ndim > 1
                             else np.tensordot(a, b, axes=([-1], [-2 if b.ndim > 1 else 0])))
    reads = ("a", "b")

    def forward(self, a, b):
        try:
            # A batch of several matrices times one shared b: fold the batch into one product.
            if b.ndim == 2 and a.ndim > 2 and a.size > a.shape[-2] * a.shape[-1]:
                return (_rows(a) @ b).reshape(a.shape[:-1] + b.shape[-1:])
            return a @ b
        except ValueError:  # NumPy's message speaks of gufunc signatures: say it plainly
            raise ValueError(_matmul_error(a, b)) from None

    def backward(self, grad, a, b, out):
        if a.ndim == 1 or b.ndim == 1:
            return self._vector_backward(grad, a, b)
        grad_a = grad_b = None
        if b.ndim == 2 and a.ndim > 2:  # one shared matrix: fold the batch into one product
            grad_rows = _rows(grad)
            if self.needs_grad[0]:
                grad_a = (grad_rows @ b.T).reshape(a.shape)
            if self.needs_grad[1]:
                grad_b = _rows(a).T @ grad_rows
        else:
            if self.needs_grad[0]:
                grad_a = grad @ b.swapaxes(-1, -2)
            if self.needs_grad[1]:
                grad_b = a.swapaxes(-1, -2) @ grad
        return grad_a, grad_b

    def _vector_backward(self, grad, a, b):
        """A vector operand acts as a one-row (a) or one-column (b) matrix."""
        b_matrix = b.reshape(-1, 1) if b.ndim == 1 else b
        if b.ndim == 1:
            grad = grad.reshape(grad.shape + (1,))
        a_matrix = a.reshape(1, -1) if a.ndim == 1 else a
        if a.ndim == 1:
            grad = grad.reshape(grad.shape[:-1] + (1, grad.shape[-1]))
        grad_a = grad @ b_matrix.swapaxes(-1, -2) if self.needs_grad[0] else None
        grad_b = a_matrix.swapaxes(-1, -2) @ grad if self.needs_grad[1] else None
        if grad_b is not None and b.ndim == 1:
            grad_b = grad_b.reshape(grad_b.shape[:-1])
        return grad_a, grad_b

    def jvp(self, tangents, a, b, out):
        """ṫa @ b + a @ ṫb."""
        ta, tb = tangents
        return sum_tangents(None if ta is None else ta @ b, None if tb is None else a @ tb)

    def batch(self, batched, a, b):
        """One matmul over the batch: vectors become one-row (a) or one-column (b) matrices, so that
        matmul's vector rules never meet the batch axis, and the batch axes of the two line up."""
        a_vector, b_vector = (logical_ndim(x, is_b) == 1 for x, is_b in zip((a, b), batched))
        if a_vector:
            a = Reshape.apply(a, shape=a.shape[:-1] + (1, a.shape[-1]))  # (..., 1, K)
        if b_vector:
            b = Reshape.apply(b, shape=b.shape + (1,))  # (..., K, 1)
        a, b = align((a, b), batched, max(logical_ndim(a, batched[0]), logical_ndim(b, batched[1])))
        out = MatMul.apply(a, b)  # (B, ..., T, S)
        dropped = out.shape[:-2] + out.shape[-2:][a_vector:2 - b_vector]
        return Reshape.apply(out, shape=dropped) if a_vector or b_vector else out


def _rows(x):
    """x (..., K) as one matrix (rows, K).  The row count is spelled out: reshape(-1, K) is
    ambiguous when x is empty."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


class Affine(Function):
    """x @ weight + bias, a layer's product and shift in one op: x (..., K), weight (K, N),
    bias (N,) or None -> (..., N).

    Backward, with the rows of x and grad stacked into matrices X (R, K) and G (R, N):
    dL/dx = G weightᵀ, dL/dweight = Xᵀ G, dL/dbias = the column sums of G.
    Fused, the bias is added into the array the product made (no second full-size array),
    and its gradient is one sum over the rows, not a broadcast undone.  Backward reads x
    and weight, not bias or out.
    """
    examples = [Example((3, 4), (4, 2), (2,)), Example((2, 3, 4), (4, 5), (5,)),
                Example((4,), (4, 3), (3,)), Example((2, 3, 4), (4, 2), None), Example((0, 4), (4, 2), (2,)),
                Example((2, 4), (4, 0), (0,)), Example((3, 0), (0, 2), (2,))]
    # No features in: the product is a sum of nothing, so every row is the bias, and each
    # row hands its gradient (1 for out.sum()) to the bias.
    boundary = [Boundary(np.ones((3, 0)), np.ones((0, 2)), [0.5, -1.0], expected=[[0.5, -1.0]] * 3,
                         grads=[np.zeros((3, 0)), np.zeros((0, 2)), [3.0, 3.0]])]
    reference = staticmethod(lambda x, weight, bias=None: np.einsum("...k,kn->...n", x, weight)
                             + (0.0 if bias is None else bias))
    reads = ("x", "weight")

    def forward(self, x, weight, bias=None):
        if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[0]:
            turned = weight.ndim == 2 and x.ndim > 0 and weight.shape[1] == x.shape[-1]
            hint = "; PyTorch's F.linear takes weight as (N, K): pass its transpose" if turned else ""
            raise ValueError(f"Affine: x (..., K) @ weight (K, N) needs a 2-D weight whose first dimension "
                             f"is x's last, got x {x.shape} and weight {weight.shape}{hint}")
        if bias is not None and bias.shape != weight.shape[1:]:
            raise ValueError(f"Affine: bias must have shape (N,) = {weight.shape[1:]}, one entry per output "
                             f"feature, got {bias.shape}")
        out = _rows(x) @ weight                                             # (R, N)
        if bias is not None:
            if np.result_type(out, bias) == out.dtype:
                out += bias  # into the array the product made
            else:  # a wider bias (float beside integers): a new array of the wider type
                out = out + bias
        return out.reshape(x.shape[:-1] + weight.shape[1:])                 # (..., N)

    def backward(self, grad, x, weight, bias, out):
        grad_rows = _rows(grad)                                             # (R, N)
        grad_x = (grad_rows @ weight.T).reshape(x.shape) if self.needs_grad[0] else None
        grad_weight = _rows(x).T @ grad_rows if self.needs_grad[1] else None
        grad_bias = sum_rows(grad) if self.needs_grad[2] else None
        return grad_x, grad_weight, grad_bias

    def jvp(self, tangents, x, weight, bias, out):
        """ṫx @ weight + x @ ṫweight + ṫbias."""
        tx, tweight, tbias = tangents
        return sum_tangents(None if tx is None else tx @ weight, None if tweight is None else x @ tweight, tbias)

    def batch(self, batched, x, weight, bias=None):
        """Shared weight and bias (vmap over examples): one Affine on the batch, whose rows are
        every example's.  A batched weight or bias: matmul's batch rule, then addition's."""
        if not any(batched[1:]):
            return Affine.apply(x, weight, bias)
        product_batched = batched[0] or batched[1]
        out = MatMul().batch(batched[:2], x, weight) if product_batched else MatMul.apply(x, weight)
        if bias is None:
            return out
        return elementwise_batch(Add(), (product_batched, batched[2]), out, bias)  # (B, ..., N)


def _parse_subscripts(subscripts, n_operands):
    """Split 'ij,jk->ik' into (['ij', 'jk'], 'ik'); without '->', the output is the letters
    used exactly once, in alphabetical order (NumPy's implicit mode)."""
    subscripts = subscripts.replace(" ", "")
    if "." in subscripts:
        raise ValueError("Einsum: ellipsis ('...') is not supported; name every axis with a letter")
    inputs, arrow, output = subscripts.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != n_operands:
        raise ValueError(f"Einsum: subscripts {subscripts!r} name {len(inputs)} operands but {n_operands} were given")
    if not arrow:
        letters = "".join(inputs)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return inputs, output


class Einsum(Function):
    """np.einsum(subscripts, *operands), ellipsis-free.

    Backward for operand i: einsum of the gradient (output subscripts) with the other
    operands, producing operand i's subscripts.  Two details: a letter only operand i
    has (summed away in forward) comes back by multiplying with ones; a letter repeated
    within operand i (a diagonal, as in 'ii->i') gets a fresh letter tied to the first
    by an identity matrix, so the gradient lands on the diagonal only.  And a letter of
    size 1 in operand i that broadcast against a larger size elsewhere comes out of that
    einsum with size 1: the gradient is the same all along it, so it is broadcast to the
    other size, and the engine sums it back to the operand's 1.
    """
    examples = [Example((3, 4), (4, 2), subscripts="ij,jk->ik"), Example((2, 3, 4), (2, 5, 4), subscripts="bik,bjk->bij"),
                Example((3, 4), subscripts="ij->"), Example((3, 3), subscripts="ii->i"), Example((3, 4), (4,), subscripts="ij,j"),
                Example((2, 3), (3, 4), (4, 2), subscripts="ab,bc,cd->ad"), Example((3,), (4,), subscripts="i,j->ij"),
                Example((3, 1), (4, 2), subscripts="ij,jk->ik"), Example((1,), (4,), subscripts="i,i->"),
                Example((0, 4), (4, 2), subscripts="ij,jk->ik")]
    reference = staticmethod(lambda *ops, subscripts: np.einsum(subscripts, *ops, optimize=True))
    reads = ("inputs",)

    def forward(self, *operands, subscripts):
        self.inputs_sub, self.output_sub = _parse_subscripts(subscripts, len(operands))
        sizes = {}  # letter -> (size, operand number): a letter must mean one size everywhere
        for i, (sub, op) in enumerate(zip(self.inputs_sub, operands)):
            if len(sub) != np.ndim(op):
                raise ValueError(f"Einsum: subscripts {sub!r} name {len(sub)} axes but operand {i} has shape {np.shape(op)}")
            for c, n in zip(sub, np.shape(op)):
                size, j = sizes.setdefault(c, (n, i))
                if n != size and 1 not in (n, size):  # (size 1 broadcasts, as in NumPy)
                    raise ValueError(f"Einsum: axis {c!r} has size {size} in operand {j} ({self.inputs_sub[j]!r}) "
                                     f"but {n} in operand {i} ({sub!r})")
        # With more than two operands the contraction order matters a lot; NumPy's optimizer picks it.
        return np.einsum(f"{','.join(self.inputs_sub)}->{self.output_sub}", *operands, optimize=len(operands) > 2)

    def backward(self, grad, *operands_and_out):
        operands = operands_and_out[:-1]
        sizes = {}  # letter -> its size after broadcasting
        for sub, op in zip(self.inputs_sub, operands):
            for c, n in zip(sub, op.shape):
                sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]
        free = iter(c for c in string.ascii_letters if c not in sizes)
        grads = []
        for i, target in enumerate(self.inputs_sub):
            if not self.needs_grad[i]:
                grads.append(None)
                continue
            subs = [self.output_sub] + [s for j, s in enumerate(self.inputs_sub) if j != i]
            arrays = [grad] + [op for j, op in enumerate(operands) if j != i]
            result, seen = "", set()
            for c in target:
                if c in seen:  # repeated letter: a diagonal
                    fresh = next(free)
                    subs.append(c + fresh)
                    arrays.append(np.eye(sizes[c], dtype=grad.dtype))
                    result += fresh
                else:
                    seen.add(c)
                    result += c
                    if not any(c in s for s in subs):  # summed away in forward
                        subs.append(c)
                        arrays.append(np.ones(sizes[c], dtype=grad.dtype))
            grad_i = np.einsum(f"{','.join(subs)}->{result}", *arrays, optimize=len(arrays) > 2)
            full = tuple(sizes[c] for c in target)
            grads.append(grad_i if grad_i.shape == full else np.broadcast_to(grad_i, full))
        return tuple(grads)

    def jvp(self, tangents, *operands_and_out):
        """Σ_i einsum with operand i replaced by its tangent."""
        operands = operands_and_out[:-1]
        spec = f"{','.join(self.inputs_sub)}->{self.output_sub}"
        return sum_tangents(*(None if t is None else np.einsum(spec, *operands[:i], t, *operands[i + 1:],
                                                                 optimize=len(operands) > 2)
                              for i, t in enumerate(tangents)))

    def batch(self, batched, *operands, subscripts):
        """A fresh letter for the batch axis, in front of each batched operand's letters and the output's."""
        inputs, output = _parse_subscripts(subscripts, len(operands))
        letter = next(c for c in string.ascii_letters if c not in subscripts)
        inputs = [letter + sub if is_b else sub for sub, is_b in zip(inputs, batched)]
        return Einsum.apply(*operands, subscripts=f"{','.join(inputs)}->{letter}{output}")


class CosineSimilarity(Function):
    """a·b / (max(|a|, eps) max(|b|, eps)) along axis (PyTorch's definition: each norm clamped).
    a and b broadcast against each other first; the norms are those of the broadcast vectors.

    Backward, with na, nb the clamped norms and cos = out:
      dcos/da = (b - cos (nb / na) a) / (na nb)   (the cos term only where |a| > eps),
    so at a zero vector the gradient is b / (eps nb): finite.  Backward reads a, b and out
    (and the norms forward kept).
    """
    examples = [Example((3, 4), (3, 4)), Example((2, 3, 4), (4,), axis=-1), Example((4, 3), (4, 3), axis=0),
                Example((2, 1), (2, 4), axis=-1), Example((2, 4, 3), (4, 1), axis=1), Example((0, 4), (4,))]
    boundary = [Boundary([[1.0], [2.0]], [[1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 1.0, 1.0]], expected=[1.0, 0.5]),
                # a zero vector: its norm is clamped to eps, so d/da = b / (eps |b|) and d/db = 0
                Boundary([0.0, 0.0], [3.0, 4.0], expected=0.0, grads=[[3 / 5e-8, 4 / 5e-8], [0.0, 0.0]])]
    reference = staticmethod(lambda a, b, axis=-1, eps=1e-8: np.sum(a * b, axis=axis) / (
        np.maximum(np.linalg.norm(a + 0 * b, axis=axis), eps)
        * np.maximum(np.linalg.norm(b + 0 * a, axis=axis), eps)))
    reads = ("a", "b", "out")

    def forward(self, a, b, axis=-1, eps=1e-8):
        self.axis, self.eps = axis, eps
        a, b = _broadcast_pair(*as_float(a, b))  # (integers squared in their own type overflow)
        na, nb = self.keep(_clamped_norms, a, b, axis, eps)  # small: kept for backward
        out = (a * b).sum(axis=axis, keepdims=True)
        out /= na * nb
        self.kshape = out.shape  # keepdims: what grad is reshaped to, to broadcast against a and b
        return out.squeeze(axis)

    def backward(self, grad, a, b, out):
        a, b = _broadcast_pair(*as_float(a, b))
        na, nb = self.kept(_clamped_norms, a, b, self.axis, self.eps)
        g_over_norms = grad.reshape(self.kshape) / (na * nb)
        cos = out.reshape(self.kshape)
        grad_a = grad_b = None
        # Where a norm is clamped to eps it is a constant: its term is selected away (not * 0, which keeps NaN).
        if self.needs_grad[0]:
            grad_a = g_over_norms * (b - np.where(na > self.eps, cos * nb / na, 0) * a)
        if self.needs_grad[1]:
            grad_b = g_over_norms * (a - np.where(nb > self.eps, cos * na / nb, 0) * b)
        return grad_a, grad_b

    def jvp(self, tangents, a, b, out):
        """(ṫa·(b - cos (nb/na) a) + ṫb·(a - cos (na/nb) b)) / (na nb): the transpose of backward."""
        ta, tb = tangents
        a, b = _broadcast_pair(a, b)
        na, nb = self.kept(_clamped_norms, a, b, self.axis, self.eps)
        cos = out.reshape(self.kshape)
        terms = sum_tangents(None if ta is None else ta * (b - np.where(na > self.eps, cos * nb / na, 0) * a),
                             None if tb is None else tb * (a - np.where(nb > self.eps, cos * na / nb, 0) * b))
        return (terms / (na * nb)).sum(axis=self.axis)

    def batch(self, batched, a, b, axis=-1, **params):
        """Along the same axis of each example, after the batch axis goes in front of the broadcast shape."""
        n = max(logical_ndim(a, batched[0]), logical_ndim(b, batched[1]))
        return CosineSimilarity.apply(*align((a, b), batched, n), axis=shifted_axis(axis, n), **params)


def _broadcast_pair(a, b):
    """a and b broadcast to their common shape (views)."""
    if a.shape == b.shape:
        return a, b
    shape = np.broadcast_shapes(a.shape, b.shape)
    return tuple(x if x.shape == shape else np.broadcast_to(x, shape) for x in (a, b))


def _clamped_norms(a, b, axis, eps):
    """max(|a|, eps) and max(|b|, eps) along axis, each kept as a size-1 axis."""
    return (np.maximum(np.sqrt((a * a).sum(axis=axis, keepdims=True)), eps),
            np.maximum(np.sqrt((b * b).sum(axis=axis, keepdims=True)), eps))
