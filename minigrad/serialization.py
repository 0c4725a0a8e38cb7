"""Save and load checkpoints: a nested dict of arrays, numbers and strings in one .npz file.

    minigrad.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 300,
                   "rng": rng.bit_generator.state, "note": "python-docs"}, "run.npz")
    checkpoint = minigrad.load("run.npz")

Nothing is pickled, so loading a file never runs code from it.  The arrays are stored as
the .npz's members; everything else (the nesting, the keys, numbers of any size, strings,
booleans, None, lists) goes into one JSON text stored beside them, where each array is
written as {"__array__": member name}.  Loading reads the arrays with allow_pickle=False and
rebuilds the dict; a damaged or foreign file raises ValueError and returns nothing, so
whatever the caller holds in memory is untouched.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from minigrad.tensor import Tensor

_MANIFEST = "__minigrad_checkpoint__"
_FORMAT = 1


def save(obj, path):
    """Write obj (a dict of str keys; values: arrays, numbers, str, bool, None, lists and
    dicts of those) to path ('.npz' added if missing); returns the path written.

    The file is written next to its destination and then renamed over it, so a run stopped
    while saving leaves the previous checkpoint whole.
    """
    path = _npz(path)
    if not isinstance(obj, dict):
        raise TypeError(f"minigrad.save: expected a dict to save, got {type(obj).__name__}")
    arrays = {}
    tree = _encode(obj, arrays, "obj")
    manifest = json.dumps({"format": _FORMAT, "tree": tree}, allow_nan=True)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"minigrad.save: no folder {folder!r} to write {os.path.basename(path)!r} into")
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_MANIFEST: np.array(manifest)}, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def _encode(value, arrays, where):
    """value as JSON, its arrays moved into `arrays`; `where` names the place in errors."""
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(f"minigrad.save: key {bad[0]!r} at {where} is a {type(bad[0]).__name__}; "
                            "dict keys must be str")
        if "__array__" in value:
            raise ValueError(f"minigrad.save: the key '__array__' at {where} is reserved")
        return {k: _encode(v, arrays, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    data = value.data if isinstance(value, Tensor) else value
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in "biufcU":
            raise TypeError(f"minigrad.save: the array at {where} has dtype {data.dtype}; only numbers, "
                            "booleans and strings can be saved without pickle")
        name = f"a{len(arrays)}"
        arrays[name] = data
        return {"__array__": name}
    raise TypeError(f"minigrad.save: cannot save a {type(value).__name__} at {where}; save arrays, "
                    "numbers, str, bool, None, and lists or dicts of those")


def load(path):
    """The dict that save(obj, path) wrote ('.npz' added if missing).  Never unpickles:
    a file that is not a minigrad checkpoint, or is damaged, raises ValueError."""
    path = _npz(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"minigrad.load: no file {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if _MANIFEST not in data.files:
                raise ValueError(f"minigrad.load: {path!r} is an .npz file but not a minigrad checkpoint "
                                 f"(it has no {_MANIFEST!r} entry; its members are {data.files[:5]})")
            manifest = json.loads(str(data[_MANIFEST]))
            if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
                raise ValueError(f"minigrad.load: {path!r} has an unknown checkpoint format")
            return _decode(manifest["tree"], data, path)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"minigrad.load: {path!r} is damaged or not a minigrad checkpoint "
                         f"({type(err).__name__}: {err})") from err
    except ValueError as err:
        if str(err).startswith("minigrad.load"):
            raise
        # np.load raises ValueError for an object array it would have to unpickle
        raise ValueError(f"minigrad.load: {path!r} cannot be read without pickle, or is damaged "
                         f"({err})") from err


def _decode(tree, data, path):
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            name = tree["__array__"]
            if name not in data.files:
                raise ValueError(f"minigrad.load: {path!r} refers to an array {name!r} it does not hold")
            return data[name]
        return {k: _decode(v, data, path) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_decode(v, data, path) for v in tree]
    return tree


def _npz(path):
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"
