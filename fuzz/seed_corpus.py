#!/usr/bin/env python3
"""Seed the fuzz corpora from the upstream OAM fixtures and the examples.

    python3 fuzz/seed_corpus.py [FIXTURES_DIR]   (default: ../shared/fixtures)

Writes fuzz/corpus/render_input/ (every fixture YAML file, and each folder's
files joined into one stream, so that Definitions, Components and AppConfigs
meet) and fuzz/corpus/plugin_outputs/ (plugin answers built around the
fixtures' Kubernetes objects; needs PyYAML for those, hand-written seeds
otherwise). The corpora are not committed: run this before `cargo fuzz run`.
"""

import hashlib
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent


def save(folder: pathlib.Path, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def yaml_files(root: pathlib.Path):
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def main() -> None:
    fixtures = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "fixtures"
    if not fixtures.is_dir():
        sys.exit(f"{fixtures} is not a folder")
    roots = [fixtures, REPO / "examples"]
    render = HERE / "corpus" / "render_input"
    outputs = HERE / "corpus" / "plugin_outputs"
    files = [f for root in roots for f in yaml_files(root)]
    by_folder = {}
    for f in files:
        data = f.read_bytes()
        save(render, data)
        by_folder.setdefault(f.parent, []).append(data)
    for parts in by_folder.values():
        if len(parts) > 1:
            save(render, b"\n---\n".join(parts))

    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"ports": [{"port": 80}]}}
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
               "spec": {"rules": [{"host": "web.example.com"}]}}
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    seeds = [
        {"render": [deployment, service]},
        {"render": [deployment, service], "patches": [{"target": target, "body": {"spec": {"replicas": 3}}}]},
        {"render": [deployment], "patches": [{"target": target, "json": True, "body": [
            {"op": "add", "path": "/metadata/labels", "value": {"tier": "web"}},
            {"op": "replace", "path": "/spec/replicas", "value": 2}]}]},
        {"render": [deployment], "patches": [{"body": {"spec": {"x": 1}}}], "outputs": [ingress]},
        {"render": [deployment], "outputs": ["{\"apiVersion\": \"v1\""], "reject": None},
        {"render": [deployment], "reject": {"message": "no", "field": "spec.replicaCount"}},
    ]
    try:
        import yaml  # noqa: PLC0415

        objects = []
        for f in files:
            try:
                docs = list(yaml.safe_load_all(f.read_text()))
            except (yaml.YAMLError, UnicodeDecodeError):
                continue
            objects += [d for d in docs if isinstance(d, dict) and "kind" in d and "apiVersion" in d]
        for obj in objects[:60]:
            name = str((obj.get("metadata") or {}).get("name", "x"))
            ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": name}
            seeds.append({"render": [obj, deployment], "outputs": [obj],
                          "patches": [{"target": ref, "body": {"metadata": {"labels": {"a": "b"}}}}]})
    except ImportError:
        print("PyYAML missing: only the hand-written plugin_outputs seeds", file=sys.stderr)
    for seed in seeds:
        save(outputs, json.dumps(seed).encode())
    print(f"{render}: {len(list(render.iterdir()))} seeds; {outputs}: {len(list(outputs.iterdir()))} seeds")


if __name__ == "__main__":
    main()
