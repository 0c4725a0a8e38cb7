"""The default random generator, shared by initialisers and dropout.

`minigrad.manual_seed(0)` makes every later layer initialisation and dropout mask
reproducible.  A layer or function given its own `rng=` (a np.random.Generator) uses
that instead and leaves the default one untouched.
"""
import numpy as np

_default = np.random.default_rng()


def manual_seed(seed):
    """Reseed the default generator (as torch.manual_seed); returns it."""
    global _default
    _default = np.random.default_rng(seed)
    return _default


def default_generator():
    """The generator used wherever no `rng=` is given."""
    return _default


def generator(rng=None, where="minigrad"):
    """`rng` itself, or the default generator when rng is None.

    `where` names the caller in the error for anything that is not a Generator.
    """
    if rng is None:
        return _default
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{where}: rng must be a np.random.Generator (e.g. np.random.default_rng(0)) or None, "
                        f"got {type(rng).__name__}")
    return rng
