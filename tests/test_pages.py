"""The HTML pages, loaded offline in headless Chromium (see conftest.py): what a student sees
when they hover, click and step, compared with the numbers the pages were written from."""
import numpy as np

from attention import TransformerEncoder, collect_attention, explain_attention

TOKENS = ["bank", "of", "the", "river", "was", "muddy"]


def shown_weights(page):
    """{head: [the numbers in that head's row]} as the page shows them now."""
    rows = page.locator("#numbers tr[data-head]")
    return {int(rows.nth(i).get_attribute("data-head")): [float(x) for x in rows.nth(i).locator("td").all_inner_texts()]
            for i in range(rows.count())}


def test_attention_page_shows_where_each_token_looks_in_every_head(open_page, tmp_path, screenshot_dir):
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
    shot = screenshot_dir / "attention_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:4] == b"\x89PNG"
