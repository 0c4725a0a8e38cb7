"""What a student's PyTorch and NumPy habits meet: each works as they expect, or gets one clear
line naming minigrad's way (never a bare AttributeError or TypeError from deep inside)."""
import re
from pathlib import Path

import numpy as np
import pytest

import minigrad.functional as F
from minigrad import Tensor, nn, no_grad, ops, optim
from minigrad.ops import Function


def test_a_one_element_tensor_formats_like_its_number():
    loss = (Tensor([0.5, 0.25], requires_grad=True) * 2).sum()
    assert f"{loss:.3f}" == f"{1.5:.3f}" == "1.500"
    assert f"{Tensor([[2.0]]):>6.1f}" == "   2.0"                      # any one-element shape, any spec
    assert f"{Tensor(3, dtype=np.int64):03d}" == "003"
    assert f"{loss}" == str(loss)                                   # no spec: as print shows it
    with pytest.raises(TypeError, match=r"format: only a one-element tensor .*'\.3f'.*shape \(2,\)"):
        f"{Tensor([1.0, 2.0]):.3f}"


@pytest.mark.parametrize("call, hint", [
    (lambda x: x.cuda(), r"Tensor.cuda\(\) is PyTorch's; minigrad runs on the CPU only"),
    (lambda x: x.pow(2), r"Tensor.pow\(\) .* use x \*\* exponent"),
    (lambda x: x.clamp(min=0), r"Tensor.clamp\(\) .* F.maximum\(x, min\) .*F.relu"),
    (lambda x: x.std(), r"Tensor.std\(\) .* x.var\(axis=...\) \*\* 0.5"),
    (lambda x: x.detach_(), r"Tensor.detach_\(\) .* x = x.detach\(\)"),
])
def test_pytorch_tensor_methods_name_minigrads_way(call, hint):
    with pytest.raises(TypeError, match=hint):
        call(Tensor([1.0, -2.0], requires_grad=True))


def test_the_hinted_ways_compute_what_pytorch_computes():
    x = Tensor([1.0, -2.0, 3.0])
    np.testing.assert_array_equal((x ** 2).data, [1.0, 4.0, 9.0])
    np.testing.assert_array_equal(F.maximum(x, 0).data, np.clip(x.data, 0, None))
    np.testing.assert_allclose((x.var(ddof=1) ** 0.5).data, np.std(x.data, ddof=1))


@pytest.mark.parametrize("module, name, hint", [
    (nn, "CrossEntropyLoss", r"minigrad.nn has no CrossEntropyLoss, PyTorch's name; use F.cross_entropy"),
    (nn, "MSELoss", r"use F.mse_loss\(pred, target\)"),
    (nn, "utils", r"use minigrad.optim.clip_grad_norm_"),
    (optim, "lr_scheduler", r"use minigrad.optim.WarmupCosine\(optimizer, warmup_steps, total_steps\)"),
])
def test_pytorch_module_names_name_minigrads_way(module, name, hint):
    with pytest.raises(AttributeError, match=hint):
        getattr(module, name)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        getattr(module, "no_such_thing")
    assert not hasattr(module, name)                                  # hasattr still answers False


def test_zero_grad_set_to_none_false_zeroes_in_place_as_pytorch():
    layer = nn.Linear(2, 3, rng=np.random.default_rng(0))
    opt = optim.SGD(layer.parameters(), lr=0.1)
    layer(Tensor(np.ones((4, 2)))).sum().backward()
    grads = [p.grad for p in layer.parameters()]
    opt.zero_grad(set_to_none=False)
    assert [p.grad for p in layer.parameters()] == grads               # the same tensors, now zero
    assert all(not g.data.any() for g in grads)
    layer(Tensor(np.ones((4, 2)))).sum().backward()                      # accumulates into them as usual
    np.testing.assert_array_equal(layer.bias.grad.data, np.full(3, 4.0))
    grads = [p.grad for p in layer.parameters()]
    layer.zero_grad(set_to_none=False)
    assert layer.bias.grad is grads[1] and not layer.bias.grad.data.any()
    layer.zero_grad()
    opt.zero_grad()
    assert all(p.grad is None for p in layer.parameters())


def test_layer_norm_takes_a_tuple_of_trailing_dims_as_pytorch():
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    one = nn.LayerNorm((4,))
    np.testing.assert_allclose(one(Tensor(x)).data, nn.LayerNorm(4)(Tensor(x)).data)
    two = nn.LayerNorm((3, 4))
    assert two.weight.shape == (3, 4) and two.bias.shape == (3, 4)
    with no_grad():
        two.weight.data[...] = np.arange(12.0).reshape(3, 4)
        two.bias.data[...] = 0.5
    by_numpy = (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(x.var(axis=(1, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(two(Tensor(x)).data, by_numpy * np.arange(12.0).reshape(3, 4) + 0.5, atol=1e-12)
    xt = Tensor(x, requires_grad=True)
    two(xt).sum().backward()
    assert xt.grad.shape == x.shape and two.weight.grad.shape == (3, 4)
    with pytest.raises(ValueError, match=r"LayerNorm\(\(3, 4\).*input has shape \(2, 4, 3\), expected \(\.\.\., 3, 4\)"):
        two(Tensor(x.reshape(2, 4, 3)))
    with pytest.raises(ValueError, match=r"LayerNorm: dim must be a positive int or a tuple of them"):
        nn.LayerNorm((4, 0))


def test_item_assignment_to_a_leaf_in_a_graph_suggests_where_or_masked_fill():
    y = Tensor([1.0, -2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"item assignment: .*leaf .*F\.where\(mask, value, y\).*F\.masked_fill"):
        y[y < 0] = 0
    with pytest.raises(RuntimeError, match=r"fill_: .*leaf .*`y = minigrad\.full\(y\.shape, value\)`"):
        y.fill_(1)
    np.testing.assert_array_equal(F.masked_fill(y, y < 0, 0).data, [1.0, 0.0])


class _SineWithNumpyCos(Function):
    """sin(x), whose backward calls np.cos: under create_graph that needs np.cos mapped to an op.
    (If the project maps np.cos one day, this test needs a function no one maps.)"""

    def forward(self, x):
        return np.sin(x)

    def backward(self, grad, x, out):
        return grad * np.cos(x)


def test_a_backward_calling_an_unmapped_numpy_function_points_to_the_numpy_tables():
    x = Tensor([0.5, 1.0], requires_grad=True)
    _SineWithNumpyCos.apply(x).sum().backward()                        # plain backward: arrays, fine
    np.testing.assert_allclose(x.grad.data, np.cos([0.5, 1.0]))
    with pytest.raises(TypeError, match=r"np\.cos .*docs/EXTENDING\.md, 'The NumPy tables'") as err:
        _SineWithNumpyCos.apply(x).sum().backward(create_graph=True)
    assert "use minigrad.functional" not in str(err.value)              # it has no cos: not the advice
    guide = (Path(__file__).parents[1] / "docs" / "EXTENDING.md").read_text(encoding="utf-8")
    assert re.search(r"^#+ The NumPy tables", guide, re.M)              # the section the message names


def test_old_style_op_calls_name_apply():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"Exp\(\)\(x\) calls an op object; in minigrad write Exp\.apply\(x\)"):
        ops.Exp()(x)


def test_an_op_with_its_own_init_taking_settings_is_refused_where_it_is_written():
    with pytest.raises(TypeError, match=r"Scale defines __init__ with arguments.*settings go to apply as "
                                        r"keywords, e.g. Scale\.apply\(x, k=2\)"):
        class Scale(Function):                   # (refused before it is registered)
            def __init__(self, k):
                self.k = k

            def forward(self, x):
                return self.k * x

    class _Counted(Function):                    # an __init__ that needs nothing is the student's own business
        def __init__(self, calls=0):
            self.calls = calls

        def forward(self, x):
            return x

        def backward(self, grad, x, out):
            return grad
    np.testing.assert_array_equal(_Counted.apply(Tensor([1.0])).data, [1.0])  # (_Names stay out of the sweep)


def test_affine_names_the_shapes_and_pytorchs_transposed_weight():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"Affine: .*got x \(2, 3\) and weight \(4, 3\); PyTorch's F.linear "
                                         r"takes weight as \(N, K\): pass its transpose"):
        F.affine(x, np.ones((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match=r"Affine: .*2-D weight .*got x \(2, 3\) and weight \(3,\)"):
        F.affine(x, np.ones(3))
    with pytest.raises(ValueError, match=r"Affine: bias must have shape \(N,\) = \(4,\).*got \(2, 4\)"):
        F.affine(x, np.ones((3, 4)), np.zeros((2, 4)))
    np.testing.assert_allclose(F.affine(x, np.ones((3, 4)), np.arange(4.0)).data,
                               np.ones((2, 3)) @ np.ones((3, 4)) + np.arange(4.0))  # NumPy's own answer


def test_attention_weights_name_the_shapes_and_what_was_expected():
    q, k = np.ones((2, 3, 4)), np.ones((2, 5, 4))
    with pytest.raises(ValueError, match=r"AttentionWeights: .*same width Dh, got q \(2, 3, 4\) and k \(2, 5, 3\)"):
        F.attention_weights(q, np.ones((2, 5, 3)))
    with pytest.raises(ValueError, match=r"AttentionWeights: .*at least 2 dimensions.*q \(4,\)"):
        F.attention_weights(np.ones(4), k)
    with pytest.raises(ValueError, match=r"AttentionWeights: where of shape \(3, 3\) does not broadcast to the "
                                         r"weights' shape \(2, 3, 5\)"):
        F.attention_weights(q, k, where=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match=r"where of shape \(4, 3, 5\) does not broadcast .*\(2, 3, 5\)"):
        F.attention_weights(q, k, where=np.ones((4, 3, 5), bool))  # would make the weights larger
    with pytest.raises(TypeError, match=r"attention_weights: where must be boolean .*float64"):
        F.attention_weights(q, k, where=np.ones((3, 5)))
