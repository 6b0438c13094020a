"""The documentation's shape: a short README that starts with the set-up, pages that open
with their commands, links that resolve, a command reference generated from the parsers,
and a faithfulness table that matches the models and the official variables.

The commands in the pages run in tests/test_readme.py.
"""

from __future__ import annotations

import importlib
import math
import re
from pathlib import Path

import pytest
import torch
from doc_pages import DOCS, PAGES, README, ROOT, anchors, blocks, links, name, shell_lines
from test_official_counts import official_discriminator_variables, official_generator_variables

from sagan.cli import build_parser
from sagan.cli_docs import cli_markdown, subcommands
from sagan.commands.common import model_config
from sagan.models import Discriminator, Generator

DOC_PAGES = sorted(DOCS.glob("*.md"))


def test_readme_is_short():
    assert len(README.read_bytes()) <= 12_000


def test_readme_starts_with_the_two_setup_commands():
    head = README.read_text().splitlines()[:40]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)
    first_block = blocks(README, "bash")[0].splitlines()
    assert first_block[0].startswith("make demo") and first_block[1].startswith("make test")


def test_readme_links_every_docs_page():
    linked = {(README.parent / t.split("#")[0]).resolve() for t in links(README)}
    assert {p.resolve() for p in DOC_PAGES} <= linked


@pytest.mark.parametrize("page", DOC_PAGES, ids=name)
def test_docs_page_opens_with_its_commands(page):
    lines = [line for line in page.read_text().splitlines() if line.strip()]
    assert lines[0].startswith("# "), "a page starts with its title"
    assert lines[1] == "```bash", "then a bash block with its commands"
    assert shell_lines(page) and page.read_text().split("```bash\n")[1].split("```")[0].strip()


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_links_resolve(page):
    """Every relative link and image resolves to a file in the repository, and every
    #anchor to a heading of its page."""
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.is_relative_to(ROOT) and file.is_file(), f"{name(page)}: {target}"
        if anchor:
            assert anchor in anchors(file), f"{name(page)}: no heading for {target}"


def test_cli_reference_is_generated_from_the_parsers():
    """docs/cli.md is exactly `python -m sagan.cli_docs`'s output: regenerate it with
    `python -m sagan.cli_docs > docs/cli.md` after changing an option."""
    assert (DOCS / "cli.md").read_text() == cli_markdown()


def test_cli_reference_lists_every_command_and_option():
    text = (DOCS / "cli.md").read_text()
    for parser, _ in subcommands(build_parser()):
        assert f"## `{parser.prog}`" in text
        section = text.split(f"## `{parser.prog}`\n")[1].split("\n## ")[0]
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help") and action.help != "==SUPPRESS==":
                    assert f"`{option}" in section, f"{parser.prog}: {option}"


def _rows(section: str) -> list[list[str]]:
    """The body rows of the first table under a heading of docs/faithfulness.md."""
    text = (DOCS / "faithfulness.md").read_text().split(f"## {section}\n")[1]
    table = [line for line in text.split("\n\n| ")[1].split("\n\n")[0].splitlines()]
    return [[c.strip() for c in row.strip("|").split(" | ")] for row in table[2:]]


def _expand(pattern: str) -> list[str]:
    """`blocks.{0..4}.cbn0` -> blocks.0.cbn0, ..., blocks.4.cbn0."""
    m = re.search(r"\{(\d+)\.\.(\d+)\}", pattern)
    if not m:
        return [pattern]
    lo, hi = int(m.group(1)), int(m.group(2))
    return [pattern[: m.start()] + str(i) + pattern[m.end() :] for i in range(lo, hi + 1)]


def _trainable(net: torch.nn.Module, path: str) -> dict[str, int]:
    try:
        module = net.get_submodule(path)
    except AttributeError:
        return {path: net.get_parameter(path).numel()}
    return {f"{path}.{k}": p.numel() for k, p in module.named_parameters() if p.requires_grad}


def test_faithfulness_table_matches_the_models_and_the_official_variables():
    """Each row of the layer-by-layer table: the sagan module's trainable parameters and
    the official variables under its scope both number what the row says, and the rows
    cover every parameter and every variable exactly once."""
    cfg = model_config("imagenet128", 1000)
    nets = {"G": Generator(cfg), "D": Discriminator(cfg)}
    official = {"G": official_generator_variables(), "D": official_discriminator_variables()}
    covered: dict[str, list[str]] = {"G": [], "D": []}
    used: dict[str, list[str]] = {"G": [], "D": []}
    for module, scope, _, count in _rows("Layer by layer"):
        net, path = module.strip("`").split(".", 1)
        scope = scope.split("`")[1]
        paths, scopes = _expand(path), _expand(scope)
        assert len(paths) == len(scopes), module
        ours = {k: v for p in paths for k, v in _trainable(nets[net], p).items()}
        theirs = {
            k: math.prod(shape)
            for s in scopes
            for k, shape in official[net].items()
            if k == s or k.startswith(s + "/")
        }
        expected = int(count.replace(",", ""))
        assert sum(ours.values()) == sum(theirs.values()) == expected, module
        covered[net] += ours
        used[net] += theirs
    for net in ("G", "D"):
        trainable = [k for k, p in nets[net].named_parameters() if p.requires_grad]
        assert sorted(covered[net]) == sorted(trainable), net
        assert sorted(used[net]) == sorted(official[net]), net


def test_equation_table_names_functions_that_hold_their_equation():
    for _, where, _ in _rows("Equation by equation"):
        file, function = (part.strip("`") for part in where.split(": "))
        module = importlib.import_module(Path(file).with_suffix("").as_posix().replace("/", "."))
        assert callable(getattr(module, function)), where
        assert getattr(module, function).__doc__, f"{where} has no docstring"
