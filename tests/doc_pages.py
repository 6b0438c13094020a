"""The documentation's pages (README.md and docs/*.md) and what their text holds: bash
blocks, the command lines in them, Python blocks and relative links."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")


def name(page: Path) -> str:
    """The page's path relative to the repository, e.g. 'docs/training.md'."""
    return page.relative_to(ROOT).as_posix()


def blocks(page: Path, lang: str) -> list[str]:
    """The bodies of the page's fenced code blocks in ``lang`` ('' for unlabelled ones)."""
    return [body for tag, body in FENCE.findall(page.read_text()) if tag == lang]


def shell_lines(page: Path) -> list[str]:
    """The command lines of the page's bash blocks: continuations joined, comments and
    blank lines dropped."""
    found = []
    for block in blocks(page, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                found.append(line)
    return found


def all_shell_lines() -> list[tuple[str, str]]:
    """(page, line) for every distinct command line, each at the first page that shows it
    (the README first)."""
    seen: dict[str, str] = {}
    for page in PAGES:
        for line in shell_lines(page):
            seen.setdefault(line, name(page))
    return [(page, line) for line, page in seen.items()]


def split_env(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading ``NAME=value`` words of a command line, and the rest."""
    env = {}
    while argv and ENV_ASSIGNMENT.match(argv[0]):
        key, value = argv.pop(0).split("=", 1)
        env[key] = value
    return env, argv


def prose(page: Path) -> str:
    """The page's text without fenced blocks and inline code, where links live."""
    text = FENCE.sub("", page.read_text())
    return re.sub(r"`[^`\n]*`", "", text)


def links(page: Path) -> list[str]:
    """Every link and image target of the page: Markdown ``[..](target)`` and
    ``![..](target)``, and HTML ``src=`` and ``href=``."""
    text = prose(page)
    found = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
    return found + re.findall(r"(?:src|href)=\"([^\"]+)\"", text)


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped,
    spaces to hyphens."""
    slugs = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", page.read_text()), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        slugs.add(slug)
    return slugs
