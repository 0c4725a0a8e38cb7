"""Check backward rules against finite differences.

The check: for a random output cotangent u (never all ones, which hides bugs such as
a softmax backward returning zeros), the engine's vector-Jacobian product uᵀJ must
equal the central difference (f(x + eps e_i) - f(x - eps e_i))·u / 2eps for every
element i of every input.  Everything runs in float64.

u comes from a random stream of its own, never np.random.default_rng(seed)'s, which is
where test data usually comes from: u equal to an input lets a transposed rule pass.
Backward gets a copy of u, and writing into it (or into the inputs or the output)
is an error of its own: the engine may hand one array to several ops.

When they differ, the error shows the elements (analytic vs numeric) and names the likely
slip, found by comparing the analytic gradient with simple transforms of the numeric one
(see the diagnosis section at the end).
"""
import numpy as np

from minigrad.autograd import grad as _grad
from minigrad.tensor import Tensor, unwrap


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with finite differences."""


# The cotangents' own random stream: SeedSequence((STREAM, seed)) is not np.random.default_rng(seed)'s.
_COTANGENT_STREAM = 0x6772616463686B  # "gradchk"


def random_cotangent(shape, seed=0):
    """The random upstream gradient u that gradcheck(..., seed=seed) uses for an output of `shape`:
    standard normal, from a stream no np.random.default_rng(n) draws from."""
    return np.random.default_rng((_COTANGENT_STREAM, seed)).standard_normal(shape)


def _float64_inputs(inputs):
    """Float inputs become float64 leaves that require grad; others pass through unchanged.

    A leaf keeps its input's class: an nn.Parameter stays a Parameter, so code that treats
    Tensor subclasses differently is checked as it runs on them.
    """
    result = []
    for x in inputs:
        data = unwrap(x)
        if isinstance(data, np.ndarray) and data.dtype.kind == "f":
            leaf = Tensor.__new__(type(x) if isinstance(x, Tensor) else Tensor)
            Tensor.__init__(leaf, np.array(data, dtype=np.float64), requires_grad=True)
            result.append(leaf)
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
    handed = cotangent.copy()  # backward's own copy: u itself stays as drawn
    arrays = {f"input {i} (shape {x.shape})": x for i, x in enumerate(inputs)
              if isinstance(x, Tensor) and x.requires_grad}
    arrays["fn's output"] = out
    before = {what: x.data.copy() for what, x in arrays.items()}
    grads = _grad(out, leaves, grad_output=handed, create_graph=create_graph, allow_unused=True)
    _check_untouched(out, handed, cotangent, arrays, before)
    return [Tensor(np.zeros_like(x.data)) if g is None else g for x, g in zip(leaves, grads)]


def _check_untouched(out, handed, cotangent, arrays, before):
    """Refuse a backward that wrote into what it was handed.  The engine passes one array
    to several ops (Add hands `grad` to both inputs), so such a write changes other
    gradients, while the rule alone may even look right (ReLU doing `grad[x <= 0] = 0`)."""
    op = f"{type(out.grad_fn).__name__}.backward (fn's last op), or a backward that ran after it,"
    if not np.array_equal(handed, cotangent, equal_nan=True):
        raise GradcheckError(f"gradcheck: {op} wrote into the upstream gradient `grad` it was handed "
                             "(`grad *= 2`, `grad[mask] = 0`); make a new array instead: "
                             "`grad * 2`, `np.where(mask, 0, grad)`")
    for what, x in arrays.items():
        if not np.array_equal(x.data, before[what], equal_nan=True):
            raise GradcheckError(f"gradcheck: {op} changed {what} in place; backward may only read "
                                 "the inputs and the output (write into an array it made itself)")


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Compare fn's analytic gradients with central finite differences.

    fn(*inputs) must return one Tensor.  Float inputs are cast to float64 and checked;
    others (ints, masks) are passed through.  Returns True, or raises GradcheckError
    showing the elements that differ (analytic vs numeric) and, where the difference has
    a known shape, the likely slip (sign flipped, a constant factor, transposed, ...).
    """
    inputs = _float64_inputs(inputs)
    leaves = [(i, x) for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not leaves:
        raise ValueError("gradcheck: no floating-point input to check")
    out = _output(fn, inputs)
    cotangent = random_cotangent(out.shape, seed)
    analytic = _vjp(fn, inputs, cotangent)
    tolerance = dict(atol=atol, rtol=rtol)
    for leaf, ((position, x), vjp) in enumerate(zip(leaves, analytic)):
        numeric = _numeric(fn, inputs, x, cotangent, eps)
        value = vjp.data.reshape(x.shape)
        if not _close(value, numeric, **tolerance):
            case = _Case(fn, inputs, leaf, x, out.data, cotangent, value, numeric, eps, tolerance)
            raise GradcheckError(_failure_message(case, position))
    return True


def _numeric(fn, inputs, x, cotangent, eps):
    """Central differences of sum(fn(*inputs) * cotangent) for every element of x, shaped like x."""
    flat = x.data.reshape(-1)  # a view: nudging it nudges the input
    result = np.empty(flat.size)
    for k in range(flat.size):
        original = flat[k]
        flat[k] = original + eps
        plus = _output(fn, inputs).data.copy()  # a copy: view ops share memory with the input
        flat[k] = original - eps
        minus = _output(fn, inputs).data.copy()
        flat[k] = original
        # Difference first, then weight: large constant outputs (a -1e9 mask fill) cancel exactly.
        result[k] = np.sum((plus - minus) * cotangent) / (2 * eps)
    return result.reshape(x.shape)


def _close(value, numeric, atol, rtol):
    """Every element within atol + rtol |numeric| (NaN never is)."""
    return value.shape == numeric.shape and bool(np.all(np.abs(value - numeric) <= atol + rtol * np.abs(numeric)))


def _failure_message(case, position):
    """The worst element, a table of the elements that differ, and the likely slip if one fits."""
    x, value, numeric = case.x, case.analytic, case.numeric
    error = np.abs(value - numeric)
    bad = ~(error <= case.tolerance["atol"] + case.tolerance["rtol"] * np.abs(numeric))
    worst = int(np.argmax(np.where(np.isnan(error), np.inf, error).reshape(-1)))
    index = _index(worst, x.shape)
    a, n, e = value.reshape(-1)[worst], numeric.reshape(-1)[worst], error.reshape(-1)[worst]
    lines = [f"gradcheck: gradient of input {position} (shape {x.shape}) differs from finite differences "
             f"at {int(bad.sum())} of {x.data.size} elements; worst at index {index}: analytic {a:.6g} vs "
             f"numeric {n:.6g} ({_error_text(e, n, case.tolerance['atol'])}; "
             f"tolerance atol={case.tolerance['atol']}, rtol={case.tolerance['rtol']})",
             _difference_table(value, numeric, bad)]
    identity = _dot_product_identity(case, position)
    if identity:
        lines.append(identity)
    slip = _likely_slip(case)
    lines.append(f"likely slip: {slip}" if slip else "likely slip: none of the common ones "
                 "(sign, constant factor, transpose, upstream gradient, broadcast sum, input vs output)")
    return "\n".join(lines)


def _index(k, shape):
    return tuple(int(i) for i in np.unravel_index(k, shape)) if shape else ()


def _difference_table(value, numeric, bad, small=12, worst=5):
    """Every element of a small gradient (differing ones marked *), else the worst few."""
    error = np.where(np.isnan(value - numeric), np.inf, np.abs(value - numeric)).reshape(-1)
    if value.size <= small:
        rows, title = range(value.size), "all elements (* = differs):"
    else:
        rows, title = np.argsort(-error, kind="stable")[:worst], f"the {worst} worst of {value.size} elements:"
    lines = [title, f"  {'':1} {'index':>12} {'analytic':>12} {'numeric':>12}"]
    for k in rows:
        mark = "*" if bad.reshape(-1)[k] else " "
        lines.append(f"  {mark} {str(_index(int(k), value.shape)):>12} {value.reshape(-1)[k]:>12.6g} "
                     f"{numeric.reshape(-1)[k]:>12.6g}")
    return "\n".join(lines)


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
    upstream = random_cotangent(_output(fn, inputs).shape, seed + 1)

    def first_derivatives(*xs):
        parts = [g.reshape(-1) for g in _vjp(fn, xs, upstream, create_graph=True)]
        return parts[0] if len(parts) == 1 else _concat(parts)

    try:
        return gradcheck(first_derivatives, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
    except GradcheckError as err:
        raise GradcheckError(f"gradgradcheck (second order): {err}") from None


def _concat(parts):
    from minigrad.ops import Concatenate
    return Concatenate.apply(*parts, axis=0)


# ---- diagnosis: which common slip explains the difference ---------------------------------
# Each check compares the analytic gradient with a simple transform of the numeric one
# (its negative, a multiple, its transpose, ...) or reruns the check with another upstream.

class _Case:
    """One failed comparison: the input x (leaf number `leaf`), the output, the cotangent
    used, the analytic and numeric gradients (shaped like x), and how to recompute them."""

    def __init__(self, fn, inputs, leaf, x, out, cotangent, analytic, numeric, eps, tolerance):
        self.fn, self.inputs, self.leaf, self.x, self.out = fn, inputs, leaf, x, out
        self.cotangent, self.analytic, self.numeric = cotangent, analytic, numeric
        self.eps, self.tolerance = eps, tolerance
        self._with_ones = {}  # two checks need the gradients for an upstream of ones: made once

    def close(self, value, target):
        return _close(value, target, **self.tolerance)

    def for_ones(self):
        """(analytic, numeric) for an upstream gradient of ones."""
        if not self._with_ones:
            ones = np.ones_like(self.cotangent)
            self._with_ones.update(analytic=self.analytic_for(ones), numeric=self.numeric_for(ones))
        return self._with_ones["analytic"], self._with_ones["numeric"]

    def analytic_for(self, cotangent):
        return _vjp(self.fn, self.inputs, cotangent)[self.leaf].data.reshape(self.x.shape)

    def numeric_for(self, cotangent):
        return _numeric(self.fn, self.inputs, self.x, cotangent, self.eps)


def _dot_product_identity(case, position):
    """A line when forward mode disagrees with backward: <v, J u> from the ops' jvp rules against
    <Jᵀ v, u> from their backward rules, for a random u (None when they agree, or a jvp rule is missing)."""
    from minigrad import func  # (func sits above gradcheck: forward mode is only asked for here)
    u = np.random.default_rng(1).standard_normal(case.x.shape)

    def along_x(x):
        return case.fn(*[x if k == position else y for k, y in enumerate(case.inputs)])

    try:  # (a diagnosis only: where forward mode cannot run, e.g. an op without a jvp rule, it says nothing)
        _, tangent = func.jvp(along_x, (case.x.detach().requires_grad_(),), (Tensor(u),))
    except Exception:
        return None
    forward, reverse = np.sum(case.cotangent * tangent.data), np.sum(case.analytic * u)
    if abs(forward - reverse) <= 1e-8 * (abs(forward) + abs(reverse) + 1e-300):
        return None
    numeric = np.sum(case.numeric * u)
    backward_wrong = abs(forward - numeric) <= 1e-4 * (abs(numeric) + 1e-3)
    suspect = "the backward rule" if backward_wrong else "a jvp or backward rule"
    return (f"dot-product identity fails: <v, J u> = {forward:.6g} by forward mode (the jvp rules) but "
            f"<Jᵀ v, u> = {reverse:.6g} by reverse mode (the backward rules); finite differences give "
            f"{numeric:.6g}, so {suspect} is wrong")


def _likely_slip(case):
    """The first common slip the difference matches, in words, or None."""
    for check in (_all_zero, _sign_flipped, _transposed, _ignores_upstream, _not_summed_over_broadcast,
                  _constant_factor, _input_for_output):
        slip = check(case)
        if slip:
            return slip
    return None


def _all_zero(case):
    if not np.any(case.analytic) and np.any(case.numeric):
        return "the analytic gradient is all zeros (is this input's gradient returned at all?)"


def _sign_flipped(case):
    if case.close(case.analytic, -case.numeric):
        return "sign flipped: analytic = -numeric"


def _transposed(case):
    flipped = case.numeric.swapaxes(-1, -2) if case.numeric.ndim >= 2 else None
    if flipped is not None and flipped.shape == case.analytic.shape and case.close(case.analytic, flipped):
        return "transposed: analytic = numeric with its last two axes swapped"


def _ignores_upstream(case):
    """A backward that never multiplies by grad gives the same answer for any upstream."""
    with_ones, numeric_for_ones = case.for_ones()
    if case.close(case.analytic, with_ones):
        right_for_ones = case.close(with_ones, numeric_for_ones)
        return ("forgot to multiply by the upstream gradient: the analytic gradient is the same for a random "
                "upstream as for ones" + (", where it is right" if right_for_ones else ""))


def _ratio(case):
    """c with analytic = c numeric, if there is one (else None)."""
    norm = np.sum(case.numeric * case.numeric)
    if norm == 0:
        return None
    c = np.sum(case.analytic * case.numeric) / norm
    return c if case.close(case.analytic, c * case.numeric) else None


def _constant_factor(case):
    c = _ratio(case)
    if c is not None:
        return f"off by a constant factor: analytic = {_nice(c)} × numeric"


def _nice(c):
    """c as a short fraction where it is one (1/3, 2, -1/2), else 4 digits."""
    from fractions import Fraction
    f = Fraction(float(c)).limit_denominator(16)
    return str(f) if abs(float(f) - c) <= 1e-6 * max(1.0, abs(c)) else f"{c:.4g}"


def _broadcast_axes(shape, out_shape):
    """The axes of out_shape along which an input of `shape` was broadcast (empty if none)."""
    lead = len(out_shape) - len(shape)
    if lead < 0 or any(n not in (1, m) for n, m in zip(shape, out_shape[lead:])):
        return ()
    return tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and out_shape[lead + i] != 1)


def _not_summed_over_broadcast(case):
    """A broadcast input's gradient must be the sum over the copies: the mean, or one copy, is a slip."""
    axes = _broadcast_axes(case.x.shape, case.out.shape)
    if not axes:
        return None
    copies = case.out.size // max(case.x.data.size, 1)
    where = f"not summed over the broadcast axes {axes} of the output shape {case.out.shape}"
    c = _ratio(case)
    if c is not None and abs(c * copies - 1) < 1e-6:
        return f"{where}: analytic = numeric / {copies}, the mean over the {copies} copies instead of their sum"
    first = np.zeros(case.out.shape)
    first[tuple(0 if axis in axes else slice(None) for axis in range(case.out.ndim))] = 1
    if case.close(case.analytic, case.numeric_for(case.cotangent * first)):
        return f"{where}: analytic is the gradient of the first copy only"


def _input_for_output(case):
    """For an elementwise op: the derivative written as g(out) but evaluated at x (or the reverse).
    Found by fitting a low-degree polynomial g to the true derivative (upstream ones) as a
    function of out (of x) and seeing whether the analytic one is g(x) (g(out))."""
    x, out = case.x.data, case.out
    if out.shape != x.shape or x.size < 6 or np.allclose(x, out):
        return None
    analytic, numeric = (g.reshape(-1) for g in case.for_ones())
    if np.ptp(numeric) <= case.tolerance["atol"]:  # a constant derivative cannot tell x from out
        return None
    for fitted_on, used, text in ((out, x, "used the input where the output was meant"),
                                  (x, out, "used the output where the input was meant")):
        g = _exact_polynomial(fitted_on.reshape(-1), numeric, case)
        if g is not None and case.close(analytic, g(used.reshape(-1))):
            return f"{text}: the analytic derivative is g({'x' if used is x else 'out'}) where the right one is " \
                   f"g({'out' if used is x else 'x'})"
    return None


def _exact_polynomial(t, y, case, max_degree=3):
    """The lowest-degree polynomial g (up to max_degree) with g(t) = y at every point, or None."""
    for degree in range(max_degree + 1):
        if t.size < degree + 3:
            return None
        g = np.polynomial.Polynomial.fit(t, y, degree)
        if case.close(g(t), y):
            return g
    return None
