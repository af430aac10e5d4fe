#!/usr/bin/env python3
"""What a schema cannot check in the deploy files, run by .ci/run.

    python3 .ci/check_deploy.py RENDERED.yaml

RENDERED.yaml is `kubectl kustomize deploy/kubernetes` (or the manifests concatenated).
Checks the Kubernetes manifests (probes, non-root, resources, the grace period against
the worker's drain, the autoscaler's metric), docker-compose.yml (ports on loopback,
health checks, the workers' stop grace period) and deploy/Dockerfile (numeric USER,
exec-form HEALTHCHECK). Prints every problem and exits 1 if there is one.
"""

import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
problems = []


def problem(message):
    problems.append(message)


def seconds(duration):
    """'30s', '2m', '1h' -> seconds (the units defaults.toml uses for shutdown_grace)."""
    match = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h)\s*", str(duration))
    if not match:
        raise ValueError(f"cannot read the duration {duration!r}")
    value, unit = int(match.group(1)), match.group(2)
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def check_pod(name, pod, long_running):
    context = pod.get("securityContext", {})
    if context.get("runAsNonRoot") is not True:
        problem(f"{name}: pod securityContext.runAsNonRoot is not true")
    user = context.get("runAsUser")
    if not isinstance(user, int) or user == 0:
        problem(f"{name}: pod securityContext.runAsUser must be a numeric non-root user, got {user!r}")
    if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem(f"{name}: pod seccompProfile is not RuntimeDefault")
    for container in pod.get("containers", []):
        where = f"{name}/{container.get('name')}"
        security = container.get("securityContext", {})
        if security.get("readOnlyRootFilesystem") is not True:
            problem(f"{where}: readOnlyRootFilesystem is not true")
        if security.get("allowPrivilegeEscalation") is not False:
            problem(f"{where}: allowPrivilegeEscalation is not false")
        if "ALL" not in security.get("capabilities", {}).get("drop", []):
            problem(f"{where}: capabilities do not drop ALL")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    problem(f"{where}: no {kind}.{resource}")
        if long_running:
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                got = container.get(probe, {}).get("httpGet", {}).get("path")
                if got != path:
                    problem(f"{where}: {probe} must GET {path}, got {got!r}")


def check_manifests(rendered):
    documents = [d for d in yaml.safe_load_all(rendered.read_text()) if d]
    by_kind = {}
    for document in documents:
        by_kind.setdefault(document.get("kind"), []).append(document)
    for kind in ("ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
                 "HorizontalPodAutoscaler", "Job"):
        if kind not in by_kind:
            problem(f"{rendered}: no {kind} among the manifests")

    config = {}
    for configmap in by_kind.get("ConfigMap", []):
        config.update(configmap.get("data", {}))
    defaults = tomllib.loads((ROOT / "crates/eai/src/defaults.toml").read_text())
    drain = seconds(config.get("EAI_SHUTDOWN_GRACE", defaults["shutdown_grace"]))

    for deployment in by_kind.get("Deployment", []):
        name = f"Deployment/{deployment['metadata']['name']}"
        pod = deployment["spec"]["template"]["spec"]
        check_pod(name, pod, long_running=True)
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace <= drain:
            problem(f"{name}: terminationGracePeriodSeconds {grace} is not longer than "
                    f"the worker's drain (shutdown_grace {drain:g} s)")
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") != "true":
            problem(f"{name}: the pod template has no prometheus.io/scrape: \"true\"")
    for job in by_kind.get("Job", []):
        check_pod(f"Job/{job['metadata']['name']}", job["spec"]["template"]["spec"],
                  long_running=False)
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        metrics = [m.get("external", {}).get("metric", {}).get("name")
                   for m in hpa["spec"].get("metrics", [])]
        if "eai_queue_depth" not in metrics:
            problem(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: "
                    f"does not scale on eai_queue_depth (metrics: {metrics})")


def check_compose(path, drain):
    services = yaml.safe_load(path.read_text())["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            if host_ip != "127.0.0.1":
                problem(f"{path}: {name} publishes {port!r} beyond 127.0.0.1")
        one_shot = service.get("restart") == "no"
        healthcheck = service.get("healthcheck", {})
        if not one_shot and (healthcheck.get("disable") or not healthcheck.get("test")):
            problem(f"{path}: the long-running service {name} has no healthcheck")
        if service.get("command", [None])[0] == "run":
            grace = seconds(service.get("stop_grace_period", "10s"))
            if grace <= drain:
                problem(f"{path}: {name}: stop_grace_period {grace:g} s is not longer than "
                        f"the worker's drain (shutdown_grace {drain:g} s)")


def check_dockerfile(path):
    lines = path.read_text().splitlines()
    users = [line.split(None, 1)[1].strip() for line in lines if line.startswith("USER ")]
    if not users:
        problem(f"{path}: no USER")
    elif not re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]):
        problem(f"{path}: the last USER must be a numeric non-root uid (runAsNonRoot "
                f"can verify only a number), got {users[-1]!r}")
    healthchecks = [line for line in lines if line.startswith("HEALTHCHECK")]
    text = path.read_text()
    if not healthchecks:
        problem(f"{path}: no HEALTHCHECK")
    elif not re.search(r"^HEALTHCHECK\b[^\n]*(\\\n[^\n]*)*?\bCMD \[", text, re.M):
        problem(f"{path}: HEALTHCHECK is not in exec form (CMD [\"curl\", ...])")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    check_manifests(Path(sys.argv[1]))
    defaults = tomllib.loads((ROOT / "crates/eai/src/defaults.toml").read_text())
    check_compose(ROOT / "docker-compose.yml", seconds(defaults["shutdown_grace"]))
    check_dockerfile(ROOT / "deploy/Dockerfile")
    for message in problems:
        print(f"deploy check: {message}", file=sys.stderr)
    if problems:
        return 1
    print("deploy checks: probes, non-root, resources, grace periods > drain, autoscaler "
          "metric, compose ports on loopback and health checks, image USER and HEALTHCHECK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
