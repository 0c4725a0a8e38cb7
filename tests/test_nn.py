"""minigrad.nn and the network functions of minigrad.functional: module bookkeeping, every
layer against finite differences and NumPy, losses against NumPy formulas, saving and
loading, reproducibility, and the errors bad input gets."""
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import Tensor, gradcheck, gradgradcheck, nn


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


class Block(nn.Module):
    def __init__(self, rng):
        self.norm = nn.LayerNorm(4)
        self.layers = [nn.Linear(4, 4, rng=rng), nn.GELU()]

    def forward(self, x):
        return self.layers[1](self.layers[0](self.norm(x)))


class Net(nn.Module):
    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.embed = nn.Embedding(10, 4, rng=rng)
        self.blocks = nn.ModuleList([Block(rng), Block(rng)])
        self.head = nn.Sequential(nn.Dropout(0.1, rng=rng), nn.Linear(4, 3, bias=False, rng=rng))

    def forward(self, ids):
        x = self.embed(ids)
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


# ---- module bookkeeping ----------------------------------------------------------------

def test_named_parameters_have_dotted_names_in_definition_order():
    names = [name for name, _ in Net().named_parameters()]
    assert names == ["embed.weight",
                     "blocks.0.norm.weight", "blocks.0.norm.bias", "blocks.0.layers.0.weight", "blocks.0.layers.0.bias",
                     "blocks.1.norm.weight", "blocks.1.norm.bias", "blocks.1.layers.0.weight", "blocks.1.layers.0.bias",
                     "head.1.weight"]


def test_parameters_are_a_list_of_parameters_and_shared_ones_count_once():
    class Tied(nn.Module):
        def __init__(self):
            self.a = nn.Linear(3, 3)
            self.b = self.a  # the same layer twice (weight tying)
            self.scales = [nn.Parameter(np.ones(3)), nn.Parameter(np.zeros(3))]

    params = Tied().parameters()
    assert isinstance(params, list) and len(params) == 4
    assert all(isinstance(p, nn.Parameter) and isinstance(p, Tensor) and p.requires_grad for p in params)
    assert [n for n, _ in Tied().named_parameters()] == ["a.weight", "a.bias", "scales.0", "scales.1"]


def test_repr_is_nested_like_pytorch():
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Sequential(nn.Dropout(0.25), nn.Linear(8, 1, bias=False)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Dropout(p=0.25)\n"
        "    (1): Linear(in_features=8, out_features=1, bias=False)\n"
        "  )\n"
        ")")
    assert repr(nn.Embedding(10, 4)) == "Embedding(10, 4)"
    block = type("Block", (nn.Module,), {"extra_repr": lambda self: "causal=True"})()
    block.norm = nn.LayerNorm(4)
    assert repr(block) == "Block(\n  causal=True\n  (norm): LayerNorm(4, eps=1e-05)\n)"
    assert repr(nn.LayerNorm(4)) == "LayerNorm(4, eps=1e-05)"


def test_train_and_eval_reach_every_submodule():
    model = Net()
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules()) and len(model.modules()) == 14


def test_zero_grad_clears_every_gradient():
    model = Net()
    model(np.array([[1, 2, 3]])).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_a_module_without_forward_says_so():
    with pytest.raises(NotImplementedError, match="Empty must define forward"):
        type("Empty", (nn.Module,), {})()(1.0)


# ---- every layer against finite differences (input and parameters) ---------------------

def check_layer(layer, *inputs, second_order=False):
    """gradcheck layer(*inputs) with respect to its float inputs and all its parameters.

    gradcheck feeds fresh float64 copies, so each call puts the copies in the parameters' places."""
    named = layer.named_parameters()
    modules = dict(layer.named_modules())
    owners = [(modules[name.rpartition(".")[0]], name.rpartition(".")[2]) for name, _ in named]

    def fn(*tensors):
        for (owner, attr), t in zip(owners, tensors[len(inputs):]):
            setattr(owner, attr, t)
        return layer(*tensors[:len(inputs)])

    try:
        assert gradcheck(fn, list(inputs) + [p for _, p in named])
        if second_order:
            assert gradgradcheck(fn, list(inputs) + [p for _, p in named])
    finally:
        for (owner, attr), (_, p) in zip(owners, named):
            setattr(owner, attr, p)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients(bias):
    check_layer(nn.Linear(4, 3, bias=bias), Tensor(randn(2, 5, 4), requires_grad=True))


def test_embedding_gradients_add_up_for_repeated_ids():
    check_layer(nn.Embedding(6, 3), np.array([[0, 2, 2], [5, 0, 2]]))


def test_layer_norm_gradients_first_and_second_order():
    layer = nn.LayerNorm(5)
    layer.weight.data[...] = randn(5, seed=1)  # not ones/zeros: a wrong rule could hide there
    layer.bias.data[...] = randn(5, seed=2)
    check_layer(layer, Tensor(randn(2, 3, 5), requires_grad=True), second_order=True)


def test_dropout_gradients_with_a_fixed_mask():
    layer = nn.Dropout(0.4)

    def fn(x):
        layer.rng = np.random.default_rng(7)  # the same mask at every evaluation
        return layer(x)

    assert gradcheck(fn, [Tensor(randn(3, 4), requires_grad=True)])


@pytest.mark.parametrize("activation", [nn.ReLU, nn.GELU, nn.Tanh])
def test_mlp_gradients_through_each_activation(activation):
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Linear(3, 5, rng=rng), activation(), nn.LayerNorm(5), nn.Linear(5, 2, rng=rng))
    check_layer(model, Tensor(randn(4, 3), requires_grad=True), second_order=activation is not nn.ReLU)


# ---- layers against NumPy --------------------------------------------------------------

def test_linear_is_x_at_weight_plus_bias_with_pytorch_init_range():
    layer = nn.Linear(100, 300, rng=np.random.default_rng(0))
    assert layer.weight.shape == (100, 300) and layer.bias.shape == (300,)
    x = randn(7, 100)
    np.testing.assert_allclose(layer(x).data, x @ layer.weight.data + layer.bias.data, rtol=1e-12)
    bound = 1 / math.sqrt(100)
    w = layer.weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)  # uniform(-a, a) has std a/√3


def test_float32_layers_stay_float32():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float32, rng=rng), nn.GELU(), nn.LayerNorm(4, dtype=np.float32),
                          nn.Dropout(0.5, rng=rng))
    out = model(randn(2, 3).astype(np.float32))
    assert out.dtype == np.float32
    out.sum().backward()
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())
    embed = nn.Embedding(5, 2, dtype=np.float32)
    assert embed(np.array([1, 4])).dtype == np.float32


def test_embedding_looks_rows_up():
    layer = nn.Embedding(5, 3)
    ids = np.array([[4, 0], [1, 1]])
    out = layer(ids)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.data[1, 0], layer.weight.data[1])
    np.testing.assert_array_equal(out.data[0, 0], layer.weight.data[4])


def test_layer_norm_normalises_and_survives_a_large_offset():
    x = 1e8 + randn(3, 16)  # E[x²] - E[x]² would lose every digit here
    centred = x - 1e8
    expected = (centred - centred.mean(-1, keepdims=True)) / np.sqrt(centred.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(nn.LayerNorm(16)(x).data, expected, atol=1e-6)
    w, b = randn(16, seed=1), randn(16, seed=2)
    np.testing.assert_allclose(F.layer_norm(centred, w, b).data, expected * w + b, atol=1e-12)


def test_gelu_is_within_1e3_of_the_exact_erf_form():
    x = np.linspace(-6, 6, 1201)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(nn.GELU()(x).data, exact, atol=1e-3)
    # the tanh form itself, at a hand-computed point: 0.5 (1 + tanh(√(2/π) 1.044715)) = 0.841192
    np.testing.assert_allclose(F.gelu(np.array(1.0)).item(), 0.841192, atol=1e-6)


def test_activation_modules_match_numpy():
    x = randn(3, 4)
    np.testing.assert_allclose(nn.ReLU()(x).data, np.maximum(x, 0))
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x))


# ---- dropout ---------------------------------------------------------------------------

def test_dropout_keeps_the_expectation_and_drops_a_fraction_p():
    p, n = 0.3, 200_000
    out = F.dropout(np.ones(n), p, rng=np.random.default_rng(0)).data
    assert set(np.unique(out)) == {0.0, 1 / (1 - p)}
    # Each element has mean 1 and variance p / (1 - p): the mean of n is 1 ± 0.0015 (1 sd).
    assert abs(out.mean() - 1.0) < 0.01
    assert abs((out == 0).mean() - p) < 0.01


def test_dropout_is_identity_in_eval_and_at_p_zero():
    x = Tensor(randn(4, 5), requires_grad=True)
    layer = nn.Dropout(0.5).eval()
    assert layer(x) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.9, training=False) is x


def test_dropout_gradient_is_the_scaled_mask():
    x = Tensor(randn(50), requires_grad=True)
    out = F.dropout(x, 0.5, rng=np.random.default_rng(1))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.where(out.data != 0, 2.0, 0.0))


# ---- losses ------------------------------------------------------------------------------

def numpy_cross_entropy(logits, targets):
    """-log softmax(logits)[target], one row at a time."""
    rows, flat = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    return np.array([-(row[t] - np.log(np.sum(np.exp(row)))) for row, t in zip(rows, flat)]).reshape(targets.shape)


def test_cross_entropy_matches_minus_log_softmax_of_the_target():
    logits, targets = randn(2, 3, 5), np.array([[0, 4, 2], [1, 1, 3]])
    per_row = numpy_cross_entropy(logits, targets)
    np.testing.assert_allclose(F.cross_entropy(logits, targets, reduction="none").data, per_row, rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(logits, targets).item(), per_row.mean(), rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(logits, targets, reduction="sum").item(), per_row.sum(), rtol=1e-12)


def test_cross_entropy_mean_skips_ignored_targets():
    logits, targets = randn(5, 4), np.array([1, -1, 3, -1, 0])
    kept = targets != -1
    expected = numpy_cross_entropy(logits[kept], targets[kept]).mean()  # mean over the 3 kept rows, not 5
    loss = F.cross_entropy(Tensor(logits, requires_grad=True), targets, ignore_index=-1)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    x = Tensor(logits, requires_grad=True)
    F.cross_entropy(x, targets, ignore_index=-1).backward()
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected_grad = (probs - np.eye(4)[np.where(kept, targets, 0)]) * kept[:, None] / 3
    np.testing.assert_allclose(x.grad.data, expected_grad, rtol=1e-10, atol=1e-15)
    with pytest.raises(ValueError, match="every target ignored"):
        F.cross_entropy(logits, np.full(5, -1), ignore_index=-1)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [-5000.0, 5000.0, 0.0]])
    loss = F.cross_entropy(logits, np.array([0, 2]), reduction="none").data
    np.testing.assert_allclose(loss, [0.0, 5000.0], atol=1e-9)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_gradients(reduction):
    logits, targets = Tensor(randn(3, 4), requires_grad=True), np.array([2, 0, 2])
    assert gradgradcheck(lambda z: F.cross_entropy(z, targets, ignore_index=0, reduction=reduction), [logits])
    target = randn(3, 4, seed=1)
    assert gradcheck(lambda p: F.mse_loss(p, target, reduction=reduction), [Tensor(randn(3, 4), requires_grad=True)])


def test_mse_loss_matches_numpy():
    pred, target = randn(4, 3), randn(4, 3, seed=1)
    np.testing.assert_allclose(F.mse_loss(pred, target).item(), np.mean((pred - target) ** 2), rtol=1e-12)
    np.testing.assert_allclose(F.mse_loss(pred, target, reduction="sum").item(), np.sum((pred - target) ** 2))
    np.testing.assert_allclose(F.mse_loss(pred, target, reduction="none").data, (pred - target) ** 2)


# ---- saving and loading ------------------------------------------------------------------

def test_state_dict_round_trip_gives_identical_outputs():
    a, b = Net(seed=0).eval(), Net(seed=1).eval()
    ids = np.array([[1, 5, 9], [0, 0, 3]])
    assert not np.allclose(a(ids).data, b(ids).data)
    state = a.state_dict()
    b.load_state_dict(state)
    np.testing.assert_array_equal(a(ids).data, b(ids).data)
    state["embed.weight"][...] = 0  # a copy: changing it leaves the model alone
    assert np.abs(a.embed.weight.data).sum() > 0


def test_save_and_load_round_trip(tmp_path):
    a, b = Net(seed=0).eval(), Net(seed=1).eval()
    ids = np.array([[2, 4, 6]])
    a.save(tmp_path / "net")  # written as net.npz
    assert (tmp_path / "net.npz").exists()
    assert b.load(tmp_path / "net") is b
    np.testing.assert_array_equal(a(ids).data, b(ids).data)


def test_loading_into_float32_keeps_float32():
    small = nn.Linear(2, 3, dtype=np.float32)
    small.load_state_dict(nn.Linear(2, 3).state_dict())
    assert small.weight.dtype == np.float32


def test_loading_a_mismatched_state_dict_names_each_problem_and_changes_nothing():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    before = model.state_dict()
    state = nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2)).state_dict()
    with pytest.raises(RuntimeError, match=r"shape mismatch for '1.weight': the state has shape \(5, 2\), "
                                           r"the parameter in Sequential has shape \(4, 2\)"):
        model.load_state_dict(state)
    del state["1.weight"]
    state["extra"] = np.zeros(2)
    with pytest.raises(RuntimeError, match=r"missing key '1.weight' \(shape \(4, 2\)\); unexpected key 'extra'"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


# ---- reproducibility ---------------------------------------------------------------------

def test_manual_seed_fixes_initialisation_and_dropout():
    def draw():
        layer, drop = nn.Linear(3, 3), nn.Dropout(0.5)
        return layer.weight.data, drop(np.ones(20)).data

    minigrad.manual_seed(123)
    w1, mask1 = draw()
    minigrad.manual_seed(123)
    w2, mask2 = draw()
    w3, mask3 = draw()  # the generator has moved on
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(mask1, mask2)
    assert not np.array_equal(w1, w3)


def test_an_explicit_generator_leaves_the_default_untouched():
    minigrad.manual_seed(5)
    expected = minigrad.random.default_generator().random(3)
    minigrad.manual_seed(5)
    nn.Linear(4, 4, rng=np.random.default_rng(0))
    nn.Dropout(0.5, rng=np.random.default_rng(0))(np.ones(10))
    np.testing.assert_array_equal(minigrad.random.default_generator().random(3), expected)


# ---- bad input -----------------------------------------------------------------------------

def test_linear_rejects_the_wrong_input_width():
    with pytest.raises(ValueError, match=r"Linear\(in_features=3, out_features=2, bias=True\): input has shape "
                                         r"\(4, 5\), expected \(\.\.\., 3\)"):
        nn.Linear(3, 2)(randn(4, 5))


def test_embedding_rejects_float_and_out_of_range_ids():
    layer = nn.Embedding(10, 4)
    with pytest.raises(TypeError, match=r"Embedding\(10, 4\): ids must be integers, "
                                        r"got dtype float64 \(shape \(2,\)\)"):
        layer(np.array([1.0, 2.0]))
    with pytest.raises(IndexError, match=r"Embedding\(10, 4\): id 10 is out of range \[0, 10\) \(ids shape \(2, 2\)\)"):
        layer(np.array([[1, 2], [10, 3]]))
    with pytest.raises(IndexError, match="id -1 is out of range"):
        layer(np.array([-1]))  # NumPy would silently take the last row


def test_layer_norm_rejects_the_wrong_width():
    with pytest.raises(ValueError, match=r"LayerNorm\(4, eps=1e-05\): input has shape \(2, 5\), "
                                         r"expected \(\.\.\., 4\)"):
        nn.LayerNorm(4)(randn(2, 5))
    with pytest.raises(ValueError, match=r"layer_norm: weight has shape \(5,\) but x has shape \(2, 4\)"):
        F.layer_norm(randn(2, 4), np.ones(5))


def test_cross_entropy_rejects_bad_targets():
    logits = randn(4, 3)
    with pytest.raises(ValueError, match=r"targets have shape \(4, 1\) but logits have shape \(4, 3\); "
                                         r"expected targets of shape \(4,\)"):
        F.cross_entropy(logits, np.zeros((4, 1), int))
    with pytest.raises(IndexError, match=r"target 3 is out of range for 3 classes \(logits shape \(4, 3\)\)"):
        F.cross_entropy(logits, np.array([0, 1, 3, 2]))
    with pytest.raises(IndexError, match="target -1 is out of range"):
        F.cross_entropy(logits, np.array([0, -1, 2, 2]))
    with pytest.raises(TypeError, match="targets must be integer class indices, got dtype float64"):
        F.cross_entropy(logits, np.array([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(logits, np.array([0, 1, 2, 0]), reduction="avg")


def test_other_bad_settings_are_named():
    with pytest.raises(ValueError, match=r"mse_loss: pred has shape \(3, 1\) but target has shape \(3,\)"):
        F.mse_loss(randn(3, 1), randn(3))
    with pytest.raises(ValueError, match=r"dropout: p .* must be in \[0, 1\), got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match=r"dropout: p .* got -0.1"):
        F.dropout(randn(3), -0.1)
    with pytest.raises(TypeError, match="Linear: dtype must be a floating-point type"):
        nn.Linear(2, 2, dtype=np.int64)
    with pytest.raises(TypeError, match="Linear: rng must be a np.random.Generator"):
        nn.Linear(2, 2, rng=0)
