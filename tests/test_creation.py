"""Factories: minigrad.tensor, zeros, ones, full, *_like, arange, linspace, rand, randn, against NumPy."""
import importlib

import numpy as np
import pytest

import minigrad
from minigrad import Tensor


def same(t, expected):
    """t is a leaf Tensor holding exactly `expected`, dtype included."""
    assert isinstance(t, Tensor) and t.is_leaf
    assert t.dtype == expected.dtype, (t.dtype, expected.dtype)
    np.testing.assert_array_equal(t.data, expected)


@pytest.mark.parametrize("make, oracle", [
    (lambda: minigrad.tensor([1.0, 2.0]), np.array([1.0, 2.0])),
    (lambda: minigrad.tensor([[1, 2], [3, 4]]), np.array([[1, 2], [3, 4]])),
    (lambda: minigrad.tensor(3.5, dtype=np.float32), np.array(3.5, dtype=np.float32)),
    (lambda: minigrad.zeros(2, 3), np.zeros((2, 3))),
    (lambda: minigrad.zeros((2, 3)), np.zeros((2, 3))),
    (lambda: minigrad.zeros([4]), np.zeros(4)),
    (lambda: minigrad.zeros(()), np.zeros(())),
    (lambda: minigrad.zeros(0, 3), np.zeros((0, 3))),
    (lambda: minigrad.ones(3, dtype=np.float32), np.ones(3, dtype=np.float32)),
    (lambda: minigrad.ones(2, 2, dtype="int32"), np.ones((2, 2), dtype=np.int32)),
    (lambda: minigrad.full((2, 3), 7), np.full((2, 3), 7)),
    (lambda: minigrad.full(3, 0.5), np.full(3, 0.5)),
    (lambda: minigrad.full(3, 2, dtype=np.float32), np.full(3, 2, dtype=np.float32)),
    (lambda: minigrad.zeros_like(np.ones((2, 5), dtype=np.float32)), np.zeros((2, 5), dtype=np.float32)),
    (lambda: minigrad.zeros_like(minigrad.arange(4)), np.zeros(4, dtype=np.arange(4).dtype)),
    (lambda: minigrad.ones_like(Tensor(np.zeros((3, 1)))), np.ones((3, 1))),
    (lambda: minigrad.ones_like(Tensor([1, 2]), dtype=np.float64), np.ones(2)),
    (lambda: minigrad.arange(5), np.arange(5)),
    (lambda: minigrad.arange(2, 11, 3), np.arange(2, 11, 3)),
    (lambda: minigrad.arange(0.0, 1.0, 0.25), np.arange(0.0, 1.0, 0.25)),
    (lambda: minigrad.arange(5, 0, -1), np.arange(5, 0, -1)),
    (lambda: minigrad.arange(4, dtype=np.float32), np.arange(4, dtype=np.float32)),
    (lambda: minigrad.linspace(0, 1, 5), np.linspace(0, 1, 5)),
    (lambda: minigrad.linspace(-2, 2), np.linspace(-2, 2)),
    (lambda: minigrad.linspace(0, 1, 3, dtype=np.float32), np.linspace(0, 1, 3, dtype=np.float32)),
])
def test_factories_match_numpy(make, oracle):
    same(make(), oracle)


def test_tensor_copies_its_data():
    data = np.zeros(3)
    t = minigrad.tensor(data)
    data[0] = 1.0
    assert t.data[0] == 0.0


@pytest.mark.parametrize("make", [
    lambda: minigrad.tensor([1.0, 2.0], requires_grad=True),
    lambda: minigrad.zeros(2, 3, requires_grad=True),
    lambda: minigrad.ones(3, dtype=np.float32, requires_grad=True),
    lambda: minigrad.full(3, 1.5, requires_grad=True),
    lambda: minigrad.zeros_like(np.ones(2), requires_grad=True),
    lambda: minigrad.ones_like(np.ones(2), requires_grad=True),
    lambda: minigrad.arange(0.0, 3.0, requires_grad=True),
    lambda: minigrad.linspace(0, 1, 4, requires_grad=True),
    lambda: minigrad.rand(3, requires_grad=True),
    lambda: minigrad.randn(2, 2, requires_grad=True),
])
def test_requires_grad_makes_a_leaf_that_backward_reaches(make):
    t = make()
    assert t.requires_grad and t.is_leaf
    (t * t).sum().backward()
    np.testing.assert_allclose(t.grad.data, 2 * t.data)


@pytest.mark.parametrize("make, name", [
    (lambda: minigrad.arange(5, requires_grad=True), "arange"),
    (lambda: minigrad.full(3, 7, requires_grad=True), "full"),
    (lambda: minigrad.zeros(2, dtype=np.int64, requires_grad=True), "zeros"),
    (lambda: minigrad.ones_like(np.arange(3), requires_grad=True), "ones_like"),
])
def test_integer_tensors_cannot_require_grad_and_the_error_names_the_factory(make, name):
    with pytest.raises(TypeError, match=f"{name}: only floating-point.*int64"):
        make()


@pytest.mark.parametrize("make, error, message", [
    (lambda: minigrad.zeros(2.5), TypeError, r"zeros: sizes must be ints.*zeros\(2, 3\)"),
    (lambda: minigrad.ones(2, -1), ValueError, r"ones: sizes must be >= 0, got \(2, -1\)"),
    (lambda: minigrad.randn("3"), TypeError, "randn: sizes must be ints"),
    (lambda: minigrad.zeros(3, dtype="float99"), TypeError, "zeros: dtype must be a NumPy dtype"),
    (lambda: minigrad.randn(3, dtype=np.int64), TypeError, "randn: samples are floating point"),
    (lambda: minigrad.arange(0, 5, 0), ValueError, "arange: step must not be 0"),
    (lambda: minigrad.linspace(0, 1, 2.5), TypeError, "linspace: num"),
    (lambda: minigrad.rand(3, rng=0), TypeError, "rand: rng must be a np.random.Generator"),
])
def test_bad_arguments_get_an_error_naming_the_factory(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_randn_and_rand_draw_from_the_seeded_default_generator():
    minigrad.manual_seed(7)
    a, u = minigrad.randn(3, 4), minigrad.rand(5)
    oracle = np.random.default_rng(7)                  # the same stream, drawn with NumPy
    same(a, oracle.standard_normal((3, 4)))
    same(u, oracle.random(5))
    minigrad.manual_seed(7)
    np.testing.assert_array_equal(minigrad.randn((3, 4)).data, a.data)   # reproducible


def test_random_factories_with_their_own_rng_leave_the_default_alone():
    minigrad.manual_seed(1)
    expected = np.random.default_rng(1).standard_normal(2)
    same(minigrad.randn(3, rng=np.random.default_rng(5)), np.random.default_rng(5).standard_normal(3))
    same(minigrad.randn(2), expected)


def test_float32_samples_are_the_float64_draws_rounded():
    minigrad.manual_seed(3)
    same(minigrad.randn(4, dtype=np.float32), np.random.default_rng(3).standard_normal(4).astype(np.float32))
    u = minigrad.rand(1000, dtype=np.float32)
    assert u.data.min() >= 0.0 and u.data.max() < 1.0


def test_minigrad_tensor_is_the_factory_and_the_module_stays_importable():
    from minigrad.tensor import Tensor as FromModule, unwrap  # the module, read by from-import

    module = importlib.import_module("minigrad.tensor")
    assert FromModule is Tensor and module.Tensor is Tensor and module.unwrap is unwrap
    assert module.__name__ == "minigrad.tensor" and type(module).__name__ == "module"
    same(minigrad.tensor([1, 2]), np.array([1, 2]))  # as torch.tensor


def test_star_import_gives_the_factories():
    names = {}
    exec("from minigrad import *", names)
    for name in ["tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "arange", "linspace",
                 "rand", "randn"]:
        assert callable(names[name]), name
