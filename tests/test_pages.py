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


def test_attention_page_opens_on_the_query_asked_for_and_names_models_and_repeated_keys(open_page, tmp_path):
    w = np.random.default_rng(4).dirichlet(np.ones(6), size=(3, 2, 6))        # 3 maps of (H=2, T=6, S=6)
    keys = ["8", "6", "0", "0", "5", "0"]
    path = explain_attention(list(w), TOKENS, tmp_path / "models.html", key_tokens=keys, query="bank",
                             layer_label="model")
    page = open_page(path)
    assert page.locator("#layers").inner_text().startswith("Model:")
    assert page.locator("#layers button").all_inner_texts() == ["model 1", "model 2", "model 3"]
    assert page.locator("#lines text.selected").text_content() == "bank"      # before any mouse or key
    np.testing.assert_allclose(shown_weights(page)[1], w[0, 1, 0], atol=5e-4)
    headers = page.locator("#numbers tr").first.locator("th").all_inner_texts()[1:]
    assert headers == ["8", "6", "2: 0", "3: 0", "5", "5: 0"]                 # repeats told apart by position
    assert page.locator("#lines text[data-key]").all_text_contents() == headers
    page = open_page(explain_attention(w[0], TOKENS, tmp_path / "river.html", query=3))
    assert page.locator("#layers").inner_text().startswith("Layer:")
    assert page.locator("#lines text.selected").text_content() == "river"
    page = open_page(explain_attention(w[0, :, :3, :3], ["to", "bank", "to"], tmp_path / "to.html", query="bank"))
    assert page.locator("#lines text[data-query]").all_text_contents() == ["0: to", "bank", "2: to"]
    with pytest.raises(ValueError, match=r"query='boat' is neither a token of .* nor an index in \[0, 6\)"):
        explain_attention(w[0], TOKENS, tmp_path / "x.html", query="boat")


def test_attention_page_moves_the_query_with_the_arrow_keys(open_page, tmp_path):
    w = np.random.default_rng(5).dirichlet(np.ones(6), size=(2, 6))           # (H, T, S)
    page = open_page(explain_attention(w, TOKENS, tmp_path / "a.html"))
    for t in [1, 2, 3, 4, 5, 5]:                                              # ↓ stops at the last token
        page.keyboard.press("ArrowDown")
        assert page.locator("#lines text.selected").text_content() == TOKENS[t]
        for h, row in shown_weights(page).items():
            np.testing.assert_allclose(row, w[h, t], atol=5e-4)
    page.hover("#lines text[data-query='0']")                                 # moved by keys, the query stays chosen
    assert page.locator("#lines text.selected").text_content() == "muddy"
    page.keyboard.press("ArrowUp")
    assert page.locator("#lines text.selected").text_content() == "was"


def test_attention_page_hovering_a_key_shows_who_looks_at_it(open_page, tmp_path):
    w = np.random.default_rng(6).dirichlet(np.ones(6), size=(2, 6))           # (H, T, S)
    page = open_page(explain_attention(w, TOKENS, tmp_path / "a.html"))
    page.hover("#lines text[data-key='3']")                                   # "river": who looks at it?
    assert 'who looks at "river"' in page.locator("#caption").inner_text()
    assert page.locator("#numbers tr").first.locator("th").all_inner_texts()[1:] == TOKENS
    for h, row in shown_weights(page).items():
        np.testing.assert_allclose(row, w[h, :, 3], atol=5e-4)               # column 3: every query's weight on it
    lines = page.locator("#edges line")
    assert lines.count() == 2 * len(TOKENS)
    assert {lines.nth(i).get_attribute("data-key") for i in range(lines.count())} == {"3"}
    page.hover("#lines text[data-query='2']")                                 # off the key: where "the" looks again
    assert 'where "the"' in page.locator("#caption").inner_text()
    np.testing.assert_allclose(shown_weights(page)[0], w[0, 2], atol=5e-4)


def test_attention_page_thumbnails_label_their_axes(open_page, tmp_path):
    w = np.random.default_rng(7).dirichlet(np.ones(6), size=(2, 6))
    page = open_page(explain_attention([w, w], TOKENS, tmp_path / "a.html"))
    maps = page.locator("#grid .map")
    assert maps.count() == 4
    for i in range(4):
        assert maps.nth(i).locator(".axis.keys").inner_text() == "key →"
        assert maps.nth(i).locator(".axis.queries").inner_text() == "↓ query"
