"""The forms a student passes a tensor input in, and the check that a function takes them all.

Shared by the walks over minigrad.functional (tests/test_functional_api.py) and attention
(tests/test_attention_api.py).  The oracle is the function's own result for plain ndarrays:
every other form of the same values must reproduce it exactly.
"""
import numpy as np

from minigrad import Tensor
from minigrad.tensor import unwrap


def forms(value):
    """{form: value in that form} for an ndarray: a Tensor, a nested list and, when it holds one
    number, a plain number and a one-element list."""
    found = {"Tensor": Tensor(value), "list": value.tolist()}
    if value.ndim == 0:
        found.update({"number": value.item(), "one-element list": [value.item()]})
    return found


def comparable(result):
    """Arrays to compare of whatever a function returned (Tensors, arrays, tuples, a Figure)."""
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in comparable(r)]
    if type(result).__module__.startswith("matplotlib"):  # a Figure (matplotlib loaded only by what drew it)
        import matplotlib.pyplot as plt
        arrays = [np.asarray(image.get_array()) for ax in result.axes for image in ax.images]
        plt.close(result)
        return arrays
    return [np.asarray(unwrap(result))]


def assert_takes_array_likes(call, args, tensors, named, label):
    """call(args) -> arrays; args holds ndarrays for the tensor inputs `tensors`.

    Each tensor input in turn is given in every form of `forms` (a sequence input, such as
    concatenate's list of tensors, has every element in that form) and must give the ndarray
    call's result exactly.  A number where an array of several elements is expected must work
    or raise a ValueError/TypeError whose message `named` (a regex) matches: one that names
    the function.
    """
    expected = call(args)
    for param in tensors:
        value = args[param]
        is_sequence = isinstance(value, list)
        variants = ({form: [forms(v)[form] for v in value] for form in ("Tensor", "list")} if is_sequence
                    else forms(value))
        for form, converted in variants.items():
            got = call({**args, param: converted})
            assert len(got) == len(expected), f"{label}({param} as a {form})"
            for g, e in zip(got, expected):
                np.testing.assert_array_equal(g, e, err_msg=f"{label} with {param} as a {form}")
        if not is_sequence and value.size > 1:
            try:
                call({**args, param: value.flat[0].item()})
            except (ValueError, TypeError) as err:
                assert named.match(str(err)), f"{label} with {param} a number: an error that names nothing: {err}"
