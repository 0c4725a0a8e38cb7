"""Every public function of minigrad.functional takes a Tensor, an array, a list or a number
wherever it takes a tensor, and the twins of Tensor's methods are there.

Walked by introspection, as tests/test_attention_api.py walks attention: a new function is
checked the moment it exists, and a parameter name the tables below do not know fails the
test until it is listed.  Oracles: each function's own result for plain ndarrays, which every
other form must reproduce exactly, and NumPy for the twins.
"""
import inspect
import re

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.ops
from array_forms import assert_takes_array_likes, comparable

RNG = np.random.default_rng(0)
TENSOR_INPUTS = {  # parameter name -> an example value; x positive so that log and sqrt have one
    "x": RNG.uniform(0.5, 2.0, (2, 3)), "a": RNG.standard_normal((2, 3)), "b": RNG.standard_normal((2, 3)),
    "where": np.array([[True, False, True], [False, True, True]]), "mask": np.array([True, False, True]),
    "cond": np.array([[True, False, True], [False, True, True]]), "value": np.array(0.5),
    "weight": RNG.standard_normal(3), "bias": RNG.standard_normal(3),
    "logits": RNG.standard_normal((2, 3)), "targets": np.array([2, 0]),
    "pred": RNG.standard_normal((2, 3)), "target": RNG.standard_normal((2, 3)),
    "tensors": [RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3))],
    "operands": [RNG.standard_normal((2, 3)), RNG.standard_normal((4, 3))],
    "q": RNG.standard_normal((2, 3)), "k": RNG.standard_normal((4, 3)),
}
OVERRIDES = {"matmul": {"b": RNG.standard_normal((3, 4))},
             "affine": {"weight": RNG.standard_normal((3, 4)), "bias": RNG.standard_normal(4)},
             "attention_weights": {"where": np.array([[True, False, True, True], [False, False, False, False]])}}
SETTINGS = {  # parameters that are sizes or options: a fixed value where one is required
    "axis": None, "keepdims": None, "eps": None, "shape": (3, 2), "axes": None, "p": None, "training": None,
    "rng": None, "ignore_index": None, "reduction": None, "ddof": None, "subscripts": "ik,jk->ij",
    "scale": None,
}
SETTING_OVERRIDES = {"broadcast_to": {"shape": (4, 2, 3)}}
NOT_WALKED = {"takes_array_likes"}  # a decorator: it takes parameter names, not tensors
OP_NAMES = [name for name in dir(minigrad.ops) if isinstance(getattr(minigrad.ops, name), type)]


def public_functions():
    return sorted((name, fn) for name, fn in vars(F).items()
                  if inspect.isfunction(fn) and fn.__module__ == F.__name__
                  and not name.startswith("_") and name not in NOT_WALKED)


FUNCTIONS = public_functions()
NAMED = re.compile(rf"({'|'.join([name for name, _ in FUNCTIONS] + OP_NAMES)})\b")


def arguments(name, fn):
    """The ndarray call of fn: {parameter: value} and the names of its tensor inputs."""
    args, tensors = {}, []
    for p in inspect.signature(fn).parameters.values():
        known = OVERRIDES.get(name, {}).get(p.name, TENSOR_INPUTS.get(p.name))
        if name == "array_like" and p.name != "x":
            continue  # the caller and parameter names for its error message
        assert known is not None or p.name in SETTINGS, (
            f"F.{name}: parameter {p.name!r} is new; list it in TENSOR_INPUTS (with an example) or SETTINGS")
        if known is not None:
            args[p.name] = known
            tensors.append(p.name)
        elif p.default is inspect.Parameter.empty:
            args[p.name] = SETTING_OVERRIDES.get(name, {}).get(p.name, SETTINGS[p.name])
    return args, tensors


def call(fn, args):
    """fn(**args); for einsum(subscripts, *operands) the arguments go positionally."""
    minigrad.manual_seed(0)  # dropout draws the same mask every call
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        positional = [args[p.name] for p in params if p.kind is not p.VAR_POSITIONAL]
        return comparable(fn(*positional, *args["operands"]))
    return comparable(fn(**args))


def test_the_walk_finds_every_function():
    names = {name for name, _ in FUNCTIONS}
    assert {"softmax", "sum", "cosine_similarity", "einsum", "concatenate", "layer_norm", "cross_entropy",
            "max", "min", "var", "mean"} <= names


@pytest.mark.parametrize("name, fn", FUNCTIONS, ids=[name for name, _ in FUNCTIONS])
def test_every_public_function_takes_tensors_arrays_lists_and_numbers(name, fn):
    args, tensors = arguments(name, fn)
    assert tensors, f"F.{name} has no tensor input the table knows"
    assert_takes_array_likes(lambda given: call(fn, given), args, tensors, NAMED, f"F.{name}")


def test_a_number_takes_the_dtype_numpy_gives_it_beside_the_other_inputs():
    x32 = np.array([0.25, -1.0, 2.0], dtype=np.float32)
    mask = np.array([True, False, True])
    assert F.maximum(x32, 0.5).dtype == np.maximum(x32, 0.5).dtype == np.float32
    assert F.where(mask, x32, 0).dtype == np.where(mask, x32, np.float32(0)).dtype == np.float32
    assert F.masked_fill(x32, mask, -1e9).dtype == np.float32
    assert F.maximum(np.arange(3), 0.5).dtype == np.maximum(np.arange(3), 0.5).dtype  # float64
    assert F.sum(2.5).item() == 2.5


def test_what_is_not_an_array_is_a_clear_error_naming_the_function():
    with pytest.raises(ValueError, match=r"softmax: x must be a Tensor, an array, a list or a number"):
        F.softmax([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match=r"cosine_similarity: b must be .*got dict"):
        F.cosine_similarity([1.0, 2.0], {"a": 1})
    with pytest.raises(ValueError, match=r"stack: tensors must be"):
        F.stack([[1.0, 2.0], [[3.0], [4.0, 5.0]]])


@pytest.mark.parametrize("name", ["max", "min", "var", "mean", "argmax", "argmin"])
def test_the_twins_of_tensor_methods_agree_with_numpy(name):
    x = RNG.standard_normal((3, 4))
    for axis, keepdims in [(None, False), (0, False), (1, True), ((0, 1), False)]:
        if name.startswith("arg") and isinstance(axis, tuple):
            continue  # NumPy's argmax takes one axis
        expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
        got = getattr(F, name)(x.tolist(), axis=axis, keepdims=keepdims)
        np.testing.assert_allclose(got.data, expected, rtol=1e-12, err_msg=f"F.{name}(axis={axis})")
        np.testing.assert_array_equal(got.data, getattr(minigrad.Tensor(x), name)(axis=axis, keepdims=keepdims).data)
    np.testing.assert_allclose(F.var(x, axis=1, ddof=1).data, np.var(x, axis=1, ddof=1), rtol=1e-12)


def test_the_twins_carry_gradients_as_the_methods_do():
    x = minigrad.Tensor([[1.0, 3.0, 3.0], [2.0, -1.0, 0.0]], requires_grad=True)
    F.max(x, axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])  # ties share, by hand
    assert not F.argmax(x, axis=1).requires_grad


AXIS_FUNCTIONS = [(name, fn) for name, fn in FUNCTIONS if "axis" in inspect.signature(fn).parameters]


def test_the_functions_with_an_axis_are_found():
    assert {"softmax", "log_softmax", "cosine_similarity", "sum", "mean", "concatenate"} <= dict(AXIS_FUNCTIONS).keys()


@pytest.mark.parametrize("name, fn", AXIS_FUNCTIONS, ids=[name for name, _ in AXIS_FUNCTIONS])
def test_pytorch_dim_gets_the_hint_naming_axis(name, fn):
    args, _ = arguments(name, fn)
    for pytorch, numpy in [({"dim": 0}, "axis="), ({"dim": 0, "keepdim": True}, "axis= and keepdims=")]:
        with pytest.raises(TypeError, match=rf"^{name}\(\) got dim=.*minigrad follows NumPy, so write {numpy} ") as err:
            call(fn, {**args, **pytorch})
        assert "unexpected keyword" in str(err.value.__cause__)  # the original error stays in the chain


def float32(value):
    """value with its float arrays as float32 (lists of arrays too)."""
    if isinstance(value, list):
        return [float32(v) for v in value]
    return value.astype(np.float32) if isinstance(value, np.ndarray) and value.dtype.kind == "f" else value


@pytest.mark.parametrize("name, fn", FUNCTIONS, ids=[name for name, _ in FUNCTIONS])
def test_float32_inputs_give_float32(name, fn):
    """Settings given as Python numbers (eps, p, the mean's count) never promote a float32 result."""
    args, tensors = arguments(name, fn)
    args = {k: float32(v) if k in tensors else v for k, v in args.items()}
    for result in call(fn, args):
        assert result.dtype.kind != "f" or result.dtype == np.float32, f"F.{name}: float32 inputs gave {result.dtype}"
