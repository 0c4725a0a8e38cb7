"""NumPy's names for axes.  Where PyTorch writes dim= and keepdim=, minigrad writes NumPy's
axis= and keepdims=; `takes_axis` gives every function and method with an `axis` one hint
saying so, in place of Python's bare "unexpected keyword argument 'dim'"."""
import functools

PYTORCH_NAMES = {"dim": "axis", "keepdim": "keepdims"}  # PyTorch's keyword -> NumPy's


def takes_axis(fn):
    """Decorator for a function or method with an `axis` parameter: a call with PyTorch's dim=
    (or keepdim=) raises a TypeError naming axis= (keepdims=).  Free for the calls that work:
    the keywords are looked at only once the call has failed."""
    @functools.wraps(fn)
    def with_hint(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TypeError as err:
            used = [name for name in PYTORCH_NAMES if name in kwargs]
            if not used:
                raise
            raise pytorch_names_error(fn.__qualname__, used) from err
    return with_hint


def pytorch_names_error(name, used):
    """The TypeError for `name` called with PyTorch's keywords `used` (some of dim, keepdim)."""
    given = " and ".join(f"{k}=" for k in used)
    numpy = " and ".join(f"{PYTORCH_NAMES[k]}=" for k in used)
    return TypeError(f"{name}() got {given}: minigrad follows NumPy, so write {numpy} "
                     f"where PyTorch writes {given}")
