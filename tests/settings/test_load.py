"""Loading the configuration: YAML file, environment, secrets directory, errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.agora.limits import Budget, Plan
from exporter.catalog.realtime import QUALITY_METRICS, USAGE_METRICS
from exporter.settings import ConfigError, Settings, load_settings

CUSTOMER_ID = "cid-7d1f2e3a4b5c"
CUSTOMER_SECRET = "sec-9a8b7c6d5e4f"
APPID = "0123456789abcdef0123456789abcdef"
OTHER_APPID = "fedcba9876543210fedcba9876543210"

# The configuration file of DESIGN.md, verbatim.
DESIGN_EXAMPLE = """\
agora:
  base_url: https://api.agora.io      # or https://api.sd-rtn.com, or a simulator
  customer_id: "..."                  # HTTP Basic auth; never logged
  customer_secret: "..."
  plan: enterprise                    # premium | enterprise (real-time and insight need one of these)
  quota:                              # optional overrides of the plan's limits, per budget
    realtime: {per_minute: 10, per_day: 1440}
  headroom: 0.1                       # share of each daily budget kept for retries and backfill
state_dir: ./state
exposition:
  mode: replay                        # replay | latest
  timestamps: false
apps:
  - appid: "0123456789abcdef0123456789abcdef"
    product_types: [Native, WebRTC]
    realtime:
      usage: [userCount, channelCount]
      quality: [joinSuccessRate, joinSuccessIn5sRate, audioFreezeRate, videoFreezeRate, networkDelay]
      channels:                       # opt-in per-channel and per-user series
        - cname: lobby
          uids: [1001, 1002]          # at most 10 per request; quality metrics only
    insight: {enabled: true, hourly_quality: false}
    calls: {enabled: false}
"""  # noqa: E501

MINIMAL: dict[str, Any] = {
    "agora": {
        "customer_id": CUSTOMER_ID,
        "customer_secret": CUSTOMER_SECRET,
        "plan": "enterprise",
    },
    "apps": [{"appid": APPID}],
}


def _write(tmp_path: Path, content: str | dict[str, Any], name: str = "config.yaml") -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def _with(changes: dict[tuple[str | int, ...], Any]) -> dict[str, Any]:
    """MINIMAL with the value at each path replaced (``...`` deletes the key)."""
    data = copy.deepcopy(MINIMAL)
    for path, value in changes.items():
        node: Any = data
        for segment in path[:-1]:
            node = node[segment] if isinstance(segment, int) else node.setdefault(segment, {})
        if value is ...:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return data


def _load(
    tmp_path: Path,
    content: str | dict[str, Any] = MINIMAL,
    *,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    return load_settings(_write(tmp_path, content), environ=environ or {}, overrides=overrides)


def _error(tmp_path: Path, content: str | dict[str, Any], **kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, content, **kwargs)
    return caught.value


# ---------------------------------------------------------------------------
# Loading


def test_the_design_example_loads(tmp_path: Path) -> None:
    settings = _load(tmp_path, DESIGN_EXAMPLE)
    assert settings.agora.base_url == "https://api.agora.io"
    assert settings.agora.customer_id.get_secret_value() == "..."
    assert settings.agora.plan is Plan.ENTERPRISE
    quota = settings.agora.quota[Budget.REALTIME]
    assert (quota.per_second, quota.per_minute, quota.per_day) == (None, 10, 1440)
    assert settings.agora.headroom == 0.1
    assert settings.state_dir == Path("state")
    assert settings.exposition.mode == "replay"
    assert settings.exposition.timestamps is False
    [app] = settings.apps
    assert app.appid == APPID
    assert app.product_types == ["Native", "WebRTC"]
    assert app.realtime.usage == ["userCount", "channelCount"]
    assert app.realtime.quality == list(QUALITY_METRICS)
    [channel] = app.realtime.channels
    assert (channel.cname, channel.uids) == ("lobby", [1001, 1002])
    assert (app.insight.enabled, app.insight.hourly_quality) == (True, False)
    assert app.calls.enabled is False


def test_a_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    assert settings.agora.base_url == "https://api.agora.io"
    assert settings.agora.quota == {}
    assert settings.agora.headroom == 0.1
    assert settings.agora.timeout_s == 10
    assert settings.secrets_dir is None
    assert settings.state_dir == Path("./state")
    assert (settings.exposition.mode, settings.exposition.timestamps) == ("replay", False)
    [app] = settings.apps
    assert app.product_types == ["Native", "WebRTC"]
    assert app.realtime.usage == list(USAGE_METRICS) == ["userCount", "channelCount"]
    assert app.realtime.quality == list(QUALITY_METRICS)
    assert len(app.realtime.quality) == 5
    assert app.realtime.channels == []
    assert (app.insight.enabled, app.insight.hourly_quality) == (True, False)
    calls = app.calls
    assert (calls.enabled, calls.channels, calls.max_calls, calls.max_sessions_per_call) == (
        False,
        [],
        50,
        20,
    )


def test_values_are_normalised(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        _with(
            {
                ("agora", "base_url"): "http://127.0.0.1:8080/",
                ("agora", "plan"): "Premium",
                ("apps", 0, "appid"): APPID.upper(),
                ("apps", 0, "product_types"): ["webrtc"],
                ("apps", 0, "realtime", "channels"): [{"cname": "7", "uids": [2**32 + 5, 0]}],
            }
        ),
    )
    assert settings.agora.base_url == "http://127.0.0.1:8080"
    assert settings.agora.plan is Plan.PREMIUM
    assert settings.apps[0].appid == APPID
    assert settings.apps[0].product_types == ["WebRTC"]
    assert settings.apps[0].realtime.channels[0].uids == [2**32 + 5, 0]


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    with pytest.raises(ValueError, match="frozen"):
        settings.state_dir = Path("/elsewhere")  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Environment


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        DESIGN_EXAMPLE,
        environ={
            "AGORA_EXPORTER_AGORA__PLAN": "premium",
            "AGORA_EXPORTER_AGORA__CUSTOMER_SECRET": CUSTOMER_SECRET,
            "AGORA_EXPORTER_AGORA__QUOTA__REALTIME__PER_DAY": "720",
            "AGORA_EXPORTER_AGORA__HEADROOM": "0.2",
            "AGORA_EXPORTER_STATE_DIR": "/var/lib/agora-exporter",
            "AGORA_EXPORTER_EXPOSITION__MODE": "latest",
            "AGORA_EXPORTER_EXPOSITION__TIMESTAMPS": "true",
            "UNRELATED": "1",
        },
    )
    assert settings.agora.plan is Plan.PREMIUM
    assert settings.agora.customer_secret.get_secret_value() == CUSTOMER_SECRET
    assert settings.agora.customer_id.get_secret_value() == "..."
    quota = settings.agora.quota[Budget.REALTIME]
    assert (quota.per_minute, quota.per_day) == (10, 720)
    assert settings.agora.headroom == 0.2
    assert settings.state_dir == Path("/var/lib/agora-exporter")
    assert (settings.exposition.mode, settings.exposition.timestamps) == ("latest", True)


def test_list_items_are_addressed_by_index_and_merge_into_the_file(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        DESIGN_EXAMPLE,
        environ={
            "AGORA_EXPORTER_APPS__0__REALTIME__CHANNELS__0__UIDS": "7, 8",
            "AGORA_EXPORTER_APPS__0__PRODUCT_TYPES": "Native",
            "AGORA_EXPORTER_APPS__1__APPID": OTHER_APPID,
            "AGORA_EXPORTER_APPS__1__REALTIME__QUALITY": "[audioFreezeRate]",
        },
    )
    first, second = settings.apps
    assert first.appid == APPID
    assert first.product_types == ["Native"]
    assert first.realtime.channels[0].cname == "lobby"
    assert first.realtime.channels[0].uids == [7, 8]
    assert second.appid == OTHER_APPID
    assert second.realtime.quality == ["audioFreezeRate"]


def test_the_environment_alone_is_a_whole_configuration() -> None:
    settings = load_settings(
        None,
        environ={
            "AGORA_EXPORTER_AGORA__CUSTOMER_ID": CUSTOMER_ID,
            "AGORA_EXPORTER_AGORA__CUSTOMER_SECRET": CUSTOMER_SECRET,
            "agora_exporter_agora__plan": "enterprise",
            "AGORA_EXPORTER_APPS": f'[{{"appid": "{APPID}", "product_types": ["Native"]}}]',
        },
    )
    assert settings.agora.plan is Plan.ENTERPRISE
    assert [app.appid for app in settings.apps] == [APPID]
    assert settings.apps[0].product_types == ["Native"]


def test_os_environ_is_read_when_no_environment_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORA_EXPORTER_EXPOSITION__MODE", "latest")
    settings = load_settings(_write(tmp_path, MINIMAL))
    assert settings.exposition.mode == "latest"


def test_overrides_beat_the_environment_and_the_file(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        environ={"AGORA_EXPORTER_AGORA__BASE_URL": "https://api.sd-rtn.com"},
        overrides={"agora": {"base_url": "http://127.0.0.1:9999"}, "state_dir": "/tmp/demo"},
    )
    assert settings.agora.base_url == "http://127.0.0.1:9999"
    assert settings.agora.plan is Plan.ENTERPRISE
    assert settings.state_dir == Path("/tmp/demo")


def test_overrides_alone_make_the_demo_configuration() -> None:
    overrides = {
        "agora": {
            "base_url": "http://127.0.0.1:41234",
            "customer_id": "demo-customer",
            "customer_secret": "demo-secret",
            "plan": "enterprise",
            "quota": {"realtime": {"per_minute": 60, "per_day": 14400}},
        },
        "apps": [{"appid": APPID, "insight": {"enabled": False}}],
    }
    before = copy.deepcopy(overrides)
    settings = load_settings(None, environ={}, overrides=overrides)
    assert settings.agora.quota[Budget.REALTIME].per_day == 14400
    assert overrides == before


def test_unknown_top_level_variables_are_ignored_and_reported(tmp_path: Path) -> None:
    # Kubernetes injects these for a service named agora-exporter.
    settings = _load(
        tmp_path,
        environ={
            "AGORA_EXPORTER_SERVICE_HOST": "10.0.0.1",
            "AGORA_EXPORTER_PORT": "tcp://10.0.0.1:10042",
        },
    )
    assert settings.ignored_environment() == ["AGORA_EXPORTER_PORT", "AGORA_EXPORTER_SERVICE_HOST"]


def test_a_misspelt_key_inside_a_section_names_the_variable(tmp_path: Path) -> None:
    error = _error(tmp_path, MINIMAL, environ={"AGORA_EXPORTER_AGORA__PLNA": "premium"})
    assert error.problems == [
        "agora.plna: unknown key (environment variable AGORA_EXPORTER_AGORA__PLNA). "
        "Did you mean plan? Valid keys here: base_url, customer_id, customer_secret, "
        "headroom, plan, quota, timeout_s; remove or rename it."
    ]


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    error = _error(tmp_path, MINIMAL, environ={"AGORA_EXPORTER_EXPOSITION__MODE": "live"})
    assert "exposition.mode: " in str(error)
    assert "environment variable AGORA_EXPORTER_EXPOSITION__MODE" in str(error)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param(
            {"AGORA_EXPORTER_APPS__2__APPID": OTHER_APPID},
            "AGORA_EXPORTER_APPS__2__APPID: list index 2 is past the end of the list",
            id="an index past the end of the list is refused",
        ),
        pytest.param(
            {"AGORA_EXPORTER_AGORA____PLAN": "premium"},
            "environment variable AGORA_EXPORTER_AGORA____PLAN: empty name part",
            id="an empty part in a variable name is refused",
        ),
        pytest.param(
            {"AGORA_EXPORTER_APPS": "[{appid: 1"},
            "environment variable AGORA_EXPORTER_APPS is not valid YAML",
            id="a structured value that does not parse is refused",
        ),
    ],
)
def test_malformed_environment_variables(
    tmp_path: Path, environ: dict[str, str], expected: str
) -> None:
    assert expected in str(_error(tmp_path, MINIMAL, environ=environ))


# ---------------------------------------------------------------------------
# Secrets directory


def _secrets(tmp_path: Path, files: dict[str, str]) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


WITHOUT_CREDENTIALS = _with({("agora", "customer_id"): ..., ("agora", "customer_secret"): ...})


def test_credentials_come_from_the_secrets_directory(tmp_path: Path) -> None:
    directory = _secrets(
        tmp_path, {"customer_id": CUSTOMER_ID + "\n", "customer_secret": CUSTOMER_SECRET + "\n"}
    )
    settings = _load(
        tmp_path, WITHOUT_CREDENTIALS, environ={"AGORA_EXPORTER_SECRETS_DIR": str(directory)}
    )
    assert settings.agora.customer_id.get_secret_value() == CUSTOMER_ID
    assert settings.agora.customer_secret.get_secret_value() == CUSTOMER_SECRET
    assert settings.secrets_dir == directory


def test_the_secrets_directory_can_be_set_in_the_file(tmp_path: Path) -> None:
    directory = _secrets(
        tmp_path, {"agora__customer_id": CUSTOMER_ID, "agora__customer_secret": CUSTOMER_SECRET}
    )
    settings = _load(tmp_path, {**WITHOUT_CREDENTIALS, "secrets_dir": str(directory)})
    assert settings.agora.customer_id.get_secret_value() == CUSTOMER_ID


def test_section_prefixed_secret_files_win_over_plain_ones(tmp_path: Path) -> None:
    directory = _secrets(
        tmp_path,
        {
            "customer_id": "plain-id",
            "agora__customer_id": "prefixed-id\r\n",
            "customer_secret": CUSTOMER_SECRET,
        },
    )
    settings = _load(tmp_path, {**WITHOUT_CREDENTIALS, "secrets_dir": str(directory)})
    assert settings.agora.customer_id.get_secret_value() == "prefixed-id"


def test_environment_beats_file_beats_secrets_directory(tmp_path: Path) -> None:
    directory = _secrets(tmp_path, {"customer_id": "from-secrets", "customer_secret": "s-file"})
    config = _with({("agora", "customer_id"): "from-yaml", ("agora", "customer_secret"): ...})
    settings = _load(
        tmp_path,
        {**config, "secrets_dir": str(directory)},
        environ={"AGORA_EXPORTER_AGORA__CUSTOMER_ID": "from-env"},
    )
    assert settings.agora.customer_id.get_secret_value() == "from-env"
    assert settings.agora.customer_secret.get_secret_value() == "s-file"
    settings = _load(tmp_path, {**config, "secrets_dir": str(directory)})
    assert settings.agora.customer_id.get_secret_value() == "from-yaml"


def test_a_missing_secrets_directory_is_an_error(tmp_path: Path) -> None:
    error = _error(tmp_path, {**MINIMAL, "secrets_dir": str(tmp_path / "nowhere")})
    assert str(error).startswith("secrets_dir: ")
    assert "is not a directory" in str(error)


# ---------------------------------------------------------------------------
# Validation errors name the key


@pytest.mark.parametrize(
    ("changes", "path", "fragment"),
    [
        pytest.param(
            {("apps", 0, "appid"): "my-project"},
            "apps[0].appid",
            "Agora Console > Projects",
            id="an App ID that is not 32 hex characters says where to find it",
        ),
        pytest.param(
            {("apps", 0, "appid"): "0123456789abcdef0123456789abcdeg"},
            "apps[0].appid",
            "32 hexadecimal characters",
            id="an App ID with a non-hex character is refused",
        ),
        pytest.param(
            {("apps", 0, "appid"): 12345678901234567890123456789012},
            "apps[0].appid",
            "quote it",
            id="an App ID that YAML read as a number asks for quotes",
        ),
        pytest.param(
            {("agora", "plan"): "standard"},
            "agora.plan",
            "the standard plan has no access to the real-time",
            id="a plan without the real-time API is refused with the reason",
        ),
        pytest.param(
            {("agora", "plan"): "gold"},
            "agora.plan",
            "must be premium or enterprise",
            id="an unknown plan lists the two accepted",
        ),
        pytest.param(
            {("agora", "plan"): ...},
            "agora.plan",
            "missing",
            id="the plan is required",
        ),
        pytest.param(
            {("agora", "base_url"): "api.agora.io"},
            "agora.base_url",
            "http:// or https:// URL",
            id="a base URL without a scheme is refused",
        ),
        pytest.param(
            {("agora", "headroom"): 0.95},
            "agora.headroom",
            "from 0 to 0.9",
            id="headroom above 0.9 is refused",
        ),
        pytest.param(
            {("agora", "timeout_s"): 0},
            "agora.timeout_s",
            "greater than 0",
            id="a timeout of zero is refused",
        ),
        pytest.param(
            {("agora", "quota"): {"realtme": {"per_day": 10}}},
            "agora.quota.realtme",
            "realtime, insight_usage, insight_quality, call_lists, call_details",
            id="an unknown budget lists the valid budgets",
        ),
        pytest.param(
            {("agora", "quota"): {"realtime": {"per_day": 0}}},
            "agora.quota.realtime.per_day",
            "greater than 0",
            id="a quota of zero is refused",
        ),
        pytest.param(
            {("agora", "quota"): {"realtime": {"per_hour": 10}}},
            "agora.quota.realtime.per_hour",
            "per_day, per_minute, per_second",
            id="an unknown quota period lists the valid ones",
        ),
        pytest.param(
            {("agora", "customer_secret"): ...},
            "agora.customer_secret",
            "secrets directory",
            id="a missing secret says where it may come from",
        ),
        pytest.param(
            {("agora", "customer_id"): "  "},
            "agora.customer_id",
            "is empty",
            id="a blank customer ID is refused",
        ),
        pytest.param(
            {("agora", "plna"): "premium"},
            "agora.plna",
            "Did you mean plan?",
            id="a misspelt key suggests the right one",
        ),
        pytest.param(
            {("exposition", "mode"): "live"},
            "exposition.mode",
            "'replay' or 'latest'",
            id="an unknown exposition mode lists the two modes",
        ),
        pytest.param(
            {("exposition", "timestamps"): "sometimes"},
            "exposition.timestamps",
            "true or false",
            id="timestamps must be a boolean",
        ),
        pytest.param(
            {("apps",): []},
            "apps",
            "at least one app",
            id="an empty app list is refused",
        ),
        pytest.param(
            {("apps",): [{"appid": APPID}, {"appid": APPID.upper()}]},
            "apps[1].appid",
            "listed twice",
            id="the same App ID twice is refused whatever its case",
        ),
        pytest.param(
            {("apps", 0, "product_types"): ["Native", "iOS"]},
            "apps[0].product_types[1]",
            "choose from: Native, WebRTC",
            id="an unknown product type lists the valid ones",
        ),
        pytest.param(
            {("apps", 0, "product_types"): ["Native", "Native"]},
            "apps[0].product_types[1]",
            "listed twice",
            id="a product type twice is refused",
        ),
        pytest.param(
            {("apps", 0, "product_types"): []},
            "apps[0].product_types",
            "at least 1 item",
            id="an empty product type list is refused",
        ),
        pytest.param(
            {("apps", 0, "realtime", "usage"): ["audioFreezeRate"]},
            "apps[0].realtime.usage[0]",
            "is a quality metric: list it under quality",
            id="a quality metric under usage says where it belongs",
        ),
        pytest.param(
            {("apps", 0, "realtime", "quality"): ["audioFreezeRatio"]},
            "apps[0].realtime.quality[0]",
            "did you mean audioFreezeRate?",
            id="a misspelt quality metric suggests the right one",
        ),
        pytest.param(
            {("apps", 0, "realtime", "quality"): ["networkDelay", "networkDelay"]},
            "apps[0].realtime.quality[1]",
            "listed twice",
            id="a metric twice is refused",
        ),
        pytest.param(
            {("apps", 0, "realtime", "channels"): [{"cname": ""}]},
            "apps[0].realtime.channels[0].cname",
            "must not be empty",
            id="an empty channel name is refused",
        ),
        pytest.param(
            {("apps", 0, "realtime", "channels"): [{"uids": [1]}]},
            "apps[0].realtime.channels[0].cname",
            "missing",
            id="a channel without a name is refused",
        ),
        pytest.param(
            {("apps", 0, "realtime", "channels"): [{"cname": "a", "uids": [5, -1]}]},
            "apps[0].realtime.channels[0].uids[1]",
            "greater than or equal to 0",
            id="a negative uid is refused",
        ),
        pytest.param(
            {("apps", 0, "realtime", "channels"): [{"cname": "a"}, {"cname": "a"}]},
            "apps[0].realtime.channels[1].cname",
            "merge their uids",
            id="the same channel twice in one app is refused",
        ),
        pytest.param(
            {("apps", 0, "calls", "max_calls"): 0},
            "apps[0].calls.max_calls",
            "greater than 0",
            id="a call limit of zero is refused",
        ),
        pytest.param(
            {("apps", 0, "insight", "enabled"): "perhaps"},
            "apps[0].insight.enabled",
            "true or false",
            id="insight enabled must be a boolean",
        ),
        pytest.param(
            {("exporter",): {"port": 1}},
            "exporter",
            "Valid keys here: agora, alerts, apps, exposition, secrets_dir, state_dir",
            id="an unknown section lists the sections",
        ),
    ],
)
def test_each_validation_error_names_the_key(
    tmp_path: Path, changes: dict[tuple[str | int, ...], Any], path: str, fragment: str
) -> None:
    error = _error(tmp_path, _with(changes))
    [problem] = [p for p in error.problems if p.startswith(f"{path}: ")]
    assert fragment in problem
    assert problem in str(error)


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    text = (
        "agora:\n"
        f"  customer_id: {CUSTOMER_ID}\n"
        f"  customer_secret: {CUSTOMER_SECRET}\n"
        "  plan: standard\n"
        "apps:\n"
        "  - appid: nope\n"
    )
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    message = str(caught.value)
    assert message.splitlines()[0] == f"2 problems in the configuration ({path}):"
    assert "agora.plan: the standard plan has no access" in message
    assert f"given 'standard' ({path} line 4)" in message
    assert "apps[0].appid: must be the App ID" in message
    assert f"given 'nope' ({path} line 6)" in message


def test_an_empty_app_list_asks_for_an_app_in_plain_words(tmp_path: Path) -> None:
    path = _write(tmp_path, _with({("apps",): []}))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.problems == [
        "apps: list at least one app, each with its appid (the project's 32-character "
        "App ID from Agora Console) and optionally product_types, realtime, insight and "
        f"calls; given an empty list ({path} line 5)."
    ]


def test_a_missing_agora_section_names_its_keys_and_their_variables(tmp_path: Path) -> None:
    error = _error(tmp_path, _with({("agora",): ...}))
    assert error.problems == [
        "agora: the agora section is required; write agora: in the config file with "
        "customer_id, customer_secret and plan (optional: base_url, quota, headroom, "
        "timeout_s), or set AGORA_EXPORTER_AGORA__CUSTOMER_ID, "
        "AGORA_EXPORTER_AGORA__CUSTOMER_SECRET and AGORA_EXPORTER_AGORA__PLAN; "
        "customer_id and customer_secret may also be files in the secrets directory."
    ]


# ---------------------------------------------------------------------------
# Files that cannot be read


def test_invalid_yaml_reports_its_line(tmp_path: Path) -> None:
    text = "agora:\n  plan: enterprise\n apps:\n  - appid: x\n"
    error = _error(tmp_path, text)
    assert "is not valid YAML" in str(error)
    assert "line 3" in str(error)


def test_an_unclosed_list_reports_where_it_started(tmp_path: Path) -> None:
    text = "agora:\n  plan: [enterprise\n  headroom: 0.1\n"
    message = str(_error(tmp_path, text))
    assert "is not valid YAML" in message
    assert "started at line 2" in message


def test_a_key_given_twice_is_an_error_with_both_lines(tmp_path: Path) -> None:
    text = "agora:\n  plan: premium\n  plan: enterprise\n"
    message = str(_error(tmp_path, text))
    assert "line 3: key agora.plan appears twice (first on line 2)" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("- a\n- b\n", "the top level must be a mapping", id="a list at the top"),
        pytest.param("just text\n", "the top level must be a mapping", id="a scalar at the top"),
        pytest.param("", "apps: missing", id="an empty file is a config with nothing set"),
        pytest.param("a: 1\n---\nb: 2\n", "is not valid YAML", id="two documents in one file"),
    ],
)
def test_a_file_that_is_not_a_config_mapping(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in str(_error(tmp_path, text))


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope\.yaml not found"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path, environ={})


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"agora:\n  plan: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path, environ={})


# ---------------------------------------------------------------------------
# Secret hygiene


def test_secrets_stay_out_of_repr_str_and_dumps(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    for text in (
        repr(settings),
        str(settings),
        repr(settings.agora),
        str(settings.model_dump()),
        settings.model_dump_json(),
    ):
        assert CUSTOMER_ID not in text
        assert CUSTOMER_SECRET not in text


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(
            _with({("agora", "customer_id"): 987654321987}),
            id="a customer ID that YAML read as a number",
        ),
        pytest.param(
            _with({("agora", "customer_secret"): [CUSTOMER_SECRET]}),
            id="a secret given as a list",
        ),
        pytest.param(
            _with(
                {("agora", "customer_secret"): ..., ("agora", "customer_secrte"): CUSTOMER_SECRET}
            ),
            id="a secret under a misspelt key",
        ),
        pytest.param(
            _with({("agora", "plan"): CUSTOMER_SECRET}),
            id="a secret pasted into the wrong key",
        ),
        pytest.param(
            _with({("apps", 0, "appid"): CUSTOMER_ID}),
            id="a customer ID pasted as the App ID",
        ),
    ],
)
def test_secrets_never_appear_in_errors(tmp_path: Path, config: dict[str, Any]) -> None:
    error = _error(tmp_path, config)
    assert "987654321987" not in str(error)
    assert CUSTOMER_SECRET not in str(error)
    assert CUSTOMER_ID not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_secrets_from_the_environment_never_appear_in_errors(tmp_path: Path) -> None:
    error = _error(
        tmp_path,
        _with({("agora", "customer_secret"): ...}),
        environ={
            "AGORA_EXPORTER_AGORA__CUSTOMER_SECRET": CUSTOMER_SECRET,
            "AGORA_EXPORTER_EXPOSITION__MODE": CUSTOMER_SECRET,
        },
    )
    assert "exposition.mode: " in str(error)
    assert CUSTOMER_SECRET not in str(error)


def test_a_yaml_error_on_the_secret_line_does_not_quote_it(tmp_path: Path) -> None:
    text = f'agora:\n  customer_secret: "{CUSTOMER_SECRET}\n  plan: enterprise\n'
    error = _error(tmp_path, text)
    assert "is not valid YAML" in str(error)
    assert CUSTOMER_SECRET not in str(error)


# ---------------------------------------------------------------------------
# Defaults of the optional features


def test_insight_is_on_by_default(tmp_path: Path) -> None:
    settings = _load(tmp_path, _with({("apps",): [{"appid": APPID}, {"appid": OTHER_APPID}]}))
    assert all(app.insight.enabled for app in settings.apps)
    assert not any(app.calls.enabled for app in settings.apps)
