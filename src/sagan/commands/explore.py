"""``sagan explore``: a local web page to point at a pixel and see where attention looks.

Pick a class, a seed and a truncation; click the image to place up to 4 queries; each
attention layer's maps, arrows, gamma and key grid are drawn, for G or (given a
checkpoint or run folder) D, on a sample or an uploaded image. The figure downloads as
the PNG that ``sagan attention`` draws. The page works offline: it loads nothing from
the internet and sends nothing out.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

from sagan.errors import SaganError

INSTALL = "pip install 'sagan[app]'"
MAX_UPLOAD = "20mb"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``explore`` and its options."""
    p = sub.add_parser(
        "explore", help="explore attention maps in a local web page", description=__doc__
    )
    p.add_argument("source", metavar="SOURCE", help="run folder, checkpoint or exported folder")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to serve on (default 127.0.0.1: this machine only)",
    )
    p.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument(
        "--check",
        action="store_true",
        help="load SOURCE, build the page, draw its first view and check the port, then exit without serving",
    )
    p.set_defaults(run=run)


def import_gradio():
    """Gradio with its telemetry and version check off, or a one-line error naming the extra."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import gradio
    except ImportError:
        raise SaganError(f"sagan explore needs Gradio, which is not installed: {INSTALL}") from None
    return gradio


def load_models(source: str, device):
    """(G, D or None, class names) for SOURCE, through ``sagan.pretrained``: an exported
    folder or a Hub id gives G only; a checkpoint or run folder gives G and D. G is the one
    ``sagan attention`` draws: EMA weights when kept."""
    from sagan.pretrained import load

    loaded = load(source, device=device)
    D = loaded.discriminator(device) if loaded.checkpoint is not None else None
    return loaded.G, D, loaded.class_names


def is_loopback(host: str) -> bool:
    """Whether HOST reaches this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Fail with a one-line error when HOST:PORT cannot be served on (in use, or not ours)."""
    if not 1 <= port <= 65535:
        raise SaganError(f"--port must be between 1 and 65535, got {port}")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror:
        raise SaganError(f"--host {host!r} is not an address of this machine") from None
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise SaganError(f"port {port} on {host} is in use: pass another --port") from None
            raise SaganError(
                f"cannot serve on {host}:{port} ({e.strerror}): check --host and --port"
            ) from None


def page_url(host: str, port: int) -> str:
    """The address to open in a browser."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def run(args: argparse.Namespace) -> None:
    """Load SOURCE, build the page and serve it until Ctrl-C (or, with --check, exit)."""
    started = time.perf_counter()
    gr = import_gradio()
    from sagan.commands.explore_page import build_page
    from sagan.commands.explore_view import Explorer
    from sagan.training.state import resolve_device

    G, D, names = load_models(args.source, resolve_device(args.device))
    explorer = Explorer(G, D, names)
    title = f"sagan explore: {Path(args.source).resolve().name}"
    try:
        check_port(args.host, args.port)
        if not is_loopback(args.host):
            print(
                f"warning: --host {args.host} opens the page to the network: anyone who can "
                f"reach this machine on port {args.port} can use it",
                file=sys.stderr,
            )
        page, _ = build_page(gr, explorer, title)
        if args.check:
            print(explorer.describe())
            print(
                f"page built and drawn in {time.perf_counter() - started:.1f} s; {page_url(args.host, args.port)} is free (--check: not serving)"
            )
            return
        serve(gr, page, args, started)
    finally:
        shutil.rmtree(explorer.workdir, ignore_errors=True)


def launch(gr, page, host: str, port: int) -> None:
    """Start serving the page in the background: local files only, no share link, no
    telemetry, uploads up to 20 MB, every event in one queue slot."""
    from sagan.commands.explore_page import CSS, theme

    page.queue(default_concurrency_limit=1)
    try:
        page.launch(
            server_name=host,
            server_port=port,
            share=False,
            prevent_thread_lock=True,
            quiet=True,
            inbrowser=False,
            ssr_mode=False,
            pwa=False,
            mcp_server=False,
            enable_monitoring=False,
            run_history=False,
            footer_links=["settings"],
            max_file_size=MAX_UPLOAD,
            theme=theme(gr),
            css=CSS,
        )
    except OSError:  # the port was taken between the check and the start
        raise SaganError(f"port {port} on {host} is in use: pass another --port") from None


def serve(gr, page, args: argparse.Namespace, started: float) -> None:
    """Serve the page until Ctrl-C (or SIGTERM)."""
    launch(gr, page, args.host, args.port)
    # A scheduler's SIGTERM stops the page as Ctrl-C does, so the figures' folder is removed.
    signal.signal(signal.SIGTERM, _interrupt)
    url = page_url(args.host, args.port)
    print(
        f"serving {args.source} at {url} (ready in {time.perf_counter() - started:.1f} s; Ctrl-C stops)",
        flush=True,
    )
    try:
        page.block_thread()
    finally:
        page.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
