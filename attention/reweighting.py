"""Re-weighting (lecture notes §1.1.1): smoothing a noisy series by weighted averages.

The idea the notes start from: replace the value at time i by an average of the values
near i, with weights w_i taken from a normal density centred at i, so y_i = w_iᵀ x.
Nadaraya-Watson regression is the same average with the positions replaced by
arbitrary query and key points, which already is attention: a query looks at every key,
turns closeness into a weight with a softmax, and averages the values.

The widths may be Tensors, so they can be learned by gradient descent.  Masks follow the
package convention: boolean, broadcastable to the weights (..., T, S), True = may attend.
"""
import numpy as np

import minigrad.functional as F
from minigrad import Tensor
from attention.functional import _allowed, _masked_softmax


def gaussian_weights(n, sigma):
    """(n, n) Tensor whose row i is a normal density centred at i, evaluated at 0..n-1 and
    normalised to sum 1.

    Normalising cancels the density's constant factor, so row i is
    softmax_j(-(j - i)² / (2 sigma²)).  sigma: a positive float or a scalar Tensor.
    """
    _check_width("gaussian_weights", sigma, "sigma")
    positions = np.arange(n, dtype=_float_dtype(sigma))
    squared_distance = (positions[None, :] - positions[:, None]) ** 2  # (n, n), a constant
    return F.softmax(squared_distance * (-0.5 / (sigma * sigma)), axis=-1)


def kernel_smooth(x, sigma):
    """The notes' smoothed series y = W x, W = gaussian_weights(n, sigma): y_i = w_iᵀ x.

    x: (n,) or (n, D) values over time.
    """
    x = F.as_tensor(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"kernel_smooth: x must be a series (n,) or (n, D), got shape {x.shape}")
    return gaussian_weights(x.shape[0], sigma).astype(x.dtype) @ x


def nadaraya_watson(queries, keys, values, width, leave_one_out=False, mask=None):
    """Gaussian-kernel attention pooling, returning (out, weights).

    weights[t, s] = softmax_s(-(queries[t] - keys[s])² / (2 width²)), out[t] = Σ_s weights[t, s] values[s].
    queries (..., T), keys (..., S); values (..., S) or (..., S, Dv) -> out (..., T) or (..., T, Dv);
    weights (..., T, S).  width: a positive float or scalar Tensor (learnable).
    leave_one_out: query t may not look at key t (for training with queries = keys, where
    otherwise every point would simply copy its own value).  mask: boolean, broadcastable
    to (..., T, S), True = may attend.
    """
    queries, keys, values = F.as_tensor(queries), F.as_tensor(keys), F.as_tensor(values)
    _check_width("nadaraya_watson", width, "width")
    if values.shape[:keys.ndim] != keys.shape or values.ndim > keys.ndim + 1:
        raise ValueError(f"nadaraya_watson: values must have the keys' shape {keys.shape} (one number per key) "
                         f"or that shape plus one feature axis, got values {values.shape}")
    T, S = queries.shape[-1], keys.shape[-1]
    if leave_one_out:
        if T != S:
            raise ValueError(f"nadaraya_watson: leave_one_out needs as many queries as keys "
                             f"(queries are the keys), got T={T} and S={S}")
        mask = ~np.eye(T, dtype=bool) if mask is None else np.asarray(mask) & ~np.eye(T, dtype=bool)
    q = queries.reshape(*queries.shape, 1)                          # (..., T, 1)
    k = keys.reshape(*keys.shape[:-1], 1, S)                        # (..., 1, S)
    diff = q - k                                                    # (..., T, S)
    scores = diff * diff * (-0.5 / (width * width))                 # (..., T, S)
    allowed = _allowed(mask, False, T, S, queries.shape[:-1], keys.shape[:-1], "nadaraya_watson")
    weights = _masked_softmax(scores, allowed)                      # (..., T, S)
    if values.ndim == keys.ndim:
        out = (weights @ values.reshape(*values.shape, 1)).reshape(*weights.shape[:-1])  # (..., T)
    else:
        out = weights @ values                                      # (..., T, Dv)
    return out, weights


def _check_width(name, width, label):
    value = width.data if isinstance(width, Tensor) else np.asarray(width)
    if np.size(value) != 1 or not np.all(value > 0):
        raise ValueError(f"{name}: {label} must be one positive number (a float or a one-element Tensor), "
                         f"got {value!r}")


def _float_dtype(x):
    """float32 if x is a float32 Tensor (so it stays float32), else float64."""
    return x.dtype if isinstance(x, Tensor) and x.dtype == np.float32 else np.float64
