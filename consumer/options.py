"""One option table: a frozen dataclass whose fields each declare a flag, its environment twin,
its help, the commands that list it and its check, from which the command line is built and read.

A field is declared once, with :func:`option`: its annotation is the type (``str``, ``int``,
``float``, ``bool`` for a switch, a ``Literal`` for a fixed set of values, each optionally
``| None``), its value the default. :func:`table` turns the class into :class:`Option` rows;
:func:`add_arguments` adds them to a parser and :func:`read` takes each value from the command
line, else the environment twin, else leaves the default. Nothing here knows a particular
setting: the settings module owns the names, the defaults and the messages, and a
:class:`Source` says how its program reads them (the consumer's ``ANOMALY_*`` and the
producer's ``SENSOR_PRODUCER_*`` differ in their prefix, in how they word a bad value, and in
whether a flag is parsed by argparse or, like an environment value, by the settings module).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")
_METADATA_KEY = "option"


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """What :func:`option` records on a field; the field gives the name, type and default."""

    help: str
    commands: frozenset[str]
    flag: str | None
    parse: Callable[[str], Any] | None
    valid: Callable[[Any], bool] | None
    invalid: str | None
    fallback: Callable[[], Any] | None
    also_env: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Source:
    """How a program reads its options.

    ``env_prefix`` names the twins (``--dead-letter-stream``: ``PREFIX_DEAD_LETTER_STREAM``);
    ``error`` is raised with every message; ``bad_text(source, raw, error)`` words a value whose
    text does not parse (``source`` is the flag or the variable). With ``flags_are_text`` a flag's
    text is parsed here, as an environment value is (a bad one is ``error``, not an argparse
    exit); with ``empty_is_unset`` an empty flag or variable counts as not given.
    """

    env_prefix: str
    error: Callable[[str], Exception]
    bad_text: Callable[[str, str, Exception], str]
    flags_are_text: bool = False
    empty_is_unset: bool = False

    def env_name(self, dest: str) -> str:
        return self.env_prefix + dest.upper()

    def parsed(self, row: Option, source: str, raw: str) -> Any:
        try:
            return row.parse(raw)
        except (ValueError, argparse.ArgumentTypeError) as problem:
            raise self.error(self.bad_text(source, raw, problem)) from problem


@dataclass(frozen=True, slots=True)
class Option:
    """One row of the table.

    ``dest`` is the flag's name (``--dest-with-dashes``, environment ``PREFIX_DEST``), ``field``
    the settings attribute it fills (the same name, unless the flag is named apart). ``parse``
    turns a flag's or environment twin's text into the value (raising ``ValueError`` or
    ``argparse.ArgumentTypeError``); ``choices`` (from a ``Literal`` annotation) and ``valid``
    are checked on every value but ``None``, both failing with ``invalid``. ``fallback`` gives the
    value when neither the flag nor its twin is set, where the default cannot be a constant;
    ``also_env`` are variables read, in order, after the twin (another program's, shared).
    """

    dest: str
    field: str
    default: Any
    help: str
    commands: frozenset[str]
    parse: Callable[[str], Any]
    switch: bool
    choices: tuple[str, ...]
    valid: Callable[[Any], bool] | None
    invalid: str
    fallback: Callable[[], Any] | None
    also_env: tuple[str, ...]

    @property
    def flag(self) -> str:
        return "--" + self.dest.replace("_", "-")

    def problem(self, value: Any) -> str | None:
        """The message for ``value`` when this option refuses it, else ``None``."""
        if value is None:
            return None
        if self.choices and value not in self.choices:
            return self.invalid
        if self.valid is not None and not self.valid(value):
            return self.invalid
        return None


def option(
    default: T,
    help: str,
    *,
    commands: Collection[str] = (),
    flag: str | None = None,
    parse: Callable[[str], Any] | None = None,
    valid: Callable[[Any], bool] | None = None,
    invalid: str | None = None,
    fallback: Callable[[], T] | None = None,
    also_env: tuple[str, ...] = (),
) -> T:
    """A settings field with its option: ``commands`` list it in their ``--help`` (besides the
    commands that take every option); ``flag`` names the flag when it is not the field's name;
    ``parse`` replaces the conversion the annotation implies; ``valid`` and ``invalid`` are the
    check and its message (a ``Literal`` field's message defaults to "must be one of ...");
    ``fallback`` and ``also_env`` are described on :class:`Option`."""
    spec = OptionSpec(help, frozenset(commands), flag, parse, valid, invalid, fallback, also_env)
    made: T = dataclasses.field(default=default, metadata={_METADATA_KEY: spec})
    return made


def switch(text: str) -> bool:
    """A switch's environment twin: true/false, 1/0, yes/no, on/off."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def at_least(low: float) -> Callable[[float], bool]:
    """A check: the value is ``low`` or more."""
    return lambda value: value >= low


def within(low: float, high: float) -> Callable[[float], bool]:
    """A check: the value is from ``low`` to ``high``, both included."""
    return lambda value: low <= value <= high


def positive(value: float) -> bool:
    """A check: the value is more than zero."""
    return value > 0


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def table(settings_class: type[Any]) -> tuple[Option, ...]:
    """The option rows of ``settings_class``, in field order. Every field must be an :func:`option`:
    a field without one would be a setting that no flag or environment variable can set."""
    hints = get_type_hints(settings_class)
    rows = []
    for field in dataclasses.fields(settings_class):
        spec = field.metadata.get(_METADATA_KEY)
        if not isinstance(spec, OptionSpec):
            raise TypeError(f"{settings_class.__name__}.{field.name} is not declared with option()")
        kind = _without_none(hints[field.name])
        choices: tuple[str, ...] = get_args(kind) if get_origin(kind) is Literal else ()
        if spec.parse is None and not choices and kind not in (str, int, float, bool) and get_origin(kind):
            raise TypeError(f"{settings_class.__name__}.{field.name}: a {kind} option needs parse=")
        parse = spec.parse or (switch if kind is bool else str if choices else kind)
        if spec.valid is not None and spec.invalid is None:
            raise TypeError(f"{settings_class.__name__}.{field.name}: a check needs its message (invalid=)")
        flag = spec.flag or field.name
        invalid = spec.invalid or f"--{flag.replace('_', '-')} must be one of {', '.join(choices)}"
        rows.append(
            Option(
                dest=flag,
                field=field.name,
                default=field.default,
                help=spec.help,
                commands=spec.commands,
                parse=parse,
                switch=kind is bool,
                choices=choices,
                valid=spec.valid,
                invalid=invalid,
                fallback=spec.fallback,
                also_env=spec.also_env,
            )
        )
    return tuple(rows)


def add_arguments(
    parser: argparse.ArgumentParser,
    options: tuple[Option, ...],
    source: Source,
    *,
    shown: Callable[[Option], bool] = lambda _row: True,
    shown_defaults: Mapping[str, Any] | None = None,
) -> None:
    """Add every option to ``parser`` (defaults are applied by :func:`read`, not by argparse);
    those ``shown`` refuses are accepted and left out of the help.

    The help names each flag's default (from ``shown_defaults`` by field, else the field's own;
    "none" for an option that is off unless given) unless its text does, and its twin."""
    for row in options:
        visible = shown(row)
        twin = source.env_name(row.dest)
        if row.switch:
            text = f"{row.help} (default: off) [env {twin}=true]" if visible else argparse.SUPPRESS
            parser.add_argument(row.flag, dest=row.dest, action="store_const", const=True, default=None, help=text)
            continue
        default = (shown_defaults or {}).get(row.field, row.default)
        shown_default = "none" if default in (None, "") else default
        with_default = row.help if "default" in row.help else f"{row.help} (default: {shown_default})"
        text = f"{with_default} [env {twin}]" if visible else argparse.SUPPRESS
        kind = str if source.flags_are_text else row.parse  # text: parsed by read()
        parser.add_argument(row.flag, dest=row.dest, type=kind, default=None, help=text)


def read(
    namespace: argparse.Namespace, environ: Mapping[str, str], options: tuple[Option, ...], source: Source
) -> dict[str, Any]:
    """The values given, by field: the command line's, else the environment twin's, else those of
    the option's ``also_env``, else the option's fallback; an option given none is left out (its
    default stands). Text that does not parse, and values outside an option's choices or check,
    raise ``source.error``."""
    values: dict[str, Any] = {}
    for row in options:
        value = getattr(namespace, row.dest, None)
        if value == "" and source.empty_is_unset:
            value = None
        if isinstance(value, str) and source.flags_are_text:
            value = source.parsed(row, row.flag, value)
        for name in (source.env_name(row.dest), *row.also_env) if value is None else ():
            raw = environ.get(name)
            if raw is not None and not (raw == "" and source.empty_is_unset):
                value = source.parsed(row, name, raw)
                break
        if value is None and row.fallback is not None:
            value = row.fallback()
        if value is None:
            continue
        message = row.problem(value)
        if message is not None:
            raise source.error(message)
        values[row.field] = value
    return values
