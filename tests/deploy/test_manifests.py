"""The deployment artifacts, checked by structure and, where the tool is here, rendered.

Docker Compose (the demo stack and its Docker-secrets variant), the Kubernetes
manifests and components, the overlay that docs/kubernetes.md tells you to write,
the systemd unit, the Dockerfile and .dockerignore are parsed and held to what
the docs promise; the Kubernetes config is loaded by the exporter's own settings
code. ``kubectl kustomize`` (or ``kustomize``) renders the manifests when it is
installed, and Docker Compose v2 checks the compose files when it is; those tests
skip, saying so, without the tool. tests/deploy/test_image.py performs the image's steps
and runs its HEALTHCHECK for real.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.cli.main import EXIT_CONFIG
from exporter.scheduling.planner import make_plan
from exporter.settings import ENV_PREFIX, SECRET_FILES, load_settings
from tests.deploy.test_image import copies, instructions, read_dockerfile

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPONENTS = KUBERNETES / "components"
DOCS = ROOT / "docs" / "kubernetes.md"
PORT = 10042
NAMESPACE = "monitoring"
SECRET_NAME = "agora-exporter-credentials"
OPERATOR_GROUP = "monitoring.coreos.com"


def _yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _compose(name: str = "docker-compose.yml") -> dict[str, Any]:
    return _yaml(DEPLOY / name)


def _documents() -> list[dict[str, Any]]:
    """Every manifest kustomization.yaml lists, in order."""
    found: list[dict[str, Any]] = []
    for name in _yaml(KUBERNETES / "kustomization.yaml")["resources"]:
        found.extend(d for d in yaml.safe_load_all((KUBERNETES / name).read_text()) if d)
    return found


def _manifests() -> dict[str, dict[str, Any]]:
    """The manifests by kind, the dashboards' ConfigMaps left out (one of each kind)."""
    found: dict[str, dict[str, Any]] = {}
    for document in _documents():
        if _is_dashboard(document):
            continue
        assert document["kind"] not in found, f"two {document['kind']} manifests"
        found[document["kind"]] = document
    return found


def _is_dashboard(document: dict[str, Any]) -> bool:
    labels = document["metadata"].get("labels", {})
    return document["kind"] == "ConfigMap" and "grafana_dashboard" in labels


def _container() -> dict[str, Any]:
    (container,) = _manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _secret_volume() -> dict[str, Any]:
    volumes = _manifests()["Deployment"]["spec"]["template"]["spec"]["volumes"]
    (volume,) = [v for v in volumes if "secret" in v]
    return dict(volume)


def _names_each_secret(files: set[str]) -> bool:
    """True when ``files`` are secrets-directory names, one for each credential."""
    return all(len(files & set(names)) == 1 for names in SECRET_FILES.values()) and len(
        files
    ) == len(SECRET_FILES)


def _image_env() -> dict[str, str]:
    return read_dockerfile().env()


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


def test_compose_checks_the_exporters_health_with_the_images_healthcheck() -> None:
    healthcheck = _compose()["services"]["exporter"]["healthcheck"]
    _, command = read_dockerfile().healthcheck()
    assert healthcheck["test"] == ["CMD", *command]
    assert _seconds(healthcheck["timeout"]) < _seconds(healthcheck["interval"])
    assert healthcheck["retries"] >= 1
    assert "start_period" in healthcheck


def test_services_that_need_the_exporter_wait_until_it_is_healthy() -> None:
    services = _compose()["services"]
    dependents = {name for name, s in services.items() if "exporter" in s.get("depends_on", {})}
    assert dependents == {"prometheus"}
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: the long form names each condition"
        for dependency, how in depends_on.items():
            expected = "service_healthy" if dependency == "exporter" else "service_started"
            assert how["condition"] == expected, (name, dependency)


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


def test_compose_secrets_variant_mounts_docker_secrets_in_the_images_secrets_dir() -> None:
    override = _compose("docker-compose.secrets.yml")
    assert set(override["services"]) == {"exporter"}
    exporter = override["services"]["exporter"]
    env = _image_env()
    secrets_dir = env[f"{ENV_PREFIX}SECRETS_DIR"]
    targets = {s["target"] for s in exporter["secrets"]}
    assert {str(Path(t).parent) for t in targets} == {secrets_dir}
    assert _names_each_secret({Path(t).name for t in targets})
    assert {s["source"] for s in exporter["secrets"]} == set(override["secrets"])
    assert "environment" not in exporter  # nothing credential-like in the environment
    assert "--demo" not in exporter["command"]
    (config,) = exporter["configs"]
    assert f"--config.file={config['target']}" in exporter["command"]
    assert f"--web.listen-address=:{PORT}" in exporter["command"]
    state = [v for v in exporter["volumes"] if v.endswith(f":{env[f'{ENV_PREFIX}STATE_DIR']}")]
    (volume,) = state
    assert volume.split(":")[0] in override["volumes"]  # named: kept across `down`


def test_compose_secrets_variant_has_no_placeholder_to_fall_back_on() -> None:
    override = _compose("docker-compose.secrets.yml")
    files = [
        entry["file"] for entry in [*override["secrets"].values(), *override["configs"].values()]
    ]
    assert len(files) == 3
    for file in files:
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", file), file  # required, no default
    text = (DEPLOY / "docker-compose.secrets.yml").read_text()
    assert "replace-with" not in text


def _compose_v2() -> list[str]:
    for program, *rest in (["docker", "compose"], ["docker-compose"]):
        found = shutil.which(program)
        if found is None:
            continue
        command = [found, *rest]
        version = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, check=False
        )
        if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2."):
            return command
    pytest.skip("no Docker Compose v2 here (docker compose / docker-compose)")


def test_docker_compose_accepts_the_demo_and_the_secrets_variant(tmp_path: Path) -> None:
    compose = _compose_v2()
    demo = ["-f", str(DEPLOY / "docker-compose.yml")]
    both = [*demo, "-f", str(DEPLOY / "docker-compose.secrets.yml")]
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}  # no AGORA_* from here
    check = subprocess.run([*compose, *demo, "config", "--quiet"], env=environ, check=False)
    assert check.returncode == 0
    missing = subprocess.run(
        [*compose, *both, "config", "--quiet"], env=environ, capture_output=True, check=False
    )
    assert missing.returncode != 0
    for name in ("agora.yml", "customer_id", "customer_secret"):
        (tmp_path / name).write_text("x")
    environ |= {
        "AGORA_EXPORTER_CONFIG": str(tmp_path / "agora.yml"),
        "AGORA_CUSTOMER_ID_FILE": str(tmp_path / "customer_id"),
        "AGORA_CUSTOMER_SECRET_FILE": str(tmp_path / "customer_secret"),
    }
    merged = subprocess.run(
        [*compose, *both, "config", "--format", "json"],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert merged.returncode == 0, merged.stderr
    exporter = json.loads(merged.stdout)["services"]["exporter"]
    assert "--demo" not in exporter["command"]
    assert exporter["read_only"] is True  # kept from docker-compose.yml
    assert exporter["healthcheck"]["test"][0] == "CMD"


# -- Kubernetes: the files ------------------------------------------------------------------


def test_kustomization_lists_every_manifest_in_the_directory() -> None:
    kustomization = _yaml(KUBERNETES / "kustomization.yaml")
    present = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == present
    assert "grafana-dashboards.yaml" in present
    assert kustomization["namespace"] == NAMESPACE
    wanted = {
        "Deployment",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
    }
    assert set(_manifests()) == wanted


def test_no_secret_and_no_placeholder_credentials_anywhere_under_deploy_kubernetes() -> None:
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        text = path.read_text()
        assert "replace-with" not in text, path
        for document in yaml.safe_load_all(text):
            if not document:
                continue
            assert document.get("kind") != "Secret", path
            assert "secretGenerator" not in document, f"{path}: fails without the files"
            assert "stringData" not in document, path
    assert _secret_volume()["secret"]["secretName"] == SECRET_NAME


def test_dashboards_are_configmaps_for_grafanas_sidecar() -> None:
    dashboards = [d for d in _documents() if _is_dashboard(d)]
    uids = set()
    for configmap in dashboards:
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, text),) = configmap["data"].items()
        dashboard = json.loads(text)
        assert key == f"{dashboard['uid']}.json"
        uids.add(dashboard["uid"])
        # kubectl apply (client side) keeps the object in an annotation of at most 256 KiB.
        assert len(json.dumps(configmap)) < 256 * 1024 - 4096, configmap["metadata"]["name"]
    files = ROOT.glob("grafana/dashboards/*.json")
    assert uids == {json.loads(p.read_text())["uid"] for p in files}
    assert uids


def test_kube_prometheus_stack_component_adds_the_release_label_to_operator_objects() -> None:
    component = _yaml(COMPONENTS / "kube-prometheus-stack" / "kustomization.yaml")
    assert component["kind"] == "Component"
    (patch,) = component["patches"]
    assert patch["target"]["group"] == OPERATOR_GROUP
    (operation,) = yaml.safe_load(patch["patch"])
    assert operation["op"] == "add"
    assert operation["path"] == "/metadata/labels/release"
    assert operation["value"]
    kinds = {d["kind"] for d in _documents() if d["apiVersion"].startswith(OPERATOR_GROUP)}
    assert kinds == {"ServiceMonitor", "PrometheusRule"}


def _docs_overlay() -> dict[str, Any]:
    """The overlay docs/kubernetes.md tells you to write."""
    blocks = re.findall(
        r"```yaml\n(# agora-deploy/kustomization\.yaml\n.*?)```", DOCS.read_text(), re.S
    )
    (block,) = blocks
    return dict(yaml.safe_load(block))


def test_docs_overlay_generates_the_secret_the_deployment_mounts() -> None:
    overlay = _docs_overlay()
    assert overlay["namespace"] == NAMESPACE  # a generated Secret must sit beside the pod
    (generator,) = overlay["secretGenerator"]
    assert generator["name"] == _secret_volume()["secret"]["secretName"]
    assert _names_each_secret(set(generator["files"]))
    (config,) = overlay["configMapGenerator"]
    assert config["name"] == _manifests()["ConfigMap"]["metadata"]["name"]
    assert config["behavior"] == "replace"
    (image,) = overlay["images"]
    assert image["name"] == _container()["image"].split(":")[0]
    base = "../agora-exporter/deploy/kubernetes"
    assert overlay["resources"] == [base]
    assert all(c.startswith(f"{base}/components/") for c in overlay["components"])
    for component in overlay["components"]:
        assert (KUBERNETES / component.removeprefix(base + "/")).is_dir()


# -- Kubernetes: rendered by kustomize ------------------------------------------------------


def _kustomize_command() -> list[str]:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    pytest.skip("neither kubectl nor kustomize is installed; the structure tests still ran")


def _render(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [*_kustomize_command(), str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


def _checkout(tmp_path: Path) -> Path:
    """deploy/kubernetes as ../agora-exporter/deploy/kubernetes of an overlay in tmp_path."""
    base = tmp_path / "agora-exporter" / "deploy" / "kubernetes"
    shutil.copytree(KUBERNETES, base)
    return base


def _overlay(tmp_path: Path, body: dict[str, Any]) -> Path:
    directory = tmp_path / "agora-deploy"
    directory.mkdir(exist_ok=True)
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization | body))
    return directory


def test_kustomize_renders_the_base_without_any_secret() -> None:
    documents = _render(KUBERNETES)
    assert _by_kind(documents, "Secret") == []
    assert {d["metadata"]["namespace"] for d in documents} == {NAMESPACE}
    assert all(d["metadata"]["labels"]["app.kubernetes.io/part-of"] for d in documents)
    (deployment,) = _by_kind(documents, "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {v["secret"]["secretName"] for v in volumes if "secret" in v} == {SECRET_NAME}
    dashboards = [d for d in documents if _is_dashboard(d)]
    assert len(dashboards) == len(list(ROOT.glob("grafana/dashboards/*.json")))
    for document in _by_kind(documents, "ServiceMonitor") + _by_kind(documents, "PrometheusRule"):
        assert "release" not in document["metadata"]["labels"]


def test_kustomize_components_set_the_release_label_or_drop_the_operator_objects(
    tmp_path: Path,
) -> None:
    base = _checkout(tmp_path)
    component = "../agora-exporter/deploy/kubernetes/components/kube-prometheus-stack"
    body = {"resources": ["../agora-exporter/deploy/kubernetes"], "components": [component]}
    documents = _render(_overlay(tmp_path, body))
    labelled = {d["kind"] for d in documents if "release" in d["metadata"].get("labels", {})}
    assert labelled == {"ServiceMonitor", "PrometheusRule"}
    assert {d["metadata"]["labels"].get("release") for d in documents} == {
        None,
        "kube-prometheus-stack",
    }
    body["components"] = [component.replace("kube-prometheus-stack", "without-prometheus-operator")]
    documents = _render(_overlay(tmp_path, body))
    assert not [d for d in documents if d["apiVersion"].startswith(OPERATOR_GROUP)]
    assert len(documents) == len(_render(base)) - 2


def test_the_docs_overlay_renders_your_config_image_secret_and_release(tmp_path: Path) -> None:
    _checkout(tmp_path)
    overlay = _overlay(tmp_path, _docs_overlay())
    without = subprocess.run(
        [*_kustomize_command(), str(overlay)], capture_output=True, text=True, check=False
    )
    assert without.returncode != 0  # no credentials files: nothing to fall back on
    config = _manifests()["ConfigMap"]["data"]["agora.yml"].replace(
        "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
    )
    (overlay / "agora.yml").write_text(config)
    credentials = {"customer_id": "test-customer-id", "customer_secret": "test-secret\n"}
    for name, value in credentials.items():
        (overlay / name).write_text(value)
    documents = _render(overlay)
    (secret,) = _by_kind(documents, "Secret")
    assert secret["metadata"]["namespace"] == NAMESPACE
    assert re.fullmatch(rf"{SECRET_NAME}-[a-z0-9]{{10}}", secret["metadata"]["name"])
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == credentials
    (deployment,) = _by_kind(documents, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    (container,) = spec["containers"]
    (image,) = _docs_overlay()["images"]
    assert container["image"] == f"{image['newName']}:{image['newTag']}"
    (configmap,) = [d for d in _by_kind(documents, "ConfigMap") if not _is_dashboard(d)]
    assert configmap["data"]["agora.yml"] == config
    release = {d["metadata"].get("labels", {}).get("release") for d in documents} - {None}
    assert len(release) == 1
    # The rendered config and Secret, as the pod sees them, load and plan.
    settings = _settings(tmp_path, configmap["data"]["agora.yml"], decoded)
    assert settings.agora.customer_secret.get_secret_value() == "test-secret"
    assert make_plan(settings).feasible


# -- Kubernetes: the workload ---------------------------------------------------------------


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
    assert volumes["credentials"]["secret"]["secretName"] == SECRET_NAME
    claim = manifests["PersistentVolumeClaim"]["metadata"]["name"]
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == claim
    settings = _kubernetes_settings(tmp_path)
    assert str(settings.state_dir) == mounts["state"]
    assert mounts["credentials"] == "/run/secrets/agora"
    assert mounts["credentials"] == _image_env()[f"{ENV_PREFIX}SECRETS_DIR"]
    assert mounts["state"] == _image_env()[f"{ENV_PREFIX}STATE_DIR"]


def _settings(tmp_path: Path, agora_yml: str, secrets: dict[str, str]) -> Any:
    """``agora_yml`` loaded with ``secrets`` as the files of the secrets directory."""
    config = tmp_path / "agora.yml"
    config.write_text(agora_yml)
    directory = tmp_path / "secrets"
    directory.mkdir(exist_ok=True)
    for name, value in secrets.items():
        (directory / name).write_text(value)
    return load_settings(config, environ={f"{ENV_PREFIX}SECRETS_DIR": str(directory)})


def _kubernetes_settings(tmp_path: Path) -> Any:
    """The ConfigMap's agora.yml, with a Secret of test credentials as the secrets dir."""
    config = _manifests()["ConfigMap"]["data"]["agora.yml"]
    return _settings(tmp_path, config, {"customer_id": "id", "customer_secret": "secret"})


def test_kubernetes_config_makes_a_valid_feasible_configuration_without_secrets_in_it(
    tmp_path: Path,
) -> None:
    settings = _kubernetes_settings(tmp_path)
    assert settings.agora.customer_secret.get_secret_value() == "secret"
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


def test_dockerfile_builds_a_slim_non_root_image_with_an_exec_form_entrypoint() -> None:
    dockerfile = read_dockerfile()
    assert all(
        re.fullmatch(r"python:3\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", stage.base)
        for stage in dockerfile.stages
    )
    final = dockerfile.final
    users = final.all("USER")
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    (entrypoint,) = final.all("ENTRYPOINT")
    assert json.loads(entrypoint) == ["agora-exporter"]
    assert json.loads(final.all("CMD")[0])
    assert final.all("EXPOSE") == [str(PORT)]
    (volume,) = [json.loads(rest) for rest in final.all("VOLUME")]
    assert volume == ["/var/lib/agora-exporter"]
    assert dockerfile.env()[f"{ENV_PREFIX}STATE_DIR"] == volume[0]


def test_dockerfile_healthcheck_needs_no_curl_and_hard_codes_no_address() -> None:
    _, command = read_dockerfile().healthcheck()
    assert command == ["agora-exporter-healthcheck"]
    text = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"\b(curl|wget)\b", text)
    healthcheck = next(line for line in text.splitlines() if line.startswith("HEALTHCHECK"))
    assert str(PORT) not in healthcheck
    assert "127.0.0.1" not in text


def test_dockerignore_sends_only_what_the_dockerfile_copies() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied: set[str] = set()
    for stage in read_dockerfile().stages:
        for flags, sources, _ in copies(stage):
            if "from" not in flags:
                copied.update(source.rstrip("/").removeprefix("./") for source in sources)
    assert copied == included
    assert all((ROOT / name).exists() for name in copied)


def test_dockerfile_instructions_parse_as_docker_reads_them() -> None:
    keywords = {keyword for keyword, _ in instructions((ROOT / "Dockerfile").read_text())}
    assert keywords <= {
        "ARG", "FROM", "WORKDIR", "COPY", "RUN", "LABEL", "ENV", "USER", "VOLUME", "EXPOSE",
        "HEALTHCHECK", "ENTRYPOINT", "CMD",
    }  # fmt: skip


@pytest.mark.parametrize(
    "path", ["Dockerfile", "deploy/docker-compose.yml", "deploy/docker-compose.secrets.yml"]
)
def test_deployment_files_name_no_real_credentials(path: str) -> None:
    text = (ROOT / path).read_text().lower()
    # No key or variable holding a credential (the secret's *name* may say what it is).
    assert not re.search(r"(^|[\s.=]|__)customer_(id|secret)[ \t]*[:=][ \t]*\S", text, re.M)
