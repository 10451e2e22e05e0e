#!/usr/bin/env python3
"""Checks docker-compose.yml and k8s/ without a Docker engine or a cluster: they parse, they
agree with the code (every command is a binary the workspace builds, every port is the one the
settings give that service, probes hit /readyz and /healthz), and they hold no secret (the
broker's password, keys and signing secrets come from Secrets or env files)."""
import json
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
    if name in ("rabbitmq", "prometheus", "grafana"):
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

# Monitoring: the rules and the dashboard use only metrics the services export (or
# RabbitMQ's and Prometheus' own), the operator's PrometheusRule carries the same rules, and
# the compose Prometheus scrapes every pushmesh service.
exported = set()
for path in root.glob("*/*/src/**/*.rs"):
    for m in re.finditer(r'(?:\.(?:counter|gauge|histogram)|IntGauge::new)\(\s*"([a-z_]+)"', path.read_text()):
        exported.add("pushmesh_" + m.group(1))
rules_path = root / "deploy" / "prometheus" / "rules" / "pushmesh.yml"
rules = yaml.safe_load(rules_path.read_text())
recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
dashboard = json.loads((root / "deploy" / "grafana" / "dashboards" / "pushmesh.json").read_text())
exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
for expr in exprs:
    for name in re.findall(r"(?<![:\w])(pushmesh_[a-z_]+)(?![:\w])", expr):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if base not in exported and name not in exported:
            err(f"monitoring: `{name}` is not a metric any service exports")
    for name in re.findall(r"\b([a-z_]+:[a-z_:0-9]+)", expr):
        if name not in recorded:
            err(f"monitoring: `{name}` is not a recording rule of {rules_path.name}")
monitoring = list(yaml.safe_load_all((k8s / "monitoring" / "pushmesh.yaml").read_text()))
prometheus_rule = [d for d in monitoring if d.get("kind") == "PrometheusRule"]
if not prometheus_rule or prometheus_rule[0]["spec"]["groups"] != rules["groups"]:
    err("k8s/monitoring/pushmesh.yaml: the PrometheusRule must carry deploy/prometheus/rules/pushmesh.yml's groups")
scrape = yaml.safe_load((root / "deploy" / "prometheus" / "prometheus.yml").read_text())
targets = {t for job in scrape["scrape_configs"] if job["job_name"] == "pushmesh"
           for sc in job["static_configs"] for t in sc["targets"]}
for name, svc in compose["services"].items():
    cmd = svc.get("command", [None])[0]
    if cmd in binaries and cmd != "vendor-sim" and f"{name}:{docker_ports.get(cmd)}" not in targets:
        err(f"deploy/prometheus/prometheus.yml: the pushmesh job does not scrape {name}:{docker_ports.get(cmd)}")

if errors:
    print("deployment files disagree with the code:", *errors, sep="\n  ")
    sys.exit(1)
print(f"deployment files ok: docker-compose.yml ({len(compose['services'])} services), "
      f"k8s/ ({sum(len(d) for d in docs.values())} documents)")
