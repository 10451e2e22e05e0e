#!/usr/bin/env python3
"""Checks docker-compose.yml and k8s/ without a Docker engine or a cluster: they parse, they
agree with the code (every command is a binary the workspace builds, every port is the one the
settings give that service, probes hit /readyz and /healthz), and they hold no secret (the
broker's password, keys and signing secrets come from Secrets or env files)."""
import pathlib
import re
import sys
import tomllib

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
errors = []


def err(msg):
    errors.append(msg)


binaries = {p.name for p in (root / "services").iterdir() if (p / "src" / "main.rs").exists()}
binaries.add("pushmesh-cli")

# Services that keep files under data_dir (dedup ids, devices, settled pushes and quota
# counters): each needs storage of its own that outlives the container.
stateful = {"ingest", "registry"} | {b for b in binaries if b.startswith("dispatch-")}
image_uid = int(re.search(r"useradd [^\n]*--uid (\d+)", (root / "Dockerfile").read_text())[1])


def ports_of(settings):
    listen = settings.get("listen", {})
    ports = {k: int(v.rsplit(":", 1)[1]) for k, v in listen.items() if isinstance(v, str)}
    for vendor, addr in listen.get("dispatch", {}).items():
        ports[f"dispatch-{vendor}"] = int(addr.rsplit(":", 1)[1])
    sim = settings.get("vendor_sim", {}).get("listen", "127.0.0.1:9200")
    ports["vendor-sim"] = int(sim.rsplit(":", 1)[1])
    return ports


def volumes_of(svc):
    """A compose service's mounts as {source, target}, from the short or the long syntax."""
    mounts = []
    for v in svc.get("volumes", []):
        if isinstance(v, dict):
            mounts.append({"source": v.get("source"), "target": v.get("target")})
        else:
            parts = v.split(":")
            mounts.append({"source": parts[0] if len(parts) > 1 else None, "target": parts[-1 if len(parts) == 1 else 1]})
    return mounts


# docker-compose.yml
compose = yaml.safe_load((root / "docker-compose.yml").read_text())
docker_settings = tomllib.loads((root / "config" / "docker.toml").read_text())
docker_ports = ports_of(docker_settings)
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
    data_dir = docker_settings["data_dir"]
    if cmd in stateful and not any(
            m["source"] in compose.get("volumes", {}) and m["target"] == data_dir
            for m in volumes_of(svc)):
        err(f"docker-compose.yml: {name} keeps data; it needs a named volume of its own at {data_dir}")
named = [m["source"] for svc in compose["services"].values() for m in volumes_of(svc)]
for volume in {v for v in named if v in compose.get("volumes", {}) and named.count(v) > 1}:
    err(f"docker-compose.yml: volume {volume} is mounted by more than one service")

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

def check_k8s_data(name, doc, container):
    """A stateful service is a StatefulSet whose claim template is mounted at data_dir, so each
    replica keeps its own files across restarts."""
    claims = {t["metadata"]["name"] for t in doc["spec"].get("volumeClaimTemplates", [])}
    mounted = {m["name"] for m in container.get("volumeMounts", [])
               if m["mountPath"] == k8s_settings["data_dir"]}
    if doc["kind"] != "StatefulSet" or not claims & mounted:
        err(f"{name}: {container['command'][0]} keeps data; it must be a StatefulSet with a "
            f"volumeClaimTemplate mounted at {k8s_settings['data_dir']}")
    # The image runs as this user (Dockerfile); without fsGroup a fresh volume may be root's.
    security = doc["spec"]["template"]["spec"].get("securityContext", {})
    if security.get("fsGroup") != image_uid or security.get("runAsUser") != image_uid:
        err(f"{name}: securityContext must set runAsUser and fsGroup to the image's user "
            f"({image_uid}) so the volume is writable")


listed = set(docs.get("kustomization.yaml", [{}])[0].get("resources", []))
for name in docs:
    if name != "kustomization.yaml" and name not in listed:
        err(f"k8s/kustomization.yaml does not list {name}")

config = next(d for ds in docs.values() for d in ds if d.get("kind") == "ConfigMap")
k8s_settings = tomllib.loads(config["data"]["pushmesh.toml"])
k8s_ports = ports_of(k8s_settings)
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
            if cmd in stateful:
                check_k8s_data(name, doc, c)

# Secrets
for path in [root / "docker-compose.yml", root / "config" / "docker.toml", *sorted(k8s.glob("*.yaml"))]:
    if "guest" in path.read_text():
        err(f"{path.relative_to(root)}: names the broker's guest user; credentials come from a Secret")
for settings, name in ((docker_settings, "config/docker.toml"), (k8s_settings, "the ConfigMap")):
    if "url" in settings.get("amqp", {}):
        err(f"{name}: amqp.url holds the broker's password; give it as PUSHMESH__AMQP__URL from a Secret")
amqp_url = compose["x-pushmesh"]["environment"].get("PUSHMESH__AMQP__URL", "")
if "${RABBITMQ_PASSWORD" not in amqp_url:
    err("docker-compose.yml: PUSHMESH__AMQP__URL must take the password from ${RABBITMQ_PASSWORD}")
for name, ds in docs.items():
    for doc in ds:
        if doc.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        pod = doc["spec"]["template"]["spec"]
        secrets = {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        for c in pod["containers"]:
            env_from = {e.get("secretRef", {}).get("name") for e in c.get("envFrom", [])}
            if "pushmesh-env" not in env_from:
                err(f"{name}: {c['name']} must take its environment from the pushmesh-env Secret")
            if "pushmesh-credentials" not in secrets:
                err(f"{name}: the pod must mount the pushmesh-credentials Secret")

if errors:
    print("deployment files disagree with the code:", *errors, sep="\n  ")
    sys.exit(1)
print(f"deployment files ok: docker-compose.yml ({len(compose['services'])} services), "
      f"k8s/ ({sum(len(d) for d in docs.values())} documents)")
