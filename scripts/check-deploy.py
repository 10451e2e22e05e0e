#!/usr/bin/env python3
"""Checks docker-compose.yml and k8s/ without a Docker engine or a cluster: they parse, and they
agree with the code (every command is a binary the workspace builds, every port is the one the
settings give that service, probes hit /readyz and /healthz)."""
import pathlib
import sys
import tomllib

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
errors = []


def err(msg):
    errors.append(msg)


binaries = {p.name for p in (root / "services").iterdir() if (p / "src" / "main.rs").exists()}
binaries.add("pushmesh-cli")


def ports_of(settings):
    listen = settings.get("listen", {})
    ports = {k: int(v.rsplit(":", 1)[1]) for k, v in listen.items() if isinstance(v, str)}
    for vendor, addr in listen.get("dispatch", {}).items():
        ports[f"dispatch-{vendor}"] = int(addr.rsplit(":", 1)[1])
    ports["vendor-sim"] = ports.pop("vendor_sim", 9200)
    return ports


# docker-compose.yml
compose = yaml.safe_load((root / "docker-compose.yml").read_text())
docker_ports = ports_of(tomllib.loads((root / "config" / "docker.toml").read_text()))
for name, svc in compose["services"].items():
    if name == "rabbitmq":
        continue
    cmd = svc.get("command", [None])[0]
    if cmd not in binaries:
        err(f"docker-compose.yml: service {name} runs `{cmd}`, which the workspace does not build")
    published = [int(p.split(":")[1]) for p in svc.get("ports", [])]
    if docker_ports.get(cmd) not in published:
        err(f"docker-compose.yml: {name} must publish port {docker_ports.get(cmd)} (config/docker.toml)")
    if "rabbitmq" not in svc.get("depends_on", {}):
        err(f"docker-compose.yml: {name} must wait for rabbitmq")

# k8s/
k8s = root / "k8s"
docs = {}
for path in sorted(k8s.glob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        for key in ("apiVersion", "kind"):
            if key not in doc:
                err(f"{path.name}: a document has no {key}")
        if doc.get("kind") != "Kustomization" and not doc.get("metadata", {}).get("name"):
            err(f"{path.name}: a {doc.get('kind')} has no metadata.name")
        docs.setdefault(path.name, []).append(doc)

listed = set(docs.get("kustomization.yaml", [{}])[0].get("resources", []))
for name in docs:
    if name != "kustomization.yaml" and name not in listed:
        err(f"k8s/kustomization.yaml does not list {name}")

config = next(d for ds in docs.values() for d in ds if d.get("kind") == "ConfigMap")
k8s_ports = ports_of(tomllib.loads(config["data"]["pushmesh.toml"]))
for name, ds in docs.items():
    for doc in ds:
        if doc.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        spec = doc["spec"]
        if spec["selector"]["matchLabels"].items() - spec["template"]["metadata"]["labels"].items():
            err(f"{name}: the selector does not match the pod labels")
        for c in spec["template"]["spec"]["containers"]:
            cmd = c["command"][0]
            if cmd not in binaries:
                err(f"{name}: container runs `{cmd}`, which the workspace does not build")
            port = c["ports"][0]["containerPort"]
            if k8s_ports.get(cmd) != port:
                err(f"{name}: containerPort {port}, but the ConfigMap listens on {k8s_ports.get(cmd)}")
            if c["readinessProbe"]["httpGet"]["path"] != "/readyz":
                err(f"{name}: the readiness probe must be /readyz")
            if c["livenessProbe"]["httpGet"]["path"] != "/healthz":
                err(f"{name}: the liveness probe must be /healthz")

if errors:
    print("deployment files disagree with the code:", *errors, sep="\n  ")
    sys.exit(1)
print(f"deployment files ok: docker-compose.yml ({len(compose['services'])} services), "
      f"k8s/ ({sum(len(d) for d in docs.values())} documents)")
