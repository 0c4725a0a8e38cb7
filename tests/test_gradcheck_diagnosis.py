"""gradcheck names the slip: classic wrong backwards, each caught and each diagnosed.

Every mutant reuses a real op's forward with one wrong backward rule; its class name
starts with '_' so it stays out of the op registry (and the op sweep)."""
import numpy as np
import pytest

from minigrad import GradcheckError, Tensor, gradcheck, gradgradcheck
from minigrad.gradcheck import random_cotangent
from minigrad.function import Function
from minigrad.nn import Parameter
from minigrad.ops import CosineSimilarity, Exp, LayerNorm, MatMul, Mul, Pow, Relu, Softmax, Tanh


class _SoftmaxSignFlipped(Softmax):
    def backward(self, grad, x, out):
        return -super().backward(grad, x, out)


class _SoftmaxWithoutUpstream(Softmax):
    def backward(self, grad, x, out):
        return out * (1 - out)  # the Jacobian's diagonal, never applied to grad


class _MatMulTransposed(MatMul):
    def backward(self, grad, a, b, out):
        return b @ grad.T, a.T @ grad  # (g bᵀ)ᵀ instead of g bᵀ


class _MatMulDoubled(MatMul):
    def backward(self, grad, a, b, out):
        return grad @ b.T, 2 * (a.T @ grad)


class _TanhFromInput(Tanh):
    def backward(self, grad, x, out):
        return grad * (1 - x * x)


class _TanhWithoutUpstream(Tanh):
    def backward(self, grad, x, out):
        return 1 - out * out


class _ExpFromInput(Exp):
    def backward(self, grad, x, out):
        return grad * x


class _ExpHalved(Exp):
    def backward(self, grad, x, out):
        return grad * out / 2


class _SquareFromOutput(Pow):
    def backward(self, grad, a, b, out):
        return grad * b * out, None  # b a^(b-1) written with out = a^b


class _MulMeanOverBroadcast(Mul):
    def backward(self, grad, a, b, out):
        return grad * b, (grad * a).mean(axis=0)


class _MulFirstCopyOnly(Mul):
    def backward(self, grad, a, b, out):
        return grad * b, (grad * a)[:, :1]


class _LayerNormBiasMean(LayerNorm):
    def backward(self, grad, x, weight, bias, out):
        grad_x, grad_weight, _ = super().backward(grad, x, weight, bias, out)
        return grad_x, grad_weight, grad.mean(axis=0)


class _LayerNormWithoutUpstream(LayerNorm):
    def backward(self, grad, x, weight, bias, out):
        right = super().backward(grad, x, weight, bias, out)
        return (super().backward(np.ones_like(out), x, weight, bias, out)[0],) + right[1:]


class _CosineWithoutUpstream(CosineSimilarity):
    def backward(self, grad, a, b, out):
        return super().backward(np.ones_like(out), a, b, out)[0], super().backward(grad, a, b, out)[1]


class _CosineSignFlipped(CosineSimilarity):
    def backward(self, grad, a, b, out):
        grad_a, grad_b = super().backward(grad, a, b, out)
        return grad_a, -grad_b


def inputs(*shapes, low=-2.0, high=2.0):
    rng = np.random.default_rng(1)
    return [rng.uniform(low, high, shape) for shape in shapes]


MUTANTS = [  # (mutant, input shapes, the input whose gradient is wrong, the slip it must be named)
    (_SoftmaxSignFlipped, [(3, 4)], 0, "sign flipped"),
    (_SoftmaxWithoutUpstream, [(3, 4)], 0, "forgot to multiply by the upstream gradient"),
    (_MatMulTransposed, [(3, 3), (3, 3)], 0, "transposed"),
    (_MatMulDoubled, [(3, 4), (4, 2)], 1, "off by a constant factor: analytic = 2 × numeric"),
    (_TanhFromInput, [(3, 4)], 0, "used the input where the output was meant"),
    (_TanhWithoutUpstream, [(3, 4)], 0, "forgot to multiply by the upstream gradient"),
    (_ExpFromInput, [(3, 4)], 0, "used the input where the output was meant"),
    (_ExpHalved, [(3, 4)], 0, "off by a constant factor: analytic = 1/2 × numeric"),
    (_MulMeanOverBroadcast, [(3, 4), (4,)], 1, "not summed over the broadcast axes (0,) of the output shape (3, 4)"),
    (_MulFirstCopyOnly, [(3, 4), (3, 1)], 1, "not summed over the broadcast axes (1,) of the output shape (3, 4)"),
    (_LayerNormBiasMean, [(3, 4), (4,), (4,)], 2, "not summed over the broadcast axes (0,)"),
    (_LayerNormWithoutUpstream, [(3, 4), (4,), (4,)], 0, "forgot to multiply by the upstream gradient"),
    (_CosineWithoutUpstream, [(3, 4), (3, 4)], 0, "forgot to multiply by the upstream gradient"),
    (_CosineSignFlipped, [(3, 4), (3, 4)], 1, "sign flipped"),
]


def check(mutant, shapes):
    arrays = inputs(*shapes)
    fn = (lambda x: mutant.apply(x, 2.0)) if mutant is _SquareFromOutput else mutant.apply
    with pytest.raises(GradcheckError) as err:
        gradcheck(fn, arrays)
    return str(err.value)


@pytest.mark.parametrize("mutant, shapes, wrong_input, slip", MUTANTS,
                         ids=[mutant.__name__ for mutant, *_ in MUTANTS])
def test_each_wrong_backward_is_caught_and_its_slip_named(mutant, shapes, wrong_input, slip):
    message = check(mutant, shapes)
    assert message.startswith(f"gradcheck: gradient of input {wrong_input} ")
    named = message.splitlines()[-1]
    assert named.startswith("likely slip: ") and slip in named, message


def test_the_mean_and_the_first_copy_are_told_apart():
    assert "numeric / 3, the mean over the 3 copies" in check(_MulMeanOverBroadcast, [(3, 4), (4,)])
    assert "the gradient of the first copy only" in check(_MulFirstCopyOnly, [(3, 4), (3, 1)])


def test_the_output_used_where_the_input_was_meant_is_named():
    message = check(_SquareFromOutput, [(3, 4)])
    assert message.splitlines()[-1].startswith("likely slip: used the output where the input was meant")


def test_a_small_gradient_is_shown_in_full_with_both_values():
    x = inputs((2, 3))[0]
    message = check(_ExpFromInput, [(2, 3)])
    upstream = random_cotangent((2, 3), seed=0)  # gradcheck's cotangent (seed 0)
    rows = message.splitlines()[3:9]  # after the summary, the title and the header
    for row, analytic, numeric in zip(rows, (upstream * x).reshape(-1), (upstream * np.exp(x)).reshape(-1)):
        mark, *_, shown_analytic, shown_numeric = row.split()
        assert mark == "*"
        np.testing.assert_allclose([float(shown_analytic), float(shown_numeric)], [analytic, numeric], rtol=1e-5)


def test_a_large_gradient_shows_only_its_worst_elements():
    message = check(_ExpHalved, [(5, 6)])
    assert "the 5 worst of 30 elements:" in message
    assert len([line for line in message.splitlines() if line.startswith("  * ")]) == 5


def test_a_difference_of_no_known_shape_says_so():
    class _ExpPlusOne(Exp):
        def backward(self, grad, x, out):
            return grad * out + 1

    message = check(_ExpPlusOne, [(3, 4)])
    assert message.splitlines()[-1].startswith("likely slip: none of the common ones")


@pytest.mark.parametrize("op, shapes", [(Softmax, [(3, 4)]), (MatMul, [(3, 3), (3, 3)]), (Tanh, [(3, 4)]),
                                        (Mul, [(3, 4), (4,)]), (LayerNorm, [(3, 4), (4,), (4,)]),
                                        (CosineSimilarity, [(3, 4), (3, 4)])])
def test_the_right_backwards_still_pass(op, shapes):
    assert gradcheck(op.apply, inputs(*shapes))


# ---- gradcheck is not fooled: by a backward writing into what it was handed, by data drawn
# from the cotangent's own stream, by inputs re-wrapped out of their class ----------------

class _ExpDoublesInPlace(Exp):
    def backward(self, grad, x, out):
        grad *= 2  # wrong twice: a factor 2, and written into the caller's array
        return grad * out


class _ReluMasksInPlace(Relu):
    def backward(self, grad, x, out):
        grad[x <= 0] = 0  # the value is right, but the array belongs to the caller
        return grad


class _TanhOverwritesInput(Tanh):
    def backward(self, grad, x, out):
        x[...] = out  # x now holds tanh(x): the numeric side would differentiate elsewhere
        return grad * (1 - x * x)


@pytest.mark.parametrize("fn", [_ExpDoublesInPlace.apply, _ReluMasksInPlace.apply,
                                lambda x: _ReluMasksInPlace.apply(x) + x],
                         ids=["grad*=2", "relu grad[x<=0]=0", "relu(x)+x"])
def test_a_backward_writing_into_grad_is_caught(fn):
    with pytest.raises(GradcheckError, match="wrote into the upstream gradient `grad`"):
        gradcheck(fn, inputs((3, 4)))


def test_a_backward_writing_into_its_input_is_caught():
    with pytest.raises(GradcheckError, match="changed input 0 .* in place"):
        gradcheck(_TanhOverwritesInput.apply, inputs((3, 4)))


def test_data_from_default_rng_0_does_not_hide_a_transposed_matmul():
    # The usual test data: each input drawn as np.random.default_rng(0).standard_normal(...).
    # Were the cotangent drawn the same way, it would equal b, and (g bᵀ)ᵀ = b bᵀ = g bᵀ.
    a, b = (np.random.default_rng(0).standard_normal((3, 3)) for _ in range(2))
    with pytest.raises(GradcheckError, match="likely slip: transposed"):
        gradcheck(_MatMulTransposed.apply, [a, b])
    for seed in (0, 1):  # gradgradcheck uses seed + 1
        assert not np.allclose(random_cotangent((3, 3), seed), np.random.default_rng(seed).standard_normal((3, 3)))


class _SquareForgetsSubclasses(Function):
    """x², whose backward records a graph only for exact Tensors, as a type(x) is Tensor test
    would: with a Tensor subclass its second derivative is lost."""
    def forward(self, x):
        return x * x

    def backward(self, grad, x, out):
        two_x = 2 * x if type(x) is Tensor else 2 * np.asarray(x.data if isinstance(x, Tensor) else x)
        return grad * two_x


def test_gradgradcheck_keeps_the_input_class():
    x = inputs((3,))[0]
    assert gradgradcheck(_SquareForgetsSubclasses.apply, [Tensor(x)])  # right for plain Tensors
    with pytest.raises(GradcheckError, match="second order"):
        gradgradcheck(_SquareForgetsSubclasses.apply, [Parameter(x)])
    seen = []
    gradcheck(lambda t: seen.append(type(t)) or t * t, [Parameter(np.float32(x))])
    assert set(seen) == {Parameter}
