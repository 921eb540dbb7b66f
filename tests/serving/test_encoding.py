"""Format's pieces are the negotiated encoder's own bytes, however it writes the samples."""

from __future__ import annotations

import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from exporter.serving.exposition.encoding import Format, names_as_they_are
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


def test_only_underscores_escaping_is_written_with_names_as_they_are() -> None:
    prometheus, _ = choose_encoder(FORMATS["Prometheus 2's OpenMetrics"])
    assert names_as_they_are(prometheus) is not prometheus
    for kept in ("plain text", "OpenMetrics with UTF-8 names", "versioned text with dots escaping"):
        encoder, _ = choose_encoder(FORMATS[kept])
        assert names_as_they_are(encoder) is encoder, kept
