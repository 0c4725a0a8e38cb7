"""Check backward rules against finite differences.

The check: for a random output cotangent u (never all ones, which hides bugs such as
a softmax backward returning zeros), the engine's vector-Jacobian product uᵀJ must
equal the central difference (f(x + eps e_i) - f(x - eps e_i))·u / 2eps for every
element i of every input.  Everything runs in float64.
"""
import numpy as np

from minigrad.autograd import grad as _grad
from minigrad.tensor import Tensor, unwrap


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with finite differences."""


def _float64_inputs(inputs):
    """Float inputs become float64 leaves that require grad; others pass through unchanged."""
    result = []
    for x in inputs:
        data = unwrap(x)
        if isinstance(data, np.ndarray) and data.dtype.kind == "f":
            result.append(Tensor(np.array(data, dtype=np.float64), requires_grad=True))
        else:
            result.append(x)
    return result


def _output(fn, inputs):
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return one Tensor, got {type(out).__name__}")
    return out


def _vjp(fn, inputs, cotangent, create_graph=False):
    """uᵀJ for every differentiable input (zeros where the output does not depend on it)."""
    out = _output(fn, inputs)
    leaves = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if not out.requires_grad:
        return [Tensor(np.zeros_like(x.data)) for x in leaves]
    grads = _grad(out, leaves, grad_output=cotangent, create_graph=create_graph, allow_unused=True)
    return [Tensor(np.zeros_like(x.data)) if g is None else g for x, g in zip(leaves, grads)]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Compare fn's analytic gradients with central finite differences.

    fn(*inputs) must return one Tensor.  Float inputs are cast to float64 and checked;
    others (ints, masks) are passed through.  Returns True, or raises GradcheckError
    naming the input, the element, both values and the error.
    """
    inputs = _float64_inputs(inputs)
    leaves = [(i, x) for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not leaves:
        raise ValueError("gradcheck: no floating-point input to check")
    rng = np.random.default_rng(seed)
    out = _output(fn, inputs)
    cotangent = rng.standard_normal(out.shape)
    analytic = _vjp(fn, inputs, cotangent)
    for (position, x), vjp in zip(leaves, analytic):
        flat = x.data.reshape(-1)  # a view: nudging it nudges the input
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + eps
            plus = _output(fn, inputs).data.copy()  # a copy: view ops share memory with the input
            flat[k] = original - eps
            minus = _output(fn, inputs).data.copy()
            flat[k] = original
            # Difference first, then weight: large constant outputs (a -1e9 mask fill) cancel exactly.
            numeric = np.sum((plus - minus) * cotangent) / (2 * eps)
            value = vjp.data.reshape(-1)[k]
            error = abs(value - numeric)
            if not error <= atol + rtol * abs(numeric):
                index = np.unravel_index(k, x.shape) if x.shape else ()
                raise GradcheckError(
                    f"gradcheck: gradient of input {position} (shape {x.shape}) at index {tuple(int(i) for i in index)}: "
                    f"analytic {value:.6g} vs numeric {numeric:.6g} ({_error_text(error, numeric, atol)}; "
                    f"tolerance atol={atol}, rtol={rtol})")
    return True


def _error_text(error, numeric, atol):
    """The error in words.  Where the true gradient is about 0, a relative error means
    nothing (1e-7 / 1e-300 is huge), so only the absolute one is given."""
    if abs(numeric) <= atol:
        return f"abs error {error:.3g}; the numeric gradient is about 0, so no relative error"
    return f"abs error {error:.3g}, rel error {error / abs(numeric):.3g}"


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check second derivatives: gradcheck of the function x -> uᵀJ(x), whose own
    gradient the engine gets by differentiating its backward pass (create_graph=True)."""
    inputs = _float64_inputs(inputs)
    rng = np.random.default_rng(seed + 1)
    cotangent = rng.standard_normal(_output(fn, inputs).shape)

    def first_derivatives(*xs):
        parts = [g.reshape(-1) for g in _vjp(fn, xs, cotangent, create_graph=True)]
        return parts[0] if len(parts) == 1 else _concat(parts)

    try:
        return gradcheck(first_derivatives, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
    except GradcheckError as err:
        raise GradcheckError(f"gradgradcheck (second order): {err}") from None


def _concat(parts):
    from minigrad.ops import Concatenate
    return Concatenate.apply(*parts, axis=0)
