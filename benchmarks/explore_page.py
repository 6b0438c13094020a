"""Start-up and click time of ``sagan explore``, measured in a real browser; and its screenshot.

It starts ``sagan explore SOURCE`` on a free port as a user would (a fresh Python
process), opens the page in headless Chromium and reports:

- start-up: from starting the command to the page being interactive (its first view
  drawn in the browser: the large image and the map panel are there);
- click: from a click on the large image to the page showing that query's maps,
  median and maximum over ``--clicks`` clicks.

Every request that does not go to the local server is aborted and counted. With
``--screenshot PATH`` it then places 4 queries ("auto queries") and saves the page.

    python benchmarks/explore_page.py SOURCE [--clicks 10] [--class NAME]
        [--screenshot docs/explore-page.png] [--json PATH]

Needs the app and dev extras (Gradio, Playwright) and Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_when_up(page, port: int, server: subprocess.Popen, timeout: float = 120.0) -> None:
    """Load the page as soon as the server accepts connections (polled with a bare socket, so
    that waiting costs the machine next to nothing)."""
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise SystemExit(f"sagan explore exited with status {server.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.monotonic() > deadline:
            raise SystemExit(f"sagan explore did not serve within {timeout:.0f} s")
        time.sleep(0.05)
    page.goto(f"http://127.0.0.1:{port}")


# An answer is on the page when the map panel's points are not `points` and the large image
# is a new one, painted (a click while the large image is being replaced would be lost).
SHOWN = """([points, src]) => {
    const img = document.querySelector('#sagan-view img');
    const cards = document.querySelector('#sagan-map-cards');
    return cards !== null && img !== null && cards.dataset.points !== points
        && img.src !== src && img.complete && img.naturalWidth > 0;
}"""


def shown(page) -> list:
    """What SHOWN compares with: the map panel's points and the large image's address."""
    return [
        page.locator("#sagan-map-cards").get_attribute("data-points"),
        page.locator("#sagan-view img").get_attribute("src"),
    ]


def when_serving(server: subprocess.Popen, start: float, out: list[float]) -> None:
    """Note when the command prints its "serving SOURCE at URL" line."""
    for line in server.stdout:
        if line.startswith("serving "):
            out.append(time.perf_counter() - start)


def time_clicks(page, n: int) -> list[float]:
    """Seconds from each click on the large image to its maps and image on the page."""
    view = page.locator("#sagan-view img")
    box = view.bounding_box()
    times = []
    for i in range(n):
        fx, fy = 0.1 + 0.8 * ((i * 0.37) % 1), 0.1 + 0.8 * ((i * 0.61) % 1)
        before = shown(page)
        start = time.perf_counter()
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.wait_for_function(SHOWN, arg=before)
        times.append(time.perf_counter() - start)
    return times


def screenshot(page, path: Path) -> None:
    """The page with four queries placed by "auto queries"."""
    before = shown(page)
    page.locator("#sagan-auto").click()
    page.wait_for_function(SHOWN, arg=before)
    page.wait_for_function("() => document.querySelector('#sagan-figure img').complete")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def measure(args: argparse.Namespace) -> dict:
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    blocked: list[str] = []

    def only_local(route) -> None:
        if route.request.url.startswith(url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", only_local)
        page = context.new_page()
        page.set_default_timeout(30_000)
        command = [sys.executable, "-m", "sagan", "explore", args.source, "--port", str(port)]
        start = time.perf_counter()
        server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        served: list[float] = []  # when the command said it serves
        threading.Thread(target=when_serving, args=(server, start, served), daemon=True).start()
        try:
            open_when_up(page, port, server)
            page.wait_for_function(SHOWN, arg=[None, None])
            startup = time.perf_counter() - start
            if args.cls is not None:
                before = shown(page)
                page.locator("#sagan-class input").click()
                page.get_by_role("option", name=args.cls, exact=True).click()
                page.wait_for_selector(f'#sagan-map-cards[data-class-name="{args.cls}"]')
                page.wait_for_function(SHOWN, arg=[None, before[1]])
            clicks = time_clicks(page, args.clicks)
            if args.screenshot:
                screenshot(page, Path(args.screenshot))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            browser.close()
    return {
        "source": args.source,
        "startup_s": round(startup, 2),
        "server_ready_s": round(served[0], 2) if served else None,
        "click_median_s": round(statistics.median(clicks), 3),
        "click_max_s": round(max(clicks), 3),
        "clicks": len(clicks),
        "blocked_requests": blocked,
        "cpu_threads": os.cpu_count(),
    }


def parse_args() -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="run folder, checkpoint or exported folder")
    parser.add_argument("--clicks", type=int, default=10)
    parser.add_argument("--class", dest="cls", help="a class name to pick before clicking")
    parser.add_argument("--screenshot", help="save the page with 4 queries to this PNG")
    parser.add_argument("--json", help="also write the numbers to this file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    result = measure(args)
    print(
        f"start-up to interactive: {result['startup_s']:.1f} s "
        f"(the command serving after {result['server_ready_s']:.1f} s)"
    )
    print(
        f"click to its maps shown: median {result['click_median_s']:.2f} s, "
        f"max {result['click_max_s']:.2f} s over {result['clicks']} clicks"
    )
    print(f"requests not to the local server (aborted): {len(result['blocked_requests'])}")
    if args.screenshot:
        print(f"wrote {args.screenshot}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
