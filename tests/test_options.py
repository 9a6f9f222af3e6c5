"""The option table: a dataclass's fields declare the flags, their twins, help, checks and commands."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

import pytest

from consumer.options import Option, Source, add_arguments, option, read, switch, table

Colour = Literal["red", "green"]


@dataclass(frozen=True)
class Example:
    name: str = option("anon", "who", commands=("greet",))
    colour: Colour = option("red", "which colour")
    size: int | None = option(
        None, "how big", valid=lambda value: value > 0, invalid="--size must be positive", also_env=("OTHER_SIZE",)
    )
    loud: bool = option(False, "shout")
    token: str = option("", "identity (default: drawn)", flag="id", fallback=lambda: "drawn")


SOURCE = Source("EX_", ValueError, lambda name, raw, error: f"{name}={raw!r}: {error}")
TEXT_SOURCE = Source("EX_", ValueError, lambda name, raw, _error: f"{name}: bad {raw!r}", True, True)


def _read(argv: list[str], environ: dict[str, str] | None = None, source: Source = SOURCE) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add_arguments(parser, table(Example), source)
    return read(parser.parse_args(argv), environ or {}, table(Example), source)


def test_the_table_takes_types_choices_and_switches_from_the_annotations() -> None:
    rows = {row.field: row for row in table(Example)}
    assert rows["colour"].choices == ("red", "green") and rows["colour"].invalid == "--colour must be one of red, green"
    assert rows["size"].parse is int and rows["loud"].switch and rows["loud"].parse is switch
    assert (rows["token"].dest, rows["token"].flag) == ("id", "--id")


def test_a_field_without_an_option_is_refused() -> None:
    @dataclass(frozen=True)
    class Missing:
        plain: int = 0

    with pytest.raises(TypeError, match=r"Missing\.plain is not declared with option\(\)"):
        table(Missing)


def test_flag_beats_env_beats_fallback_and_unset_options_are_left_out() -> None:
    assert _read([]) == {"token": "drawn"}
    assert _read(["--name", "flag"], {"EX_NAME": "env", "EX_SIZE": "3", "EX_ID": "t"}) == {
        "name": "flag",
        "size": 3,
        "token": "t",
    }
    assert _read(["--loud"])["loud"] is True and _read([], {"EX_LOUD": "no"})["loud"] is False


def test_a_bad_env_value_names_the_variable_and_a_refused_value_gives_the_options_message() -> None:
    with pytest.raises(ValueError, match="EX_SIZE='big': invalid literal"):
        _read([], {"EX_SIZE": "big"})
    with pytest.raises(ValueError, match=r"^--size must be positive$"):
        _read(["--size", "0"])
    with pytest.raises(ValueError, match=r"^--colour must be one of red, green$"):
        _read([], {"EX_COLOUR": "blue"})


def test_the_help_names_defaults_and_twins_and_hides_what_a_command_does_not_list() -> None:
    parser = argparse.ArgumentParser()
    rows: tuple[Option, ...] = table(Example)
    add_arguments(parser, rows, SOURCE, shown=lambda row: "greet" in row.commands)
    text = " ".join(parser.format_help().split())
    assert "who (default: anon) [env EX_NAME]" in text
    assert "--colour" not in text and parser.parse_args(["--colour", "green"]).colour == "green"


def test_also_env_is_read_after_the_twin() -> None:
    assert _read([], {"OTHER_SIZE": "2"})["size"] == 2
    assert _read([], {"OTHER_SIZE": "2", "EX_SIZE": "5"})["size"] == 5


def test_a_text_source_parses_flags_itself_and_takes_empty_text_as_not_given() -> None:
    with pytest.raises(ValueError, match=r"^--size: bad 'big'$"):
        _read(["--size", "big"], source=TEXT_SOURCE)
    with pytest.raises(SystemExit):  # argparse's own usage error where flags are typed
        _read(["--size", "big"])
    assert _read(["--name", ""], {"EX_NAME": "env", "EX_SIZE": ""}, source=TEXT_SOURCE) == {
        "name": "env",
        "token": "drawn",
    }
    assert _read(["--name", ""])["name"] == ""


def test_an_option_of_a_generic_type_needs_a_parser() -> None:
    @dataclass(frozen=True)
    class Listed:
        names: tuple[str, ...] = option((), "names")

    with pytest.raises(TypeError, match=r"Listed\.names: .* needs parse="):
        table(Listed)


def test_a_check_without_its_message_is_refused() -> None:
    @dataclass(frozen=True)
    class Unworded:
        size: int = option(1, "how big", valid=lambda value: value > 0)

    with pytest.raises(TypeError, match=r"Unworded\.size: a check needs its message"):
        table(Unworded)
