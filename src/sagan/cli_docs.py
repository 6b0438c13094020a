"""docs/cli.md, written from the command line's own argparse parsers, so it cannot drift.

``python -m sagan.cli_docs > docs/cli.md`` regenerates the page; tests/test_docs.py checks
that the committed page equals this module's output.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from sagan.cli import build_parser

HEADER = """\
# Command reference

```bash
python -m sagan.cli_docs > docs/cli.md  # regenerate this page from the parsers
sagan --help
sagan train --help
sagan experiment limited-data --help
```

Every command and option of `sagan`, generated from its argparse parsers
(`src/sagan/cli_docs.py`); `tests/test_docs.py` fails when this page and the parsers
differ. `python -m sagan ...` is the same as `sagan ...`, and `sagan` alone runs
`sagan train`. Options whose default depends on the preset or the device say so. Input
errors print one line starting with `error:` and exit with status 2; `--debug` (before the
command) shows the traceback instead.
"""


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.ArgumentParser, str]]:
    """Each command's parser with its one-line help, depth first (``experiment``'s kinds
    after ``experiment``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield sub, helps.get(name, "")
                yield from subcommands(sub)


def synopsis(parser: argparse.ArgumentParser) -> str:
    """A one-line synopsis: the command, its required options, ``[options]`` and its
    positional arguments, e.g. ``sagan eval (--ckpt SOURCE | --fake FAKE) [options]``."""
    parts, grouped = [parser.prog], set()
    for group in parser._mutually_exclusive_groups:
        grouped.update(id(a) for a in group._group_actions)
        if group.required:
            parts.append("(" + " | ".join(invocation(a) for a in group._group_actions) + ")")
    optional = False
    for a in parser._actions:
        if not shown(a) or not a.option_strings or id(a) in grouped:
            optional = optional or (shown(a) and bool(a.option_strings) and id(a) in grouped)
            continue
        if a.required:
            parts.append(invocation(a))
        else:
            optional = True
    parts += ["[options]"] if optional else []
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            parts.append(f"{a.metavar or 'COMMAND'} ...")
        elif not a.option_strings:
            parts.append(invocation(a))
    return " ".join(parts)


def invocation(action: argparse.Action) -> str:
    """How an option is written: ``--steps STEPS``, ``--sn {both,d,g,none}``, ``--ema``."""
    if action.choices and not isinstance(action.choices, dict):
        value = "{" + ",".join(str(c) for c in action.choices) + "}"
    else:
        value = action.metavar or action.dest.upper()
    if not action.option_strings:
        return str(value)
    flags = ", ".join(action.option_strings)
    return flags if action.nargs == 0 else f"{flags} {value}"


def expanded_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The option's help with argparse's %(...)s substitutions made, as ``--help`` shows it."""
    text = argparse.HelpFormatter(parser.prog)._expand_help(action) if action.help else ""
    default = action.default
    unset = default is None or default is False or default == argparse.SUPPRESS
    if not unset and "default" not in text:
        text = f"{text} (default {default})" if text else f"default {default}"
    return text


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def shown(action: argparse.Action) -> bool:
    """Whether ``--help`` lists the action as an option (not help, subcommands or hidden)."""
    hidden = action.help == argparse.SUPPRESS
    return not hidden and not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))


def option_tables(parser: argparse.ArgumentParser) -> list[str]:
    """One table per argument group, in the order ``--help`` shows them."""
    lines: list[str] = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if shown(a)]
        if not actions:
            continue
        lines += ["", f"*{group.title}*", "", "| option | meaning |", "|---|---|"]
        for a in actions:
            lines.append(f"| `{cell(invocation(a))}` | {cell(expanded_help(parser, a))} |")
    return lines


def kinds(parser: argparse.ArgumentParser) -> list[str]:
    """A bullet list of a command's own subcommands (``experiment``'s kinds), if any."""
    lines: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            lines.append("")
            for a in action._choices_actions:
                lines.append(f"- `{parser.prog} {a.dest}`: {cell(a.help or '')}")
    return lines


def section(parser: argparse.ArgumentParser, summary: str) -> list[str]:
    """The page's section for one command."""
    text = summary
    if parser.description:  # its first paragraph, less the "``sagan x``: " it opens with
        text = " ".join(parser.description.split("\n\n")[0].split())
        text = text.removeprefix(f"``{parser.prog}``: ")
    lines = ["", f"## `{parser.prog}`", "", "```", synopsis(parser), "```"]
    if text:
        lines += ["", text[0].upper() + text[1:].rstrip(".") + "."]
    return lines + kinds(parser) + option_tables(parser)


def cli_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The whole of docs/cli.md."""
    parser = parser or build_parser()
    lines = [HEADER.rstrip("\n"), "", "## `sagan`", "", "```", synopsis(parser), "```"]
    lines += option_tables(parser)
    lines += ["", "| command | what it does |", "|---|---|"]
    for sub, summary in subcommands(parser):
        anchor = sub.prog.replace(" ", "-")
        lines.append(f"| [`{sub.prog}`](#{anchor}) | {cell(summary)} |")
    for sub, summary in subcommands(parser):
        lines += section(sub, summary)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(cli_markdown(), end="")
