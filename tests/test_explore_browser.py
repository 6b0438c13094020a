"""``sagan explore`` in a real browser (headless Chromium through Playwright).

The page of a tiny checkpoint is served on a free local port; the browser picks a class,
clicks two points, reads back the maps the page shows and compares them with the .npz
that ``sagan attention`` writes for the same queries, switches to D, uploads a broken
and a good image, and downloads the figure. Every request that does not go to the local
server is aborted and recorded: the page must work without them, and there should be none.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sagan.cli import main

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
R = 16  # the digits preset's resolution
CLASSES = ("cat", "dog", "owl")


def _needs(reason: str | None) -> None:
    """Skip outside CI when the browser or its driver is missing; in CI that is a failure."""
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: .ci/run installs it")
    pytest.skip(f"{reason}; CI installs it and runs this test")


def _missing() -> str | None:
    try:
        import gradio  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as e:
        return f"{e.name} is not installed (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no browser at {CHROMIUM} (apt-get install chromium)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A 4-step run of the digits preset and its page, served in this process on a free port.

    The run trains on a small folder of three named classes rather than on the digits, whose
    end-of-run scoring would train the digits classifier first (a minute on this CPU)."""
    _needs(_missing())
    from sagan.commands.explore import import_gradio, launch, load_models
    from sagan.commands.explore_page import build_page
    from sagan.commands.explore_view import Explorer

    root = tmp_path_factory.mktemp("explore")
    rng = np.random.default_rng(0)
    for name in CLASSES:
        (root / "data" / name).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 256, (R, R, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "data" / name / f"{i}.png")
    out = root / "runs"
    argv = ["train", "--data", str(root / "data"), "--steps", "4", "--batch", "8"]
    assert main([*argv, "--out", str(out), "--no-tensorboard"]) == 0
    run = next(out.iterdir())
    gr = import_gradio()
    G, D, names = load_models(str(run), "cpu")
    explorer = Explorer(G, D, names)
    page, _ = build_page(gr, explorer, "sagan explore: test")
    port = _free_port()
    launch(gr, page, "127.0.0.1", port)
    yield run, f"http://127.0.0.1:{port}"
    page.close()
    shutil.rmtree(explorer.workdir, ignore_errors=True)


def _cards(page) -> list[dict]:
    """The raw maps the page shows: data attributes and the decoded greyscale image."""
    cards = []
    for card in page.locator("figure.sagan-map").all():
        data = card.evaluate("e => Object.assign({}, e.dataset)")
        src = card.locator("img").get_attribute("src")
        png = base64.b64decode(src.split(",", 1)[1])
        data["pixels"] = np.asarray(Image.open(io.BytesIO(png)), dtype=np.float64)
        data["values"] = np.array([float(v) for v in data["values"].split(",")])
        cards.append(data)
    return cards


def _wait(page, count: int, before: str | None = None, **attrs: str) -> None:
    """Until the map panel shows ``count`` maps (and ``attrs``) and the large image is a new
    one (not ``before``), painted: a click while it is being replaced would be lost."""
    selector = "".join(f'[data-{k}="{v}"]' for k, v in attrs.items())
    page.wait_for_selector(f'#sagan-map-cards[data-count="{count}"]{selector}')
    page.wait_for_function(
        """before => { const img = document.querySelector('#sagan-view img');
            return img.src !== before && img.complete && img.naturalWidth > 0; }""",
        arg=before,
    )


def _large(page) -> str:
    return page.locator("#sagan-view img").get_attribute("src")


def _raw_maps(run: Path, tmp_path: Path, cards: list[dict], network: str, cls: int) -> np.ndarray:
    """The rows of ``sagan attention``'s .npz for the cards' query points."""
    points = ";".join(f"{c['x']},{c['y']}" for c in cards)
    out = tmp_path / f"attention-{network}.png"
    argv = ["attention", "--ckpt", str(run), "--out", str(out), "--class", str(cls)]
    assert main([*argv, "--seed", "0", "--network", network, "--queries", points]) == 0
    raw = np.load(out.with_suffix(".npz"))
    assert [int(c["query"]) for c in cards] == list(raw["queries_0"])
    return raw["map_0"][raw["queries_0"]]


def _same_as_npz(cards: list[dict], rows: np.ndarray) -> None:
    for card, row in zip(cards, rows):
        np.testing.assert_allclose(card["values"], row, rtol=0, atol=1e-6)
        top = float(card["max"])
        shown = card["pixels"].reshape(-1) / 255.0 * top  # the image's known scale
        np.testing.assert_allclose(shown, row, rtol=0, atol=top / 510 + 1e-6)


def test_the_page_shows_the_maps_sagan_attention_writes(served, tmp_path):
    from playwright.sync_api import sync_playwright

    run, url = served
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1280, "height": 1400}, accept_downloads=True
        )
        context.route("**/*", only_local)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(url)
        _wait(page, 0, seed="0")

        before = _large(page)
        page.locator("#sagan-class input").click()
        page.get_by_role("option", name="owl", exact=True).click()
        _wait(page, 0, before, **{"class": "2"})

        view = page.locator("#sagan-view img")
        box = view.bounding_box()
        for n, (x, y) in enumerate([(3.5, 4.5), (12.5, 11.5)], start=1):
            before = _large(page)
            page.mouse.click(box["x"] + x / R * box["width"], box["y"] + y / R * box["height"])
            _wait(page, n, before)
        cards = _cards(page)
        assert [c["slot"] for c in cards] == ["0", "1"]
        for card, (x, y) in zip(cards, [(3.5, 4.5), (12.5, 11.5)]):
            assert abs(float(card["x"]) - x) < 0.1 and abs(float(card["y"]) - y) < 0.1
        assert np.abs(cards[0]["values"] - cards[1]["values"]).max() > 1e-4
        assert not np.array_equal(cards[0]["pixels"], cards[1]["pixels"])
        _same_as_npz(cards, _raw_maps(run, tmp_path, cards, "g", 2))

        page.get_by_label("D, on this sample").check()
        _wait(page, 2, network="D")
        d_cards = _cards(page)
        _same_as_npz(d_cards, _raw_maps(run, tmp_path, d_cards, "d", 2))

        with page.expect_download() as download:
            page.locator("#sagan-download").click()
        figure = Image.open(download.value.path())
        figure.load()
        assert figure.format == "PNG" and figure.width > 500 and figure.height > 200

        upload = page.locator("#sagan-upload input[type=file]")
        broken = tmp_path / "broken.png"
        broken.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
        upload.set_input_files(str(broken))
        page.wait_for_selector("#sagan-status:has-text('Upload refused')")
        assert "not a readable image" in page.locator("#sagan-status").inner_text()
        assert page.locator("#sagan-map-cards").get_attribute("data-source") == "generated"
        good = tmp_path / "good.png"
        Image.fromarray(
            np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
        ).save(good)
        upload.set_input_files(str(good))
        _wait(page, 2, source="upload")
        browser.close()
    assert outside == [], f"the page tried to reach {outside}"


def test_the_benchmark_times_start_up_and_clicks_and_saves_a_screenshot(served, tmp_path):
    import json
    import subprocess
    import sys

    run, _ = served
    shot, numbers = tmp_path / "page.png", tmp_path / "numbers.json"
    argv = [sys.executable, "benchmarks/explore_page.py", str(run), "--clicks", "2"]
    argv += ["--class", "dog", "--screenshot", str(shot), "--json", str(numbers)]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(numbers.read_text())
    assert 0 < result["startup_s"] < 120 and 0 < result["click_median_s"] <= result["click_max_s"]
    assert result["clicks"] == 2 and result["blocked_requests"] == []
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.width == 1280 and image.height > 900
