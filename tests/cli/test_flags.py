"""Parsing: subcommands, where each flag goes, the defaults, and every --help."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.cli.flags import BY_NAME, COMMANDS, SIMULATE, parse
from exporter.cli.main import main


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    return " ".join(out.split())  # argparse wraps lines wherever it likes


def test_no_command_serves_with_the_documented_defaults() -> None:
    args, rest = parse([])
    assert (args.command, rest) == ("serve", [])
    assert args.config_file is None
    assert args.listen_address == ":10042"
    assert args.web_config_file is None
    assert (args.log_level, args.log_format, args.demo) == ("info", "logfmt", False)
    assert args.enable_lifecycle is False, "POST /-/reload is off unless asked for"


def test_the_lifecycle_flag_goes_with_serve_and_turns_reload_on() -> None:
    assert parse(["--web.enable-lifecycle"])[0].enable_lifecycle is True
    assert parse(["serve", "--web.enable-lifecycle"])[0].enable_lifecycle is True


def test_every_flag_of_every_command_gets_its_default_when_absent() -> None:
    for command in COMMANDS:
        if command.name == SIMULATE:
            continue
        args, _ = parse([command.name])
        assert {dest for dest in vars(args) if dest != "command"} == {
            flag.dest for flag in command.flags
        }
        for flag in command.flags:
            assert getattr(args, flag.dest) == flag.default, (command.name, flag.option)


def test_a_flag_given_before_the_command_is_kept() -> None:
    args, _ = parse(["--config.file=agora.yml", "--log.level=debug", "check-config"])
    assert args.command == "check-config"
    assert args.config_file == Path("agora.yml")
    assert args.log_level == "debug"
    assert args.listen_address == ":10042"


def test_the_same_flags_after_the_command_and_with_a_space() -> None:
    args, _ = parse(["plan", "--config.file", "agora.yml", "--log.format=json"])
    assert (args.config_file, args.log_format) == (Path("agora.yml"), "json")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--demo", "plan"], "--demo goes with serve, not plan"),
        (["plan", "--web.config.file=web.yml"], "--web.config.file goes with serve, check-config"),
        (["check-config", "--demo"], "--demo goes with serve, not check-config"),
        (["plan", "--web.enable-lifecycle"], "--web.enable-lifecycle goes with serve, not plan"),
        (["calls", "--fetch"], "--fetch goes with backfill, not calls"),
        (["--log.level=debug", "simulate", "--port=0"], "--log.level goes with serve, plan"),
        (["plan", "extra"], "unknown arguments for plan: extra"),
    ],
)
def test_a_flag_of_another_command_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert main(argv) == 2
    assert says in capsys.readouterr().err


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_simulate_gets_the_rest_of_the_line() -> None:
    args, rest = parse(["simulate", "--port=0", "--seed", "3"])
    assert args.command == SIMULATE
    assert rest == ["--port=0", "--seed", "3"]


def test_simulate_checks_its_own_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--port=0", "--customer-secret=s"]) == 2
    assert "--customer-secret needs --customer-id" in capsys.readouterr().err


def test_the_main_help_lists_every_command_and_serves_flags_with_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _help(capsys)
    for command in COMMANDS:
        assert f"{command.name} {command.summary}" in text
    for flag in BY_NAME["serve"].flags:
        assert flag.option in text
        assert f"{flag.help} (default: {flag.shown})" in text


@pytest.mark.parametrize("name", [c.name for c in COMMANDS if c.name != SIMULATE])
def test_each_command_help_has_its_description_and_each_flag_with_its_default(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    command = BY_NAME[name]
    text = _help(capsys, name)
    assert text.startswith(f"usage: agora-exporter {name} ")
    assert command.description in text
    for flag in command.flags:
        assert f"{flag.help} (default: {flag.shown})" in text, flag.option
    others = {f.option for c in COMMANDS for f in c.flags} - {f.option for f in command.flags}
    assert not [option for option in others if f"{option} " in text]


def test_every_shown_default_is_the_real_one() -> None:
    for command in COMMANDS:
        for flag in command.flags:
            if flag.switch:
                assert (flag.default, flag.shown) == (False, "off")
            elif flag.default is not None:
                assert flag.shown == str(flag.default)


def test_simulate_help_is_the_simulators_own(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "simulate")
    assert text.startswith("usage: agora-exporter simulate ")
    assert "--port PORT" in text
    assert "--seed SEED" in text
    assert "--config.file" not in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("agora-exporter ")
