"""Format's pieces are the negotiated encoder's own bytes, however it writes the samples."""

from __future__ import annotations

import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from exporter.serving.exposition.encoding import Format
from tests.serving.test_exposition import FORMATS


def _family(name: str, label: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, 'Help with "quotes" and \\ and \u00e9.', labels=[label])
    for index in range(3):
        family.add_metric([f'room "{index}"\n\\'], 0.25 * index)
    return family


@pytest.mark.parametrize("accept", FORMATS.values(), ids=FORMATS.keys())
@pytest.mark.parametrize(
    ("name", "label"),
    [
        pytest.param("agora_realtime_users", "cname", id="legacy names"),
        pytest.param("agora.realtime.users", "c.name", id="names only UTF-8 allows"),
    ],
)
def test_a_familys_sample_lines_are_what_the_negotiated_encoder_writes(
    accept: str, name: str, label: str
) -> None:
    encoder, content_type = choose_encoder(accept)
    fmt = Format(encoder, content_type)
    family = _family(name, label)
    whole = fmt.render([family])
    assert fmt.header(family) + fmt.samples(family) == whole


LINES = [
    ("agora_realtime_users", ("appid", "cname"), ["app", "caf\u00e9 {0} }{"], 17.0, None),
    ("agora_realtime_users", ("appid", "cname"), ["app", 'ro"om\\\n'], 0.5, None),
    ("agora_realtime_users", ("appid", "cname"), ["app", "room"], 1e308, 1_700_000_000.0),
    ("agora.realtime.delay", ("app.id",), ["app"], -2.5, None),
    ("agora_realtime_bare", (), [], 5e-324, None),
]


@pytest.mark.parametrize("accept", FORMATS.values(), ids=FORMATS.keys())
def test_lines_from_templates_are_the_lines_the_encoder_writes(accept: str) -> None:
    """Templates for plain label values (braces, UTF-8); the encoder's own for escapes,
    timestamps and names only UTF-8 allows, in every negotiated format."""
    encoder, content_type = choose_encoder(accept)
    fmt = Format(encoder, content_type)
    labels = {"agora_realtime_users": ["appid", "cname"], "agora.realtime.delay": ["app.id"]}
    names = ["agora_realtime_users", "agora.realtime.delay", "agora_realtime_bare"]
    expected = []
    for name in names:
        family = GaugeMetricFamily(name, "Help.", labels=labels.get(name, []))
        for _, values, value, stamp in (line[1:] for line in LINES if line[0] == name):
            family.add_metric(values, value, stamp)
        expected.append(fmt.samples(family))
    assert fmt.lines(LINES, names) == expected


@pytest.mark.parametrize("accept", FORMATS.values(), ids=FORMATS.keys())
def test_a_plain_line_is_filled_into_a_template_once_one_was_made(
    accept: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fmt = Format(*choose_encoder(accept))
    plain = [LINES[0]]
    first = fmt.lines(plain, ["agora_realtime_users"])

    def encoder_line(*args: object) -> str:
        raise AssertionError(f"the encoder was asked for a plain line: {args}")

    monkeypatch.setattr(fmt, "_one_line", encoder_line)
    assert fmt.lines(plain, ["agora_realtime_users"]) == first
