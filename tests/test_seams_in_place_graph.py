"""`h += 1` inside a graph (issue 20 item 4) changes the tensor object itself, as NumPy and
PyTorch do, with grad on as under no_grad: h keeps its identity, its views see the change,
and the change is recorded (h's grad_fn becomes the in-place op, whose input is h's node from
before).  Ops recorded earlier that used h send their gradients to that earlier node; one
whose backward needs h's old value refuses.  What the graph could not follow is refused."""
import numpy as np
import pytest

import minigrad
from minigrad import Tensor, func, gradcheck, nn, no_grad

IN_PLACE = "modified by an in-place operation"
X = np.array([0.5, -1.0, 2.0])
C = np.array([0.3, -0.7, 1.1])  # upstream weights: not all ones


def block(lin, x):
    """The issue's reproducer: a skip connection taken before an in-place update."""
    h = lin(x)
    skip = h
    h += 1.0
    return h + skip


def test_the_issues_block_gives_numpys_values_with_grad_as_without():
    lin = nn.Linear(2, 2, rng=np.random.default_rng(0))
    x = Tensor([[1.0, 2.0]])
    W, b = lin.weight.data.copy(), lin.bias.data.copy()
    expected = 2 * (x.data @ W + b + 1.0)  # NumPy: h and skip are one array, changed in place
    with no_grad():
        np.testing.assert_allclose(block(lin, x).data, expected, rtol=1e-15)
    out = block(lin, x)
    np.testing.assert_allclose(out.data, expected, rtol=1e-15)
    upstream = np.array([[0.7, -1.3]])
    out.backward(upstream)
    np.testing.assert_allclose(lin.weight.grad.data, 2 * x.data.T @ upstream, rtol=1e-15)  # by hand
    np.testing.assert_allclose(lin.bias.grad.data, 2 * upstream[0], rtol=1e-15)


def test_the_issues_block_matches_finite_differences():
    def block_of(x, W, b):
        h = x @ W + b
        skip = h
        h += 1.0
        h *= x[:, :1]  # an in-place op whose backward reads h's old value (kept as a copy)
        return h + skip
    rng = np.random.default_rng(3)
    args = [Tensor(rng.standard_normal(s), requires_grad=True) for s in [(3, 2), (2, 2), (2,)]]
    assert gradcheck(block_of, args)


def test_h_keeps_its_identity_and_its_views_see_the_change():
    x = Tensor(X, requires_grad=True)
    h = x * 2.0
    alias, detached = h, h.detach()
    h += 1.0
    assert alias is h and type(h.grad_fn).__name__ == "Add" and h.requires_grad
    np.testing.assert_array_equal(detached.data, 2 * X + 1)


def test_ops_recorded_before_the_change_send_their_gradient_to_the_node_from_before():
    x = Tensor(X, requires_grad=True)
    h = x * 2.0
    e = h + 3.0  # Add's backward does not read h, so it may run after the change
    h *= 2.0
    ((e * C).sum() + (h * 5.0).sum()).backward()
    np.testing.assert_allclose(x.grad.data, 2 * C + 4 * 5.0)  # e = 2x + 3, h = 4x, by hand


def test_two_changes_with_ops_between():
    def f(x):
        h = x * 1.0
        a = h + 0.0  # sees x
        h += x
        b = h - 0.0  # sees 2x
        h *= 2.0  # 4x
        return (a * C).sum() + (b * 2 * C).sum() + (h * 3 * C).sum()
    x = Tensor(X, requires_grad=True)
    f(x).backward()
    np.testing.assert_allclose(x.grad.data, C + 2 * 2 * C + 4 * 3 * C)  # by hand
    assert gradcheck(f, [Tensor(X, requires_grad=True)])


def test_rerouting_under_create_graph():
    x = Tensor(X, requires_grad=True)
    h = x * 2.0
    e = h + 3.0
    h *= 2.0
    loss = (e * e).sum() + (h * h).sum()  # (2x + 3)² + (4x)²
    (dx,) = minigrad.grad(loss, [x], create_graph=True)
    np.testing.assert_allclose(dx.data, 40 * X + 12)  # 4 (2x + 3) + 32 x, by hand
    dx.sum().backward()
    np.testing.assert_allclose(x.grad.data, [40.0, 40.0, 40.0])


def test_in_place_mul_and_div_differentiate_both_inputs():
    def f(x, w, v):
        h = x * 1.5
        h *= w  # Mul's backward reads h's old value: the op keeps a copy
        h /= v  # Div's backward reads v and the output, h itself
        return h * Tensor(C)
    rng = np.random.default_rng(5)
    args = [Tensor(rng.uniform(0.5, 2.0, 3), requires_grad=True) for _ in range(3)]
    assert gradcheck(f, args)
    x, w, v = args
    f(x, w, v).sum().backward()
    np.testing.assert_allclose(w.grad.data, 1.5 * x.data * C / v.data)  # by hand


@pytest.mark.parametrize("change", ["+=", "add_"])
def test_a_backward_that_needs_the_old_value_refuses(change):
    x = Tensor(X, requires_grad=True)
    h = x * 2.0
    e = h * h  # Mul reads h: after the change its gradient would use 2x + 1
    if change == "+=":
        h += 1.0
    else:
        h.add_(1.0)
    with pytest.raises(RuntimeError, match=r"Mul\.backward: its input 0 .*" + IN_PLACE):
        (e + h).sum().backward()


def test_the_op_that_made_h_keeps_its_output_where_its_backward_reads_it():
    x = Tensor(X, requires_grad=True)
    y = x.exp()
    y += 1.0  # Exp's backward reads its output: the node from before keeps exp(x) (PyTorch refuses here)
    (y * C).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp(X) * C)
    np.testing.assert_allclose(y.data, np.exp(X) + 1)
    with no_grad():  # outside the graph, the same change is not recorded: Exp's output is gone
        z = x.exp()
    z = x.exp()
    with no_grad():
        z += 1.0
    with pytest.raises(RuntimeError, match=r"Exp\.backward: its output .*" + IN_PLACE):
        z.sum().backward()


def test_h_changed_by_itself():
    def f(x):
        h = x * 1.0
        h *= h  # Mul reads both inputs: the op keeps h's old value for both
        return h
    x = Tensor(X, requires_grad=True)
    np.testing.assert_allclose(f(x).data, X ** 2)
    assert gradcheck(f, [x])


@pytest.mark.parametrize("view", [lambda h: h[0:1], lambda h: h.T], ids=["h[0:1]", "h.T"])
def test_h_changed_by_a_view_of_itself_is_refused(view):
    h = Tensor(np.outer(X, C), requires_grad=True) * 1.0
    with pytest.raises(RuntimeError, match=r"\*=: the value \(shape \(.*\)\) is a view of the tensor changed in place"):
        h *= view(h)
    np.testing.assert_array_equal(h.data, np.outer(X, C))


def test_a_constant_changed_by_a_tensor_that_requires_grad_joins_the_graph():
    w = Tensor(X, requires_grad=True)
    c = Tensor(np.zeros(3))
    c += w
    assert c.requires_grad and not c.is_leaf
    (c * C).sum().backward()
    np.testing.assert_array_equal(w.grad.data, C)


def test_the_dtype_stays_the_tensors():
    x = Tensor(X.astype(np.float32), requires_grad=True)
    w = Tensor(X, requires_grad=True)  # float64
    h = x * 1.0
    h += w  # as NumPy and PyTorch: written into a float32 tensor, stays float32
    assert h.dtype == np.float32
    (h * C.astype(np.float32)).sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64
    np.testing.assert_allclose(w.grad.data, C, rtol=1e-6)


# --- what the graph could not follow is refused, before anything changes ---------------------

def test_a_leaf_that_requires_grad_and_its_views_are_refused():
    x = Tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\+=: cannot change a leaf that requires grad \(shape \(3,\)\)"):
        x += 1.0
    v = x[0:2]
    leaf_view = r"cannot change a view \(shape \(2,\)\) of a leaf that requires grad \(shape \(3,\)\)"
    with pytest.raises(RuntimeError, match=r"\+=: " + leaf_view):
        v += 1.0
    with pytest.raises(RuntimeError, match=r"\+=: " + leaf_view):
        x[0:2] += 1.0  # Python's x.__setitem__(s, x.__getitem__(s).__iadd__(1))
    with pytest.raises(RuntimeError, match=r"mul_: cannot change a view \(shape \(3, 1\)\) of a leaf"):
        x.reshape(3, 1).mul_(2.0)
    np.testing.assert_array_equal(x.data, X)


# --- a view changed in place: its base sees the change, in its values and in its graph (as PyTorch) ----

VIEW_CHANGES = {
    "h[0:2] *= 3": lambda h, v: h[0:2].__imul__(3.0),
    "h[0:2] += v (Python's getitem, iadd, setitem)": lambda h, v: h.__setitem__(slice(0, 2), h[0:2].__iadd__(v)),
    "h.reshape(3, 1).mul_(v[0])": lambda h, v: getattr(r := h.reshape(3, 1), "mul_", r.__imul__)(v[0]),
    "h[::-2] -= v": lambda h, v: h[::-2].__isub__(v),
    "h[1:][0] = v[1]": lambda h, v: h[1:].__setitem__(0, v[1]),
}


@pytest.mark.parametrize("change", VIEW_CHANGES)
def test_a_view_changed_in_place_inside_a_graph_changes_its_base(change):
    def f(x, v):
        h = x * x
        e = h + 1.0  # used before the change: sees x²
        VIEW_CHANGES[change](h, v)
        return (e * h).sum() + (h * h).sum()  # h after the change
    args = [Tensor(X, requires_grad=True), Tensor(np.array([0.7, -1.3]), requires_grad=True)]
    assert gradcheck(f, args)
    h_numpy = X * X
    VIEW_CHANGES[change](h_numpy, np.array([0.7, -1.3]))  # what NumPy does to the same array
    x = Tensor(X, requires_grad=True)
    h = x * x
    VIEW_CHANGES[change](h, Tensor(np.array([0.7, -1.3]), requires_grad=True))
    np.testing.assert_allclose(h.data, h_numpy)


def test_a_view_of_a_transposed_view():
    def f(x, v):
        h = x * 1.0  # (2, 3)
        h.T[1] += v  # h's column 1
        return h * h
    args = [Tensor(np.outer([1.0, -2.0], X), requires_grad=True), Tensor(np.array([0.5, 1.5]), requires_grad=True)]
    assert gradcheck(f, args)


def test_a_view_made_before_its_base_changed_in_the_graph_refuses_backward():
    x = Tensor(X, requires_grad=True)
    h = x * 2.0
    v = h[0:2]
    h *= 3.0  # v sees 6x, as in NumPy, but its graph says 2x
    np.testing.assert_array_equal(v.data, 6 * X[:2])
    with pytest.raises(RuntimeError, match=r"GetItem\.backward: its output .*changed in place inside the graph"):
        (v * C[:2]).sum().backward()


def test_broadcasting_cannot_grow_a_tensor_in_place():
    h = Tensor(X, requires_grad=True) * 2.0
    with pytest.raises(ValueError, match=r"\+=: the result has shape \(2, 3\), .* has shape \(3,\)"):
        h += Tensor(np.ones((2, 3)), requires_grad=True)
    np.testing.assert_array_equal(h.data, 2 * X)


def test_a_graph_freed_through_the_change_is_named():
    x = Tensor(X, requires_grad=True)
    h = x * 2.0
    e = h + 3.0
    h += 1.0
    h.sum().backward()  # frees the graph through the change
    with pytest.raises(RuntimeError, match=r"the graph through Mul was already freed"):
        e.sum().backward()


# --- the other modes: forward mode, Hessians, vmap -------------------------------------------

def cubic_in_place(x):
    h = x * 2.0
    h *= x  # 2x²
    h += x  # 2x² + x
    h *= x  # 2x³ + x²
    return h


def test_forward_mode_follows_the_change():
    out, tangent = func.jvp(cubic_in_place, (Tensor(X),), (Tensor(C),))
    np.testing.assert_allclose(out.data, 2 * X ** 3 + X ** 2)
    np.testing.assert_allclose(tangent.data, (6 * X ** 2 + 2 * X) * C)  # by hand


def test_hessian_and_vmap_through_in_place_changes():
    def scalar(x):
        return cubic_in_place(x).sum()
    np.testing.assert_allclose(func.hessian(scalar)(Tensor(X)).data, np.diag(12 * X + 2))  # by hand
    rows = np.stack([X, C])
    np.testing.assert_allclose(func.vmap(func.grad(scalar))(Tensor(rows)).data, 6 * rows ** 2 + 2 * rows)


def test_the_drawn_graph_shows_the_node_an_earlier_op_used():
    from minigrad.viz import graph_nodes
    x = Tensor(X, requires_grad=True)
    h = x * 2.0
    made_h = h.grad_fn
    e = h + 3.0
    h *= 2.0
    order, edges = graph_nodes(e + h)
    assert [a.grad_fn for a, b in edges if b is e] == [made_h]  # the op that made h, not the change
    assert [type(a.grad_fn).__name__ for a, b in edges if b is h] == ["Mul"] and made_h is not h.grad_fn
    assert len(order) == len({id(t) for t in order}) == 5  # x, h before, e, h, e + h


# --- item assignment, fill_, zero_, copy_: recorded too, as PyTorch records them -------------------

def test_item_assignment_in_a_graph_is_recorded():
    x = Tensor(X, requires_grad=True)
    v = Tensor([5.0], requires_grad=True)
    h = x * 2.0
    h[1] = v[0] * 3.0
    np.testing.assert_array_equal(h.data, [1.0, 15.0, 4.0])
    (h * C).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2 * C[0], 0.0, 2 * C[2]])  # by hand: h[1] no longer depends on x
    np.testing.assert_allclose(v.grad.data, [3 * C[1]])


@pytest.mark.parametrize("index", [slice(0, 2), np.array([2, 0]), np.array([True, False, True]), (Ellipsis,)],
                         ids=["slice", "integers", "mask", "ellipsis"])
def test_item_assignment_matches_finite_differences(index):
    def f(x, v):
        h = x * x
        h[h.data < 0.5] = 0.0  # pruning, as the notes' students write it
        h[index] = v * 2.0
        return h.exp()
    chosen = np.arange(3)[index].size
    assert gradcheck(f, [Tensor(X, requires_grad=True), Tensor(np.linspace(-1, 1, chosen), requires_grad=True)])


def test_fill_zero_and_copy_in_a_graph():
    def f(x, v):
        h = x * 1.0
        h.zero_()
        h.fill_(2.0)
        g = x * 3.0
        g.copy_(v)  # v broadcasts to g's shape: its gradient is summed
        return h * g * x
    assert gradcheck(f, [Tensor(X, requires_grad=True), Tensor(np.array([1.5]), requires_grad=True)])


def test_an_index_that_names_an_element_twice_is_refused_in_a_graph():
    h = Tensor(X, requires_grad=True) * 1.0
    with pytest.raises(ValueError, match=r"item assignment: the index names an element more than once"):
        h[np.array([0, 0])] = Tensor([1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal(h.data, X)


def test_inside_vmap_an_in_place_method_in_a_graph_is_refused():
    def f(x):
        h = x * 2.0
        h.add_(1.0)  # vmap's batch rules make new tensors: h itself could not change
        return h.sum()
    with pytest.raises(RuntimeError, match=r"add_: inside vmap, a tensor in a graph cannot be changed in place"):
        func.vmap(func.grad(f))(Tensor(np.ones((2, 3))))


@pytest.mark.parametrize("grad_on", [True, False])
def test_an_index_out_of_range_is_named(grad_on):
    h = Tensor(X, requires_grad=True) * 1.0
    with minigrad.set_grad_enabled(grad_on):
        with pytest.raises(IndexError, match=r"item assignment: index 5 is out of bounds .*\(tensor shape \(3,\)"):
            h[5] = 1.0


def test_another_view_made_before_the_change():
    """A view made before a change through another view: fine where they do not overlap, refused where
    they do (its graph does not know of the change; PyTorch would rebuild it)."""
    def f(x, overlapping):
        h = x * 1.0
        first = h[0:2] if overlapping else h[0:1]
        h[1:3] *= 2.0
        return (first * first).sum() + (h * C).sum()
    assert gradcheck(lambda x: f(x, False), [Tensor(X, requires_grad=True)])
    with pytest.raises(RuntimeError, match=r"GetItem\.backward: its output .*changed in place inside the graph"):
        f(Tensor(X, requires_grad=True), True).backward()


def test_building_a_tensor_from_a_constant_with_item_updates():
    def f(w):
        c = minigrad.ones(3)  # a constant: no graph, until a value that requires grad is written into it
        c[0:2] *= w
        c[1:] += w
        c[2] = w[0] * 5.0
        return c * c
    assert gradcheck(f, [Tensor(np.array([0.7, -1.3]), requires_grad=True)])
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = minigrad.zeros(3)
    c[0:2] += w
    (c * Tensor([3.0, 4.0, 5.0])).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [3.0, 4.0])  # by hand


def test_item_assignment_of_a_number_in_a_graph():
    x = Tensor(X, requires_grad=True)
    h = x * 2.0
    h[1] = 5.0
    h[2:] = [7.0]
    np.testing.assert_array_equal(h.data, [1.0, 5.0, 7.0])
    (h * C).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2 * C[0], 0.0, 0.0])


def test_a_view_of_a_constant_changed_by_a_value_that_requires_grad():
    """Its base has no graph to take the change: `v += w` makes a new tensor (so c keeps values its
    graph explains), as `c[0:2] += w` begins before its item assignment records the change on c."""
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = minigrad.zeros(3)
    v = c[0:2]
    v += w
    assert v.grad_fn is not None and not c.requires_grad
    np.testing.assert_array_equal(c.data, [0.0, 0.0, 0.0])
    with pytest.raises(RuntimeError, match=r"add_: a view made outside any graph .* cannot be changed in place"):
        c[0:2].add_(w)
    np.testing.assert_array_equal(c.data, [0.0, 0.0, 0.0])
