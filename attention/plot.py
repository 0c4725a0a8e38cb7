"""plot_attention: attention weights as a heatmap, keys across, queries down.

matplotlib is imported inside the function, so importing `attention` never needs it.
"""
import numpy as np

from minigrad.tensor import unwrap


def plot_attention(weights, query_labels=None, key_labels=None, ax=None, titles=None, cmap="Blues", vmax=None):
    """Heatmap of attention weights; returns the matplotlib Figure.

    weights: (T, S) for one map, or (H, T, S) for a row of heads (a (1, H, T, S) batch of one
    is accepted too); a Tensor or an array.  Row i shows where query i looks.
    query_labels / key_labels: T and S tick labels (e.g. the tokens).
    ax: an Axes for one map, or a sequence of H Axes for heads; new ones are made if None.
    titles: one title per map (default "head h" for heads).  All maps share one colour
    scale, 0 to vmax (default: the largest weight), and one colour bar.
    """
    w = np.asarray(unwrap(weights), dtype=float)
    if w.ndim == 4 and w.shape[0] == 1:
        w = w[0]
    if w.ndim not in (2, 3):
        raise ValueError(f"plot_attention: weights must be (T, S) or (H, T, S) (or (1, H, T, S)), got shape {w.shape}")
    single = w.ndim == 2
    maps = w[None] if single else w  # (H, T, S)
    H, T, S = maps.shape
    for name, labels, n in [("query_labels", query_labels, T), ("key_labels", key_labels, S)]:
        if labels is not None and len(labels) != n:
            raise ValueError(f"plot_attention: {len(labels)} {name} for {n} {'rows' if n == T else 'columns'} "
                             f"of weights with shape {w.shape}")
    if titles is None:
        titles = [None] if single else [f"head {h}" for h in range(H)]
    if len(titles) != H:
        raise ValueError(f"plot_attention: {len(titles)} titles for {H} maps")

    import matplotlib.pyplot as plt
    if ax is None:
        fig, axes = plt.subplots(1, H, figsize=(0.45 * S * H + 1.5, 0.45 * T + 1.2),
                                 squeeze=False, layout="constrained")
        axes = list(axes[0])
    else:
        axes = [ax] if single else list(np.ravel(ax))
        if len(axes) != H:
            raise ValueError(f"plot_attention: {len(axes)} Axes given for {H} heads")
        fig = axes[0].figure
    vmax = float(maps.max()) if vmax is None else vmax
    for a, m, title in zip(axes, maps, titles):
        image = a.imshow(m, cmap=cmap, vmin=0.0, vmax=vmax, aspect="auto")
        a.set_xticks(range(S))
        a.set_yticks(range(T))
        if key_labels is not None:
            a.set_xticklabels(key_labels, rotation=90)
        if query_labels is not None:
            a.set_yticklabels(query_labels)
        a.set_xlabel("key")
        if a is axes[0] or ax is not None:
            a.set_ylabel("query")
        else:
            a.set_yticklabels([])  # our row of heads shares the queries: label them once
        if title:
            a.set_title(title)
    fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    return fig
