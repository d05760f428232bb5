"""The ``asgi-closeguard`` command: explain, compare and list WebSocket close codes.

    asgi-closeguard explain 1006 [--lang ko] [--json] [--app-codes myapp.codes:CODES]
    asgi-closeguard compare 1005 1011 [--lang ko] [--json] [--app-codes ...]
    asgi-closeguard list [--lang ko] [--json] [--app-codes ...]
    asgi-closeguard export-js [--lang en ko] [--app-codes ...] > closeguard.js
    asgi-closeguard export-js --types > closeguard.d.ts

It uses argparse and the standard library only, like the rest of the package.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import itertools
import json
import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from . import __version__
from ._app_codes import AppCode, validate_app_codes
from ._codes import CODE_RANGES, CloseCode
from ._export_js import export_js, export_types
from ._knowledge import (
    LANGUAGES,
    CodeComparison,
    CodeDescription,
    RangeDescription,
    compare,
    describe,
    describe_range,
    interface_texts,
    validate_language,
)

__all__ = ["main"]

PROG: Final = "asgi-closeguard"
#: Exit status for bad input, the same that argparse uses for its own usage errors.
EXIT_USAGE: Final = 2

# A close frame carries its code in two bytes, so the command takes 0-65535: enough for every
# number a log or a packet capture can show, while describe() itself takes any int.
_LARGEST_WIRE_CODE: Final = 0xFFFF
_CODE_PATTERN: Final = re.compile(r"[+-]?[0-9]+")
_INDENT: Final = "  "
# Text is wrapped to the terminal, but never so narrow that it turns into a column of words,
# nor so wide that lines get hard to read.
_NARROWEST: Final = 40
_WIDEST: Final = 100
_ELLIPSIS: Final = "\u2026"
_EM_DASH: Final = "\u2014"
_EN_DASH: Final = "\u2013"  # the texts join the ends of a range with it, so the table does too

_Words = Mapping[str, str]
_Handler = Callable[[argparse.Namespace], str]


class _UsageError(Exception):
    """Bad input on the command line: reported on one line of stderr, with exit status 2."""


def main(argv: list[str] | None = None) -> int:
    """Run the ``asgi-closeguard`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status: 0 on success, 2 for input it cannot use (a code that is not a
    number or not in 0-65535, an unknown language, an ``--app-codes`` target that cannot be
    loaded). argparse's own usage errors exit with 2 too, by raising :class:`SystemExit`.
    A reader that goes away early (``asgi-closeguard list | head -3``) ends the command
    quietly, with status 0.
    """
    try:
        args = _parser().parse_args(argv)
        handler: _Handler = args.handler
        try:
            output = handler(args)
        except _UsageError as error:
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return EXIT_USAGE
        print(output, flush=True)
    except BrokenPipeError:
        # The reader closed the pipe: nobody is left to tell, so no traceback and no error
        # status (`| head` is how people look at long output). Python ignores SIGPIPE and
        # raises instead; stdout goes to /dev/null so that its flush at exit stays quiet.
        _discard_stdout()
    return 0


def _discard_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Explain WebSocket close codes: what a code means, when you see it, how to fix it, "
            "and how two codes differ."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Shared by every command, so that options can follow the command: explain 1006 --lang ko.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--lang",
        default="en",
        metavar="LANG",
        help=f"language of the texts: {', '.join(LANGUAGES)} (default: en)",
    )
    common.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of text"
    )
    _add_app_codes_option(common)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    explain = commands.add_parser(
        "explain", parents=[common], help="explain one close code", description="Explain one code."
    )
    explain.add_argument("code", help="a close code, 0-65535, e.g. 1006")
    explain.set_defaults(handler=_explain)

    comparison = commands.add_parser(
        "compare",
        parents=[common],
        help="compare two close codes",
        description="Compare two close codes and say when to use which.",
    )
    comparison.add_argument("a", metavar="A", help="the first close code, e.g. 1005")
    comparison.add_argument("b", metavar="B", help="the second close code, e.g. 1011")
    comparison.set_defaults(handler=_compare)

    listing = commands.add_parser(
        "list",
        parents=[common],
        help="list every registered code and every range",
        description="List every registered close code and every range of codes.",
    )
    listing.set_defaults(handler=_list)

    export = commands.add_parser(
        "export-js",
        help="print the close-code knowledge as one JavaScript module",
        description=(
            "Print one dependency-free ES module that explains any close code and tells a "
            "reconnecting client whether to come back: describeClose(), shouldReconnect()."
        ),
    )
    export.add_argument(
        "--lang",
        action="extend",
        nargs="+",
        default=[],
        metavar="LANG",
        help=f"languages to include: {', '.join(LANGUAGES)} (default: every one)",
    )
    export.add_argument(
        "--types",
        action="store_true",
        help="print the module's TypeScript declarations (closeguard.d.ts) instead",
    )
    _add_app_codes_option(export)
    export.set_defaults(handler=_export_js)
    return parser


def _add_app_codes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--app-codes",
        metavar="MODULE:ATTRIBUTE",
        help=(
            "the app's own close codes, a dict of codes to asgi_closeguard.AppCode, "
            "e.g. myapp.codes:CODES"
        ),
    )


def _language(lang: str) -> str:
    try:
        return validate_language(lang)
    except ValueError as error:
        raise _UsageError(str(error)) from None


def _parse_code(text: str) -> int:
    # Only plain ASCII digits: int() would also take "1_000" or other scripts' digits.
    if not _CODE_PATTERN.fullmatch(text.strip()):
        raise _UsageError(
            f"{text!r} is not a close code: give a whole number from 0 to 65535, such as 1006"
        )
    code = int(text)
    if not 0 <= code <= _LARGEST_WIRE_CODE:
        raise _UsageError(
            f"{code} is outside 0-65535, the numbers a close frame can carry; "
            "pass a code such as 1006"
        )
    return code


def _one_line(text: str) -> str:
    return " ".join(text.split())


@contextmanager
def _importable_working_directory() -> Iterator[None]:
    # As with `uvicorn myapp.main:app`: the module is looked up where the command runs.
    # Put first for the import, then taken out again (the first occurrence is the one added).
    directory = os.getcwd()
    sys.path.insert(0, directory)
    try:
        yield
    finally:
        sys.path.remove(directory)


def _app_codes(target: str | None) -> Mapping[int, AppCode] | None:
    """Load ``--app-codes MODULE:ATTRIBUTE``; every way it can fail is one :class:`_UsageError`."""
    if target is None:
        return None
    module_name, colon, attribute = target.partition(":")
    if not (colon and module_name and attribute):
        raise _UsageError(
            f"--app-codes {target!r} is not MODULE:ATTRIBUTE; write e.g. "
            "--app-codes myapp.codes:CODES"
        )
    try:
        with _importable_working_directory():
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and f"{module_name}.".startswith(f"{error.name}."):
            raise _UsageError(
                f"--app-codes {target}: there is no module {error.name!r} here; run the command "
                "where the module can be imported, or fix the name"
            ) from None
        raise _UsageError(
            f"--app-codes {target}: importing {module_name} failed: {_one_line(str(error))}"
        ) from None
    except Exception as error:
        # The app's own module failed: its error, on one line, is what the user needs.
        raise _UsageError(
            f"--app-codes {target}: importing {module_name} failed: "
            f"{type(error).__name__}: {_one_line(str(error))}"
        ) from None
    value: object = module
    for name in attribute.split("."):
        if not hasattr(value, name):
            raise _UsageError(f"--app-codes {target}: {module_name} has no attribute {attribute!r}")
        value = getattr(value, name)
    try:
        return validate_app_codes(value)
    except (TypeError, ValueError) as error:
        raise _UsageError(f"--app-codes {target}: {_one_line(str(error))}") from None


# --- commands ---------------------------------------------------------------------------------


def _explain(args: argparse.Namespace) -> str:
    lang = _language(args.lang)
    app_codes = _app_codes(args.app_codes)
    description = describe(_parse_code(args.code), lang, app_codes=app_codes)
    if args.json:
        return _to_json(dataclasses.asdict(description))
    return _format_description(description, interface_texts(lang), _width(), underline="=")


def _compare(args: argparse.Namespace) -> str:
    lang = _language(args.lang)
    app_codes = _app_codes(args.app_codes)
    comparison = compare(_parse_code(args.a), _parse_code(args.b), lang, app_codes=app_codes)
    if args.json:
        return _to_json(dataclasses.asdict(comparison))
    return _format_comparison(comparison, interface_texts(lang), _width())


def _list(args: argparse.Namespace) -> str:
    lang = _language(args.lang)
    app_codes = _app_codes(args.app_codes) or {}
    # The app's codes take their place among the registered ones, in numeric order.
    numbers = sorted({*map(int, CloseCode), *app_codes})
    codes = [describe(code, lang, app_codes=app_codes) for code in numbers]
    ranges = [describe_range(band, lang) for band in CODE_RANGES]
    if args.json:
        return _to_json(
            {
                "codes": [dataclasses.asdict(code) for code in codes],
                "ranges": [dataclasses.asdict(band) for band in ranges],
            }
        )
    # A table gains from every column the terminal has, so only prose is held to _WIDEST.
    columns = max(_NARROWEST, shutil.get_terminal_size(fallback=(80, 24)).columns)
    return _format_list(codes, ranges, interface_texts(lang), columns)


def _export_js(args: argparse.Namespace) -> str:
    languages = [_language(lang) for lang in args.lang]
    app_codes = _app_codes(args.app_codes)
    # The output ends with a newline, and print() adds one of its own.
    if args.types:
        return export_types(languages).removesuffix("\n")
    return export_js(languages, app_codes=app_codes).removesuffix("\n")


def _to_json(value: Any) -> str:
    # ensure_ascii=False: Korean (or any) text stays readable, and JSON is UTF-8 anyway.
    return json.dumps(value, ensure_ascii=False, indent=2)


# --- text output ------------------------------------------------------------------------------


def _width() -> int:
    columns = shutil.get_terminal_size(fallback=(80, 24)).columns
    return max(_NARROWEST, min(columns, _WIDEST))


def _display_width(text: str) -> int:
    # Hangul and other wide characters take two terminal columns.
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _wrap(text: str, width: int, first_prefix: str = _INDENT) -> str:
    """Fill ``text`` to ``width`` terminal columns, counting wide characters as two.

    Lines after the first are indented to where the text of the first starts, so that a
    numbered item reads as one block. (textwrap counts characters, which would make Korean
    lines twice as wide as they should be.)
    """
    later_prefix = " " * _display_width(first_prefix)
    lines: list[str] = []
    line = first_prefix
    line_has_words = False
    for word in text.split():
        candidate = f"{line} {word}" if line_has_words else f"{line}{word}"
        if line_has_words and _display_width(candidate) > width:
            lines.append(line)
            line = f"{later_prefix}{word}"
        else:
            line = candidate
        line_has_words = True
    lines.append(line)
    return "\n".join(lines)


def _heading(text: str, underline: str, width: int) -> str:
    return f"{text}\n{underline * min(_display_width(text), width)}"


def _title(description: CodeDescription, words: _Words) -> str:
    if description.app_code:
        return f"{description.code} {description.name} ({words['declared_by_app']})"
    constant = f" ({description.constant})" if description.constant else ""
    return f"{description.code} {description.name}{constant}"


def _format_description(
    description: CodeDescription, words: _Words, width: int, underline: str
) -> str:
    yes_no = words["yes"] if description.sendable else words["no"]
    facts = [
        _wrap(f"{words['sendable']}: {yes_no}", width),
        _wrap(f"{words['sent_by']}: {description.sent_by_text}", width),
        _wrap(f"{words['range']}: {description.range_text}", width),
        _wrap(
            f"{words['reconnect']}: {words['reconnect_' + description.reconnect]} "
            f"{_EM_DASH} {description.reconnect_text}",
            width,
        ),
        # The address stays on one line, however long, so that terminals can open it.
        f"{_INDENT}{words['reference']}: {description.reference} <{description.reference_url}>",
    ]
    sections = [
        (words["what_it_is"], description.summary),
        (words["when_seen"], description.when_seen),
        (words["how_to_fix"], description.what_to_do),
        (words["when_to_send"], description.when_to_send),
    ]
    parts = [_heading(_title(description, words), underline, width) + "\n" + "\n".join(facts)]
    parts.extend(f"{heading}\n{_wrap(body, width)}" for heading, body in sections)
    return "\n\n".join(parts)


def _format_comparison(comparison: CodeComparison, words: _Words, width: int) -> str:
    first, second = comparison.first, comparison.second
    title = f"{first.code} {first.name} {words['versus']} {second.code} {second.name}"
    differences = "\n".join(
        _wrap(sentence, width, first_prefix=f"{_INDENT}{number}. ")
        for number, sentence in enumerate(comparison.differences, start=1)
    )
    when_to_use = "\n".join(
        _wrap(sentence, width, first_prefix=f"{_INDENT}- ") for sentence in comparison.when_to_use
    )
    return "\n\n".join(
        [
            _heading(title, "=", width),
            _format_description(first, words, width, underline="-"),
            _format_description(second, words, width, underline="-"),
            f"{words['differences']}\n{differences}",
            f"{words['when_to_use']}\n{when_to_use}",
        ]
    )


def _span(band: RangeDescription) -> str:
    if band.first is None or band.last is None:
        return f"<0, >{CODE_RANGES[-2].last}"
    return f"{band.first}{_EN_DASH}{band.last}"


def _format_list(
    codes: list[CodeDescription], ranges: list[RangeDescription], words: _Words, width: int
) -> str:
    def yes_no(value: bool) -> str:
        return words["yes"] if value else words["no"]

    rows = [
        (str(d.code), yes_no(d.sendable), words[f"reconnect_{d.reconnect}"], d.name, d.summary)
        for d in codes
    ]
    rows.extend(
        (_span(b), yes_no(b.sendable), words[f"reconnect_{b.reconnect}"], b.name, b.summary)
        for b in ranges
    )
    header = (
        words["code"],
        words["sendable_column"],
        words["reconnect_column"],
        words["name"],
        words["summary"],
    )
    table = [header, *rows]
    # Every column but the last is padded to its widest cell; the summary takes what is left.
    columns = [max(_display_width(row[index]) for row in table) for index in range(4)]
    lines = []
    for row in table:
        cells = "  ".join(_pad(cell, column) for cell, column in zip(row, columns, strict=False))
        start = f"{cells}  "
        # One line per code: the summary is cut to the terminal; `explain` has the rest.
        lines.append(start + _truncate(row[4], width - _display_width(start)))
    return "\n".join(lines)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _display_width(text))


def _truncate(text: str, width: int) -> str:
    if _display_width(text) <= width:
        return text
    # Running widths only grow, so the characters that fit are those whose total fits.
    budget = width - _display_width(_ELLIPSIS)
    fitting = sum(1 for total in itertools.accumulate(map(_display_width, text)) if total <= budget)
    return text[:fitting].rstrip() + _ELLIPSIS
