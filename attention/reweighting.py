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
from attention.functional import check_mask


def gaussian_weights(n, sigma):
    """(n, n) Tensor whose row i is a normal density centred at i, evaluated at 0..n-1 and
    normalised to sum 1.

    Normalising cancels the density's constant factor, so row i is
    softmax_j(-(j - i)² / (2 sigma²)).  sigma: a positive float or a scalar Tensor.
    """
    sigma = _check_width("gaussian_weights", sigma, "sigma")
    positions = np.arange(n, dtype=np.result_type(sigma.dtype, np.float32))  # float32 only for a float32 sigma
    squared_distance = (positions[None, :] - positions[:, None]) ** 2  # (n, n), a constant
    return F.softmax(squared_distance * (-0.5 / (sigma * sigma)), axis=-1)


def kernel_smooth(x, sigma):
    """The notes' smoothed series y = W x, W = gaussian_weights(n, sigma): y_i = w_iᵀ x.

    x: (n,) or (n, D) values over time.
    """
    x = F.as_tensor(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"kernel_smooth: x must be a series (n,) or (n, D), got shape {x.shape}")
    dtype = np.result_type(x.dtype, np.float32)  # x's own float type; integers average in float64
    return gaussian_weights(x.shape[0], sigma).astype(dtype) @ x  # (n,) or (n, D)


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
    width = _check_width("nadaraya_watson", width, "width", beside=(queries.dtype, keys.dtype))
    weights_shape = _check_points(queries, keys, values)                # (..., T, S)
    T, S = weights_shape[-2:]
    allowed = check_mask(mask, weights_shape, "nadaraya_watson")
    if leave_one_out:
        if T != S:
            raise ValueError(f"nadaraya_watson: leave_one_out needs as many queries as keys "
                             f"(queries are the keys), got T={T} and S={S}")
        allowed = ~np.eye(T, dtype=bool) if allowed is None else allowed & ~np.eye(T, dtype=bool)
    q = queries.reshape(*queries.shape, 1)                          # (..., T, 1)
    k = keys.reshape(*keys.shape[:-1], 1, S)                        # (..., 1, S)
    diff = q - k                                                    # (..., T, S)
    scores = diff * diff * (-0.5 / (width * width))                 # (..., T, S)
    weights = F.softmax(scores, axis=-1, where=allowed)             # (..., T, S)
    if values.ndim == keys.ndim:
        out = (weights @ values.reshape(*values.shape, 1)).reshape(*weights.shape[:-1])  # (..., T)
    else:
        out = weights @ values                                      # (..., T, Dv)
    return out, weights


def _check_width(name, width, label, beside=()):
    """width as a Tensor, after checking it is one positive number.  A Python number takes the
    dtype NumPy gives it beside the dtypes `beside` (float32 points keep a width of 0.5 float32)."""
    width = F.as_tensor(F.array_like(width, name, label, beside=beside))
    if width.size != 1 or not np.all(width.data > 0):
        raise ValueError(f"{name}: {label} must be one positive number (a float or a one-element Tensor), "
                         f"got {width.data!r}")
    return width


def _check_points(queries, keys, values):
    """The weights' shape (..., T, S) of nadaraya_watson, after checking the shapes fit together."""
    if queries.ndim == 0 or keys.ndim == 0:
        raise ValueError(f"nadaraya_watson: queries (..., T) and keys (..., S) need at least one axis, "
                         f"got queries {queries.shape} and keys {keys.shape}")
    if values.shape[:keys.ndim] != keys.shape or values.ndim > keys.ndim + 1:
        raise ValueError(f"nadaraya_watson: values must have the keys' shape {keys.shape} (one number per key) "
                         f"or that shape plus one feature axis, got values {values.shape}")
    try:
        batch = np.broadcast_shapes(queries.shape[:-1], keys.shape[:-1])
    except ValueError:
        raise ValueError(f"nadaraya_watson: the batch dimensions of queries {queries.shape} and keys "
                         f"{keys.shape} do not broadcast") from None
    return batch + (queries.shape[-1], keys.shape[-1])
