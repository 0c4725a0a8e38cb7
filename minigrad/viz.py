"""Draw a computation graph with matplotlib alone (imported lazily: the core needs NumPy only).

    from minigrad.viz import draw_graph
    loss = ...                         # a Tensor built from tensors with requires_grad=True
    draw_graph(loss, "graph.png", names={"V": V})   # before loss.backward(), which frees the graph

Op nodes are labelled with the op's class name and output shape; leaves (tensors that
require a gradient and were not computed) are drawn in another colour; constants (inputs
that need no gradient) in grey.  Nodes are placed in columns by depth: leaves on the left,
the output on the right, every node one column right of its deepest input.
"""
import html
import inspect
import json
from pathlib import Path

import numpy as np

from minigrad.function import inputs_itself
from minigrad.tensor import Tensor
from minigrad.versions import nodes_when_recorded

_COLOURS = {"op": "#cfe2f3", "leaf": "#f9cb9c", "constant": "#eeeeee"}


def graph_nodes(root):
    """Every tensor that leads to `root`, inputs before outputs, and the edges (input, output).

    Walks `grad_fn.inputs` with an explicit stack (no recursion), so long chains are fine.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(root).__name__}")
    order, edges, seen = [], [], set()
    stack = [(root, False)]
    while stack:
        t, inputs_done = stack.pop()
        if inputs_done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        fn = t.grad_fn
        if fn is None:
            continue
        if fn.inputs is None:
            raise RuntimeError("draw_graph: the graph was freed by backward(); draw it before calling "
                               "backward(), or call backward(retain_graph=True)")
        for x in nodes_when_recorded(fn, inputs_itself(fn.inputs)):  # (the node each input was when fn ran)
            if isinstance(x, Tensor):
                edges.append((x, t))
                if id(x) not in seen:
                    stack.append((x, False))
    return order, edges


def graph_layout(order, edges, root):
    """Where to draw each tensor: (depth, position), both keyed by id(tensor).

    depth: the column, one right of the deepest input; a leaf sits just left of its first
    user rather than far off in column 0.  position: (column, row), each column's tensors
    centred on row 0, one row apart.
    """
    inputs_of = {}
    for x, out in edges:
        inputs_of.setdefault(id(out), []).append(x)
    depth = {}
    for t in order:  # inputs come first, so their depths are known already
        ins = inputs_of.get(id(t))
        depth[id(t)] = 1 + max(depth[id(x)] for x in ins) if ins else 0
    first_use = {}
    for x, out in edges:
        first_use[id(x)] = min(first_use.get(id(x), depth[id(out)]), depth[id(out)])
    for t in order:
        if t.grad_fn is None and t is not root:
            depth[id(t)] = first_use[id(t)] - 1
    columns = {}
    for t in order:
        columns.setdefault(depth[id(t)], []).append(t)
    pos = {id(t): (d, (len(col) - 1) / 2 - i) for d, col in columns.items() for i, t in enumerate(col)}
    return depth, pos


def _kind(t):
    if t.grad_fn is not None:
        return "op"
    return "leaf" if t.requires_grad else "constant"


def draw_graph(tensor, path=None, names=None, ax=None, max_nodes=200):
    """Draw the graph that computed `tensor`; save it to `path` (PNG, SVG, ...) if given.

    names: optional {"label": tensor} to print a name on chosen nodes (e.g. the leaves).
    max_nodes: larger graphs are refused, as no one could read the picture.
    Returns the matplotlib Figure.
    """
    from matplotlib.figure import Figure  # not pyplot: no window, no global state

    order, edges = graph_nodes(tensor)
    if len(order) > max_nodes:
        raise ValueError(f"draw_graph: the graph has {len(order)} tensors, more than max_nodes={max_nodes} can show "
                         "legibly; draw a smaller piece of the computation, or pass a larger max_nodes")
    label_of = {id(t): name for name, t in (names or {}).items()}
    depth, pos = graph_layout(order, edges, tensor)
    n_cols = 1 + max(depth.values())
    n_rows = 1 + 2 * max(abs(y) for _, y in pos.values())

    if ax is None:
        fig = Figure(figsize=(1.9 * n_cols + 1, 0.9 * n_rows + 1))
        ax = fig.subplots()
    else:
        fig = ax.figure
    boxes = {}
    for t in order:
        kind = _kind(t)
        title = type(t.grad_fn).__name__ if kind == "op" else kind
        if id(t) in label_of:
            title = f"{label_of[id(t)]} ({title})"
        boxes[id(t)] = ax.text(*pos[id(t)], f"{title}\n{tuple(t.shape)}", ha="center", va="center", fontsize=8,
                               bbox=dict(boxstyle="round", facecolor=_COLOURS[kind], edgecolor="#444444"))
    for x, out in edges:
        # From the right edge of the input's box to the left edge of the output's box; an edge
        # that skips columns is bent so it does not run through the boxes in between.
        skip = depth[id(out)] - depth[id(x)] > 1
        ax.annotate("", xy=(0, 0.5), xycoords=boxes[id(out)], xytext=(1, 0.5), textcoords=boxes[id(x)],
                    annotation_clip=False,
                    arrowprops=dict(arrowstyle="->", color="#666666",
                                    connectionstyle="arc3,rad=-0.25" if skip else "arc3"))
    ax.set_xlim(-0.7, n_cols - 0.3)
    ax.set_ylim(-n_rows / 2 - 0.2, n_rows / 2 + 0.2)
    ax.axis("off")
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


# ---- pages for the browser ---------------------------------------------------
def write_page(path, template, data, title):
    """Write a self-contained HTML page: `template` (an .html file next to the caller, with
    its style and script inline) with `title` and `data` filled in.  data goes in as one JSON
    blob that the page's script reads; nothing is loaded from the network.  Returns path.
    """
    blob = json.dumps(_json_ready(data), allow_nan=False, separators=(",", ":"))
    # "<" escaped so that no string in the data can close the <script> element it sits in.
    blob = blob.replace("<", "\\u003c")
    page = Path(template).read_text(encoding="utf-8")
    page = page.replace("{{TITLE}}", html.escape(title)).replace("{{DATA}}", blob)
    Path(path).write_text(page, encoding="utf-8")
    return path


def _json_ready(value):
    """NumPy arrays and scalars as lists and floats; NaN and ±inf as strings, which JSON lacks."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.generic):
        return _json_ready(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


# ---- step through backward, in the browser -------------------------------------
_BACKWARD_PAGE = Path(__file__).with_name("explain_backward.html")


class BackwardTrace:
    """What one backward() sweep did, recorded by the engine itself: pass it as
    `loss.backward(hook=trace)`.

    ops: one entry per op, in the order the sweep ran them (newest first), each a dict
    with `fn` (the Function; its class name is the op), `number` (its place in creation
    order), `inputs` (what it was applied to), `output` (the Tensor it made), `grad` (the complete gradient arriving at the
    output) and `handed`: a list of (input, raw, fitted), the gradient the op's backward
    returned for that input and the same summed back to the input's shape.
    leaves: (tensor, grad) for every leaf, with the gradient the sweep computed for it.
    Arrays are copied, as the sweep may add into its sums after handing them over.
    """

    def __init__(self):
        self.ops, self.leaves = [], []

    def op(self, fn, output, grad, handed):
        self.ops.append({"fn": fn, "number": fn.number, "inputs": list(fn.inputs), "output": output, "grad": _copy(grad),
                         "handed": [(x, _copy(raw), _copy(fitted)) for x, raw, fitted in handed]})

    def leaf(self, tensor, grad):
        self.leaves.append((tensor, _copy(grad)))


def _copy(array):
    return np.array(array.data if isinstance(array, Tensor) else array)


def explain_backward(loss, path, names=None, title="backward, step by step", max_nodes=60, max_values=16,
                     retain_graph=True):
    """Run loss.backward() and write a page that steps through what the sweep did; returns
    the BackwardTrace the page is drawn from.

    The page (minigrad/explain_backward.html, its script inline, no network) draws the graph,
    its ops numbered 1…n in the order they ran forward, and shows, step by step (buttons,
    arrow keys or a slider): which op runs and why it is its turn, the gradient arriving at
    its output, the gradient it hands each input (named as its forward names it, `a`, `b`),
    where a broadcast gradient is summed back to the input's shape, where two gradients
    reaching one tensor are added; the last step shows every leaf's `.grad`.  Tensors of at
    most max_values elements show their values, larger ones their shape and norm.
    names: optional {"label": tensor} for chosen tensors.

    What it leaves behind is what loss.backward(retain_graph=True) leaves: every leaf's
    gradient is added into its `.grad` (set .grad to None, or zero_grad(), before your own
    loss.backward() if you want that one alone), and the graph is kept, so your own
    loss.backward() still works afterwards.  retain_graph=False frees it, as a plain backward().
    """
    order, edges = graph_nodes(loss)
    if len(order) > max_nodes:
        raise ValueError(f"explain_backward: the graph has {len(order)} tensors, more than max_nodes={max_nodes} "
                         "a page can show legibly; explain a smaller computation, or pass a larger max_nodes")
    _, pos = graph_layout(order, edges, loss)
    had_grad = {id(t) for t in order if t.grad is not None}
    # The ops of this graph numbered 1…n in creation order (the engine's numbers count every op ever made).
    ops_made = sorted((t for t in order if t.grad_fn is not None), key=lambda t: t.grad_fn.number)
    number_of = {id(t.grad_fn): k for k, t in enumerate(ops_made, 1)}
    trace = BackwardTrace()
    loss.backward(retain_graph=retain_graph, hook=trace)
    node_of = {id(t): i for i, t in enumerate(order)}
    label_of = {id(t): name for name, t in (names or {}).items()}

    def summary(array):
        a = np.asarray(array)
        out = {"shape": list(a.shape), "norm": float(np.linalg.norm(a))}
        if a.size <= max_values:
            out["values"] = a.tolist()
        return out

    nodes = [{"kind": _kind(t), "op": type(t.grad_fn).__name__ if t.grad_fn else None,
              "number": number_of.get(id(t.grad_fn)), "detail": _op_detail(t.grad_fn),
              "label": label_of.get(id(t)), "shape": list(t.shape), "x": pos[id(t)][0], "y": pos[id(t)][1]}
             for t in order]
    data = {"title": title, "nodes": nodes, "edges": [[node_of[id(x)], node_of[id(y)]] for x, y in edges],
            "steps": _backward_steps(trace, node_of, number_of, summary),
            "leaves": [{"node": node_of[id(t)], "grad": summary(g), "dot_grad": summary(t.grad.data),
                        "had_grad": id(t) in had_grad} for t, g in trace.leaves]}
    write_page(path, _BACKWARD_PAGE, data, title)
    return trace


def _op_detail(fn):
    """What tells two ops of one kind apart on the page: the index a GetItem took, e.g. "[0]"."""
    index = getattr(fn, "index", None) if type(fn).__name__ == "GetItem" else None
    if index is None:
        return ""
    parts = index if isinstance(index, tuple) else (index,)
    return "[" + ", ".join(_index_part(p) for p in parts) + "]"


def _index_part(p):
    if isinstance(p, slice):
        text = ":".join("" if v is None else str(v) for v in (p.start, p.stop, p.step))
        return text[:-1] if p.step is None else text
    if p is Ellipsis:
        return "..."
    if isinstance(p, np.ndarray):
        return f"<{p.dtype} array {p.shape}>" if p.size > 4 else str(p.tolist())
    return str(p)


def _input_names(fn, n_inputs):
    """The names forward gives its inputs (a, b; x), for saying which input a gradient goes to."""
    try:
        params = list(inspect.signature(fn.forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    return names if len(names) >= n_inputs and not any(p.kind is p.VAR_POSITIONAL for p in params) else []


def _backward_steps(trace, node_of, number_of, summary):
    """One dict per op step, with the reasons and sums a student needs spelled out."""
    step_of = {node_of[id(s["output"])]: i for i, s in enumerate(trace.ops)}
    received = {}  # node -> the steps that handed it a gradient so far
    total = {}     # node -> the sum of those gradients
    steps = []
    for i, s in enumerate(trace.ops):
        node, name, number = node_of[id(s["output"])], type(s["fn"]).__name__, number_of[id(s["fn"])]
        waiting = sorted(((number_of[id(trace.ops[step_of[n]]["fn"])], n) for n in received
                          if step_of.get(n, -1) > i), reverse=True)
        also = ", ".join(f"#{k} {type(trace.ops[step_of[n]]['fn']).__name__}" for k, n in waiting)
        users = list(received.get(node, []))
        input_names = _input_names(s["fn"], len(s["inputs"]))
        handed, j = [], -1
        for x, raw, fitted in s["handed"]:  # (in the order of the inputs: h * h hands to a, then b)
            j = next(k for k in range(j + 1, len(s["inputs"])) if s["inputs"][k] is x)
            target = node_of[id(x)]
            earlier = received.setdefault(target, [])
            total[target] = fitted if not earlier else total[target] + fitted
            handed.append({"node": target, "input": input_names[j] if input_names else None,
                           "raw": summary(raw), "fitted": summary(fitted),
                           "summed": list(raw.shape) != list(fitted.shape), "added_to": list(earlier),
                           "total": summary(total[target])})
            earlier.append(i)
        steps.append({"node": node, "op": name, "number": number, "why": _why(i, name, number, users, also),
                      "grad": summary(s["grad"]), "from": users, "handed": handed})
    return steps


def _why(i, name, number, users, also_waiting):
    """Why this op runs now, in words."""
    if i == 0:
        return (f"{name} made the output, so the sweep starts here, with the gradient "
                "d output / d output = 1 (or the grad= passed to backward).")
    plural = "s" if len(users) > 1 else ""
    return (f"Its output is the newest tensor waiting for its op's backward (op #{number}; also waiting: "
            f"{also_waiting or 'none'}). An op's output is always newer than its inputs, so every op that used "
            f"this output has run already (step{plural} {', '.join(str(u + 1) for u in users)}): "
            "its gradient is complete.")
