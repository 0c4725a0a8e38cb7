"""The HTML pages, loaded offline in headless Chromium (see conftest.py): what a student sees
when they hover, click and step, compared with the numbers the pages were written from."""
import numpy as np
import pytest

import minigrad.functional as F
from attention import TransformerEncoder, collect_attention, explain_attention, self_attention
from minigrad import Tensor
from minigrad.viz import explain_backward, graph_nodes

TOKENS = ["bank", "of", "the", "river", "was", "muddy"]


def shown_weights(page):
    """{head: [the numbers in that head's row]} as the page shows them now."""
    rows = page.locator("#numbers tr[data-head]")
    return {int(rows.nth(i).get_attribute("data-head")): [float(x) for x in rows.nth(i).locator("td").all_inner_texts()]
            for i in range(rows.count())}


def test_attention_page_shows_where_each_token_looks_in_every_head(open_page, tmp_path):
    rng = np.random.default_rng(0)
    model = TransformerEncoder(vocab_size=10, d_model=8, n_heads=2, n_layers=2, d_ff=16, max_len=6,
                               n_classes=10, rng=rng)
    weights, names = collect_attention(model, rng.integers(0, 10, (1, 6)))
    page = open_page(explain_attention(weights, TOKENS, tmp_path / "attention.html", layer_names=names))

    assert page.locator("#layers button").all_inner_texts() == names
    for layer, w in enumerate(weights):                                       # w (1, H, T, T)
        page.click(f"#layers button[data-layer='{layer}']")
        for t in range(len(TOKENS)):
            page.hover(f"#lines text[data-query='{t}']")
            assert page.locator("#lines text.selected").text_content() == TOKENS[t]
            shown = shown_weights(page)
            assert sorted(shown) == [0, 1]
            for h, row in shown.items():
                np.testing.assert_allclose(row, w[0, h, t], atol=5e-4)        # printed with 3 decimals
            assert page.locator("#edges line").count() == 2 * len(TOKENS)  # one line per head and key

    page.click("#layers button[data-layer='0']")
    page.uncheck("#heads input[data-head='1']")                               # head 1 off: its row and lines go
    page.hover("#lines text[data-query='3']")
    assert sorted(shown_weights(page)) == [0]
    assert page.locator("#edges line[data-head='1']").count() == 0
    page.check("#heads input[data-head='1']")

    page.click("#lines text[data-query='1']")                                 # a click keeps "of" chosen...
    page.hover("#lines text[data-query='5']")                                 # ...while the mouse moves on
    np.testing.assert_allclose(shown_weights(page)[1], weights[0][0, 1, 1], atol=5e-4)
    page.click("#lines text[data-query='1']")                                 # click again: hovering works again
    page.hover("#lines text[data-query='5']")
    np.testing.assert_allclose(shown_weights(page)[1], weights[0][0, 1, 5], atol=5e-4)

    page.set_viewport_size({"width": 900, "height": 520})
    shot = tmp_path / "attention_page.png"    # (the gallery shows a trained model's page: tools/gallery_pages.py)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:4] == b"\x89PNG"


def the_notes_cosine():
    """cos(bank, river) after softmax(V Vᵀ) V, with the notes' V (demo 03)."""
    V = Tensor([[0.2815, 0.0562], [0.5227, -0.2384], [-0.0499, 0.5263], [-0.0085, 0.7291]], requires_grad=True)
    Y, _ = self_attention(V)
    cos = F.cosine_similarity(Y[0], Y[3], axis=0)
    return cos, {"V": V, "cos": cos}


def broadcast_and_fan_out():
    """x (3, 1) and b (4,) broadcast; h = x b used twice by one op, b by two ops."""
    x = Tensor(np.random.default_rng(3).standard_normal((3, 1)), requires_grad=True)
    b = Tensor(np.linspace(-1, 1, 4), requires_grad=True)
    h = x * b
    return (h * h + b).sum(), {"x": x, "b": b}


def shown_numbers(locator):
    """The numbers in one tensor view: its values, or its norm when it is too big to list."""
    cells = locator.locator("td").all_inner_texts() or locator.locator(".norm").all_inner_texts()
    return np.array([float(c) for c in cells])


@pytest.mark.parametrize("make", [the_notes_cosine, broadcast_and_fan_out])
def test_backward_page_steps_through_every_op_and_shows_the_traced_gradients(make, open_page, tmp_path,
                                                                                 screenshot_dir):
    loss, names = make()
    order = graph_nodes(loss)[0]
    node = {id(t): i for i, t in enumerate(order)}                          # the page numbers tensors so
    trace = explain_backward(loss, tmp_path / "backward.html", names=names)
    page = open_page(tmp_path / "backward.html")
    n_steps = len(trace.ops) + 1
    close = dict(rtol=1e-3, atol=1e-12)                                      # shown with 4 significant digits
    made = sorted(step["number"] for step in trace.ops)                      # the engine's numbers, which
    local = {number: k for k, number in enumerate(made, 1)}                  # the page shows as 1…n
    for k, step in enumerate(trace.ops):
        if k:
            page.keyboard.press("ArrowRight")
        assert page.locator("#counter").inner_text() == f"step {k + 1} / {n_steps}"
        heading = f"op #{local[step['number']]} {type(step['fn']).__name__}"
        assert heading in page.locator("#panel h2").inner_text()
        current = int(page.locator("#graph .node.current").get_attribute("data-node"))
        assert order[current] is step["output"]                                 # the graph lights up that op
        np.testing.assert_allclose(shown_numbers(page.locator("[data-role=arriving]")), step["grad"].ravel(), **close)
        receiving = {int(g.get_attribute("data-node")) for g in page.locator("#graph .node.receiving").all()}
        assert receiving == {node[id(x)] for x, _, _ in step["handed"]}
        for j, (x, raw, fitted) in enumerate(step["handed"]):
            np.testing.assert_allclose(shown_numbers(page.locator(f"[data-role=raw][data-input='{j}']")),
                                       raw.ravel(), **close)
            fitted_view = page.locator(f"[data-role=fitted][data-input='{j}']")
            assert fitted_view.count() == (raw.shape != fitted.shape)          # a sum-back only where broadcast
            if fitted_view.count():
                np.testing.assert_allclose(shown_numbers(fitted_view), fitted.ravel(), **close)
    page.keyboard.press("ArrowRight")
    assert page.locator("#counter").inner_text() == f"step {n_steps} / {n_steps}"
    for name, t in names.items():
        if t.grad_fn is None:
            leaf = page.locator(f"[data-role=leaf-grad][data-node='{node[id(t)]}']")
            np.testing.assert_allclose(shown_numbers(leaf), t.grad.data.ravel(), **close)
    page.keyboard.press("ArrowRight")                                          # past the end: stays
    assert page.locator("#counter").inner_text() == f"step {n_steps} / {n_steps}"
    page.keyboard.press("Home")
    assert page.locator("#counter").inner_text() == f"step 1 / {n_steps}"
    page.locator("#slider").fill("2")
    assert page.locator("#counter").inner_text() == f"step 3 / {n_steps}"
    page.click("#prev")
    assert page.locator("#counter").inner_text() == f"step 2 / {n_steps}"
    page.click("#last")
    assert page.locator("#counter").inner_text() == f"step {n_steps} / {n_steps}"

    if make is the_notes_cosine:
        page.click("#first")
        for _ in range(3):
            page.click("#next")                                              # MatMul: W V hands to W and V
        page.set_viewport_size({"width": 1240, "height": 760})
        shot = screenshot_dir / "03_bank_of_the_river_backward.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:4] == b"\x89PNG"


def test_backward_page_numbers_the_ops_shown_and_says_which_input_is_which(open_page, tmp_path):
    loss, names = the_notes_cosine()
    order = graph_nodes(loss)[0]
    made = sorted((t for t in order if t.grad_fn is not None), key=lambda t: t.grad_fn.number)
    explain_backward(loss, tmp_path / "backward.html", names=names)
    page = open_page(tmp_path / "backward.html")
    boxes = page.locator("#graph .node.op")
    shown = {int(boxes.nth(i).get_attribute("data-node")): boxes.nth(i).locator("text").first.text_content()
             for i in range(boxes.count())}
    # 1…n in the order the ops were made (Transpose first, the cosine last), whatever ran before
    assert sorted(shown.values(), key=lambda t: int(t.split("#")[1].split()[0])) == [
        f"{'cos: ' if t is loss else ''}#{k} {type(t.grad_fn).__name__}" for k, t in enumerate(made, 1)]
    index_of = {id(t): i for i, t in enumerate(order)}
    assert [index_of[id(t)] for t in made] == sorted(shown, key=lambda i: int(shown[i].split("#")[1].split()[0]))
    # Step 1: the cosine hands its gradient to a = Y[0] (bank) and b = Y[3] (river), named by index
    handed = page.locator("[data-role=handed-to]").all_inner_texts()
    assert handed == ["Handed to its input a = #5 GetItem[0] (2,)", "Handed to its input b = #6 GetItem[3] (2,)"]


def test_backward_page_shows_exact_zeros_as_0_and_other_numbers_with_4_digits(open_page, tmp_path):
    loss, names = the_notes_cosine()
    trace = explain_backward(loss, tmp_path / "backward.html", names=names)
    page = open_page(tmp_path / "backward.html")
    for _ in range(3):
        page.keyboard.press("ArrowRight")                                    # MatMul W V: rows 1, 2 of its grad are 0
    arriving = trace.ops[3]["grad"].ravel()
    cells = page.locator("[data-role=arriving] td").all_inner_texts()
    assert (arriving == 0).sum() == 4
    for cell, value in zip(cells, arriving, strict=True):
        if value == 0:
            assert cell == "0"
        else:
            assert len(cell.lstrip("-").replace(".", "").lstrip("0")) == 4, cell    # 4 significant digits
            np.testing.assert_allclose(float(cell), value, rtol=1e-3)


def test_backward_page_edges_run_around_the_boxes_they_skip(open_page, tmp_path):
    loss, names = the_notes_cosine()                                         # V feeds Transpose and two MatMuls
    n_edges = len(graph_nodes(loss)[1])
    explain_backward(loss, tmp_path / "backward.html", names=names)
    page = open_page(tmp_path / "backward.html")
    crossings = page.evaluate("""() => {
      const boxes = [...document.querySelectorAll('#graph .node')].map(g => [g.dataset.node, g.querySelector('rect')]);
      const found = [];
      document.querySelectorAll('#graph .edge').forEach(edge => {
        const length = edge.getTotalLength();
        for (let k = 1; k < 100; k++) {
          const p = edge.getPointAtLength(length * k / 100);
          for (const [node, rect] of boxes) {
            if (node === edge.dataset.from || node === edge.dataset.to) continue;
            const x = rect.x.baseVal.value, y = rect.y.baseVal.value;
            if (p.x > x && p.x < x + rect.width.baseVal.value && p.y > y && p.y < y + rect.height.baseVal.value)
              found.push(`${edge.dataset.from}->${edge.dataset.to} crosses ${node}`);
          }
        }
      });
      return [...new Set(found)];
    }""")
    assert page.locator("#graph .edge").count() == n_edges == 10 and crossings == []
