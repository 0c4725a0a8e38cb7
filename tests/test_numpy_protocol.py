"""NumPy functions called on Tensors: what minigrad implements gives NumPy's answer, with a
graph; anything it does not implement (an unknown function, or a keyword such as out=,
order=, dtype=, where=) is a TypeError naming it, never an option silently ignored.

Oracle: NumPy itself, on the same arrays."""
import numpy as np
import pytest

from minigrad import Tensor
from minigrad.numpy_protocol import ARRAY_FUNCTIONS

A = np.arange(6.0).reshape(2, 3)


@pytest.mark.parametrize("call, refused", [
    (lambda t: np.reshape(t, (3, 2), order="F"), "order"),
    (lambda t: np.sum(t, out=np.zeros(3), axis=0), "out"),
    (lambda t: np.sum(t, axis=0, dtype=np.float32), "dtype"),
    (lambda t: np.sum(t, where=t.data > 1), "where"),
    (lambda t: np.sum(t, 0, np.float32), "1 more positional"),
    (lambda t: np.concatenate([t, t], axis=0, dtype=np.float32), "dtype"),
    (lambda t: np.stack([t, t], out=np.zeros((2, 2, 3))), "out"),
    (lambda t: np.einsum("ij->i", t, out=np.zeros(2)), "out"),
    (lambda t: np.broadcast_to(t, (2, 2, 3), subok=True), "subok"),
])
def test_an_unsupported_argument_is_refused_by_name(call, refused):
    with pytest.raises(TypeError, match=rf"np\.\w+ on minigrad Tensors does not support {refused}"):
        call(Tensor(A))


def test_out_is_not_left_untouched_silently():
    out = np.zeros(3)
    with pytest.raises(TypeError):
        np.sum(Tensor(A), axis=0, out=out)
    assert not out.any()


def test_an_unknown_function_names_itself():
    with pytest.raises(TypeError, match=r"np\.cumsum is not supported on minigrad Tensors"):
        np.cumsum(Tensor(A))


@pytest.mark.parametrize("name, call", [
    ("sum", lambda x: np.sum(x, 1, keepdims=True)), ("reshape", lambda x: np.reshape(x, (3, 2))),
    ("transpose", lambda x: np.transpose(x, (1, 0))), ("concatenate", lambda x: np.concatenate([x, x], 1)),
    ("stack", lambda x: np.stack([x, x], axis=1)), ("einsum", lambda x: np.einsum("ij,ij->j", x, x)),
    ("broadcast_to", lambda x: np.broadcast_to(x, (4, 2, 3))),
    ("where", lambda x: np.where(np.asarray(A) > 2, x, 0.0)), ("ravel", np.ravel),
    ("squeeze", lambda x: np.squeeze(np.reshape(x, (1, 6)))), ("expand_dims", lambda x: np.expand_dims(x, 1)),
])
def test_what_is_supported_gives_numpys_answer_with_a_graph(name, call):
    t = Tensor(A, requires_grad=True)
    out = call(t)
    np.testing.assert_array_equal(out.data, call(A))
    assert out.requires_grad


def test_every_table_entry_is_tested_here():
    tested = {"sum", "reshape", "transpose", "concatenate", "stack", "einsum", "broadcast_to", "where", "shape", "ndim",
              "ravel", "squeeze", "expand_dims"}
    assert {f.__name__ for f in ARRAY_FUNCTIONS} == tested
