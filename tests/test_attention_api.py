"""The attention package's public face: no private name crosses a module boundary, and
every public function and layer takes a Tensor, an array, a list or a number alike.

Oracles: the source itself, read with `ast` (a `from module import _name` or a
`module._name` of another module is what a reader cannot find documented anywhere), and
each function's own result for plain ndarrays, which every other form must reproduce exactly.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER_FILES = sorted((ROOT / "attention").glob("*.py")) + sorted((ROOT / "minigrad").rglob("*.py"))  # the engine too


def private_names_used_from_other_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    found = [f"from {node.module} import {alias.name}" for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) for alias in node.names
             if alias.name.startswith("_") and not alias.name.startswith("__")]
    found += [f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in modules and node.attr.startswith("_") and not node.attr.startswith("__")]
    return found


def test_layers_and_attention_use_only_public_names_of_other_modules():
    offenders = {path.relative_to(ROOT).as_posix(): private_names_used_from_other_modules(path)
                 for path in LAYER_FILES}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_check_finds_a_private_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from attention.functional import _helper\nimport minigrad.functional as F\nF._shape(1)\n")
    assert private_names_used_from_other_modules(bad) == ["from attention.functional import _helper", "F._shape"]


# ---- every public function takes what NumPy takes ------------------------------------------
# Walked by introspection: every public function of every attention module, and every public
# method (forward, generate, ...) of its layers.  Each tensor input is given in turn as an
# ndarray, a Tensor, a nested list and, where it holds one number, a plain number; the result
# must be the ndarray call's, exactly.  A number where the math needs an array must be a
# clear error naming the function or layer.  A new function is walked the moment it exists;
# a parameter name this table does not know fails the test until it is listed below.

import importlib
import re
import inspect
import pkgutil

import numpy as np
import pytest

import attention
import minigrad
from array_forms import assert_takes_array_likes, comparable

RNG = np.random.default_rng(0)
B, T, D = 2, 3, 4
TENSOR_INPUTS = {  # parameter name -> an example value (T = S = 3 so one mask fits every function)
    "q": RNG.standard_normal((B, T, D)), "k": RNG.standard_normal((B, T, D)), "v": RNG.standard_normal((B, T, D)),
    "V": RNG.standard_normal((B, T, D)), "x": RNG.standard_normal((B, T, D)),
    "query": RNG.standard_normal((B, T, D)), "key": RNG.standard_normal((B, T, D)),
    "value": RNG.standard_normal((B, T, D)), "mask": ~np.eye(T, dtype=bool)[::-1],
    "key_padding_mask": np.array([[False, False, True], [False, False, False]]),
    "queries": RNG.uniform(0, 3, T), "keys": RNG.uniform(0, 3, T), "values": RNG.standard_normal(T),
    "sigma": np.array(0.8), "width": np.array(0.7), "weights": RNG.uniform(0, 1, (T, T)),
    "lengths": np.array([1, 3]), "tokens": RNG.integers(0, 5, (B, T)), "idx": RNG.integers(0, 5, (B, 2)),
}
OVERRIDES = {"kernel_smooth": {"x": RNG.standard_normal((5, 2))}}  # a series (n, D), not a batch
SETTINGS = {  # parameters that are sizes or options, not tensors: a fixed value where one is required
    "T": 3, "S": 3, "n": 4, "weights_shape": (B, T, T), "where": "test", "max_new_tokens": 2,
    "scale": None, "dropout_p": None, "is_causal": None, "rng": None, "leave_one_out": None,
    "temperature": None, "greedy": None, "top_k": None, "top_p": None, "kv_cache": None, "cache": None, "query_labels": None, "key_labels": None, "ax": None,
    "titles": None, "cmap": None, "vmax": None,
}
LAYERS = {  # one small instance of every layer class
    "SelfAttention": lambda: attention.SelfAttention(D),
    "MultiHeadAttention": lambda: attention.MultiHeadAttention(D, 2),
    "SinusoidalPositionalEncoding": lambda: attention.SinusoidalPositionalEncoding(D, 8),
    "LearnedPositionalEmbedding": lambda: attention.LearnedPositionalEmbedding(8, D),
    "TransformerBlock": lambda: attention.TransformerBlock(D, 2),
    "TransformerStack": lambda: attention.TransformerStack(vocab_size=5, d_model=D, n_heads=2, n_layers=1,
                                                           max_len=8, n_out=3),
    "TransformerEncoder": lambda: attention.TransformerEncoder(vocab_size=5, d_model=D, n_heads=2, n_layers=1,
                                                               max_len=8, n_classes=3),
    "TinyGPT": lambda: attention.TinyGPT(vocab_size=5, d_model=D, n_heads=2, n_layers=1, max_len=8),
}


# Page writers, not tensor math: their inputs (a model and its input; weights with token
# labels and a file path) are checked in tests/test_explain_attention.py.  Text and
# tokenizers take str and integer ids, not tensors: tests/test_text.py checks them.
NOT_WALKED = {"explain", "text"}


def public_callables():
    """(name, maker) for every public function and layer method of attention; maker() -> the callable."""
    found = []
    for info in pkgutil.iter_modules(attention.__path__):
        if info.name in NOT_WALKED:
            continue
        module = importlib.import_module(f"attention.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                found.append((name, lambda obj=obj: obj))
            elif inspect.isclass(obj) and issubclass(obj, minigrad.nn.Module):
                for klass in (k for k in obj.__mro__ if k.__module__.startswith("attention.")):
                    for method in (m for m, f in vars(klass).items() if inspect.isfunction(f)
                                   and not m.startswith("_") and m != "extra_repr"):
                        found.append((f"{name}.{method}", lambda cls=name, m=method: getattr(layer(cls), m)))
    return sorted(set(found), key=lambda item: item[0])


def layer(name):
    assert name in LAYERS, f"attention.{name} is a new layer: add a small instance of it to LAYERS"
    return LAYERS[name]()


def arguments(name, fn):
    """The ndarray call of fn: {parameter: value} and the names of its tensor inputs."""
    args, tensors = {}, []
    for p in inspect.signature(fn).parameters.values():
        known = OVERRIDES.get(name, {}).get(p.name, TENSOR_INPUTS.get(p.name))
        assert known is not None or p.name in SETTINGS, (
            f"{name}: parameter {p.name!r} is new; list it in TENSOR_INPUTS (with an example) or SETTINGS")
        if known is not None:
            args[p.name] = known
            tensors.append(p.name)
        elif p.default is inspect.Parameter.empty:
            args[p.name] = SETTINGS[p.name]
    return args, tensors


def call(maker, args):
    minigrad.manual_seed(0)  # the same draws for anything random (initialisation, sampling)
    return comparable(maker()(**args))


CALLABLES = public_callables()
PUBLIC = attention.__all__ + [name for name in dir(minigrad.nn) if not name.startswith("_")]
NAMED = re.compile(rf"({'|'.join(PUBLIC)})\b")  # an error names the function or layer that raised it


def test_the_walk_finds_every_kind_of_entry_point():
    names = {name for name, _ in CALLABLES}
    assert {"scaled_dot_product_attention", "nadaraya_watson", "plot_attention", "check_mask",
            "MultiHeadAttention.forward", "TransformerStack.forward", "TinyGPT.generate"} <= names


@pytest.mark.parametrize("name, maker", CALLABLES, ids=[name for name, _ in CALLABLES])
def test_every_public_function_takes_tensors_arrays_lists_and_numbers(name, maker):
    if name.startswith("plot_"):
        pytest.importorskip("matplotlib", reason="plot_attention draws with matplotlib (the test extra)")
    args, tensors = arguments(name, maker())
    assert_takes_array_likes(lambda given: call(maker, given), args, tensors, NAMED, name)


def float32(value):
    return value.astype(np.float32) if isinstance(value, np.ndarray) and value.dtype.kind == "f" else value


FUNCTIONS = [(name, maker) for name, maker in CALLABLES if "." not in name and not name.startswith("plot_")]


@pytest.mark.parametrize("name, maker", FUNCTIONS, ids=[name for name, _ in FUNCTIONS])
def test_float32_inputs_give_float32(name, maker):
    """Every attention function keeps float32: settings given as Python numbers never promote it."""
    args, tensors = arguments(name, maker())
    for result in call(maker, {k: float32(v) if k in tensors else v for k, v in args.items()}):
        assert result.dtype.kind != "f" or result.dtype == np.float32, f"{name}: float32 inputs gave {result.dtype}"
    if "width" in args:  # the width as a Python number, as the notes write it
        for result in call(maker, {**{k: float32(v) for k, v in args.items()}, "width": 0.5}):
            assert result.dtype == np.float32, f"{name}(width=0.5): float32 points gave {result.dtype}"
