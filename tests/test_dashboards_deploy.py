"""The deployment artifacts, checked by structure (no Docker engine or cluster here).

Docker Compose, the Kubernetes manifests, the systemd unit, the Dockerfile and
.dockerignore are parsed and held to what the README promises; the
Kubernetes config and Secret are loaded by the exporter's own settings code.
The Dockerfile's HEALTHCHECK runs for real in tests/system/test_prometheus_e2e.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.cli.main import EXIT_CONFIG
from exporter.scheduling.planner import make_plan
from exporter.settings import ENV_PREFIX, SECRET_FILES, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
PORT = 10042


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return compose


def _manifests() -> dict[str, dict[str, Any]]:
    """Every manifest kustomization.yaml lists, by kind (one of each)."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    found: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / name).read_text()):
            assert document["kind"] not in found, f"two {document['kind']} manifests"
            found[document["kind"]] = document
    return found


def _container() -> dict[str, Any]:
    (container,) = _manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _names_each_secret(files: set[str]) -> bool:
    """True when ``files`` are secrets-directory names, one for each credential."""
    return all(len(files & set(names)) == 1 for names in SECRET_FILES.values()) and len(
        files
    ) == len(SECRET_FILES)


# -- Docker Compose -------------------------------------------------------------------------


def test_compose_runs_the_exporter_in_demo_mode_beside_prometheus_alertmanager_and_grafana() -> (
    None
):
    services = _compose()["services"]
    assert set(services) == {"exporter", "prometheus", "alertmanager", "grafana"}
    exporter = services["exporter"]
    assert "--demo" in exporter["command"]
    assert f"{PORT}:{PORT}" in exporter["ports"]
    assert (DEPLOY / exporter["build"]["context"] / exporter["build"]["dockerfile"]).is_file()
    assert exporter["read_only"] is True
    assert "/tmp" in exporter["tmpfs"]  # --demo keeps its state in a temporary directory
    for name, service in services.items():
        if "image" in service and name != "exporter":
            assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", service["image"]), name


def test_every_file_compose_mounts_exists() -> None:
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"


def test_compose_prometheus_loads_the_rules_and_finds_the_exporter_and_alertmanager() -> None:
    services = _compose()["services"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"])
    assert mounts["./prometheus/alerts.yml"] in config["rule_files"]
    assert mounts["./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "agora-exporter"  # the rules select on it
    assert job["static_configs"][0]["targets"] == [f"exporter:{PORT}"]
    assert _seconds(config["global"]["scrape_interval"]) <= 20  # no replayed window skipped
    (manager,) = config["alerting"]["alertmanagers"]
    assert manager["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert (
        "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"
        in (services["alertmanager"]["volumes"])
    )


def _seconds(duration: str) -> int:
    found = re.fullmatch(r"(\d+)([sm])", duration)
    assert found, f"unexpected duration {duration!r}"
    return int(found[1]) * (60 if found[2] == "m" else 1)


# -- Kubernetes -----------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_in_the_directory() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    present = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == present
    wanted = {
        "Deployment",
        "Secret",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
    }
    assert set(_manifests()) == wanted


def test_deployment_runs_one_non_root_pod_with_a_read_only_root_filesystem() -> None:
    deployment = _manifests()["Deployment"]
    assert deployment["spec"]["replicas"] == 1  # the quota belongs to the customer ID
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] != 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    container = _container()["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]


def test_deployment_probes_health_and_readiness_on_the_metrics_port() -> None:
    container = _container()
    (port,) = container["ports"]
    assert port["containerPort"] == PORT
    assert f"--web.listen-address=:{PORT}" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": port["name"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": port["name"]}


def test_deployment_mounts_the_config_the_secret_and_a_volume_for_state_dir(
    tmp_path: Path,
) -> None:
    manifests = _manifests()
    container = _container()
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in manifests["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    config_file = next(a for a in container["args"] if a.startswith("--config.file="))
    assert config_file == f"--config.file={mounts['config']}/agora.yml"
    assert volumes["config"]["configMap"]["name"] == manifests["ConfigMap"]["metadata"]["name"]
    assert volumes["credentials"]["secret"]["secretName"] == manifests["Secret"]["metadata"]["name"]
    claim = manifests["PersistentVolumeClaim"]["metadata"]["name"]
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == claim
    settings = _kubernetes_settings(tmp_path)
    assert str(settings.state_dir) == mounts["state"]
    assert mounts["credentials"] == "/run/secrets/agora"


def _kubernetes_settings(tmp_path: Path) -> Any:
    """The ConfigMap's agora.yml, with the Secret's files as the secrets directory."""
    manifests = _manifests()
    config = tmp_path / "agora.yml"
    config.write_text(manifests["ConfigMap"]["data"]["agora.yml"])
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in manifests["Secret"]["stringData"].items():
        (secrets / name).write_text(value)
    environ = {f"{ENV_PREFIX}SECRETS_DIR": str(secrets)}
    return load_settings(config, environ=environ)


def test_kubernetes_config_and_secret_make_a_valid_feasible_configuration(tmp_path: Path) -> None:
    assert _names_each_secret(set(_manifests()["Secret"]["stringData"]))
    settings = _kubernetes_settings(tmp_path)
    assert settings.agora.customer_secret.get_secret_value() == "replace-with-your-customer-secret"
    assert "customer_secret" not in _manifests()["ConfigMap"]["data"]["agora.yml"]
    assert make_plan(settings).feasible


def test_service_and_service_monitor_select_the_pod_and_name_the_job_agora_exporter() -> None:
    manifests = _manifests()
    pod_labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = manifests["Service"]
    assert service["metadata"]["name"] == "agora-exporter"  # becomes the job label
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (PORT, _container()["ports"][0]["name"])
    monitor = manifests["ServiceMonitor"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == port["name"]
    assert _seconds(endpoint["interval"]) <= 20


# -- systemd ---------------------------------------------------------------------------------


def _unit() -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / "agora-exporter.service").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_systemd_unit_runs_sandboxed_with_credentials_from_load_credential() -> None:
    unit = _unit()
    service = unit["Service"]
    (start,) = service["ExecStart"]
    assert start.startswith("/usr/local/bin/agora-exporter --config.file=/etc/agora-exporter/")
    assert f"{ENV_PREFIX}SECRETS_DIR=%d" in service["Environment"]
    credentials = {value.split(":", 1)[0] for value in service["LoadCredential"]}
    assert _names_each_secret(credentials)
    assert service["DynamicUser"] == ["yes"]
    assert service["StateDirectory"] == ["agora-exporter"]
    assert f"{ENV_PREFIX}STATE_DIR=/var/lib/agora-exporter" in service["Environment"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
    }.items():
        assert service[key] == [value]
    assert service["RestartPreventExitStatus"] == [str(EXIT_CONFIG)]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


# -- Dockerfile -----------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), re.sub(r"\s+", " ", rest).strip()))
    return found


def test_dockerfile_builds_a_slim_non_root_image_with_an_exec_form_entrypoint() -> None:
    instructions = _instructions()
    bases = [rest.split(" ")[0] for keyword, rest in instructions if keyword == "FROM"]
    assert bases
    assert all(re.fullmatch(r"python:3\.\d+-slim", base) for base in bases)
    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    (entrypoint,) = [rest for keyword, rest in final if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["agora-exporter"]
    assert json.loads(next(rest for keyword, rest in final if keyword == "CMD"))
    assert ("EXPOSE", str(PORT)) in final
    (volume,) = [json.loads(rest) for keyword, rest in final if keyword == "VOLUME"]
    assert volume == ["/var/lib/agora-exporter"]
    assert any(f"{ENV_PREFIX}STATE_DIR={volume[0]}" in rest for k, rest in final if k == "ENV")


def test_dockerfile_healthcheck_needs_no_curl() -> None:
    (healthcheck,) = [rest for keyword, rest in _instructions() if keyword == "HEALTHCHECK"]
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[0] == "python"
    assert f"127.0.0.1:{PORT}/-/healthy" in command[-1]
    assert not re.search(r"\b(curl|wget)\b", (ROOT / "Dockerfile").read_text())


def test_dockerignore_sends_only_what_the_dockerfile_copies() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for keyword, rest in _instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            copied.update(part.rstrip("/").removeprefix("./") for part in rest.split()[:-1])
    assert copied == included
    assert all((ROOT / name).exists() for name in copied)


@pytest.mark.parametrize("path", ["Dockerfile", "deploy/docker-compose.yml"])
def test_deployment_files_name_no_real_credentials(path: str) -> None:
    text = (ROOT / path).read_text().lower()
    assert "customer_secret:" not in text
    assert "customer_secret=" not in text
