#!/usr/bin/env python3
"""Validate hub/k8s/config.yaml against the Zero to JupyterHub chart's values schema.

    .venv/bin/python tests/hub/validate_config.py SCHEMA [VALUES]

As helm does: the chart's default values (VALUES: jupyterhub/values.yaml of the same chart
version) merged with config.yaml (maps merged key by key, anything else replaced, null removes
a default), then the result validated against the schema. SCHEMA: the chart's ``values.schema.yaml`` (jupyterhub/values.schema.yaml in
github.com/jupyterhub/zero-to-jupyterhub-k8s) or the ``values.schema.json`` inside a chart
package (``helm pull jupyterhub/jupyterhub --untar``). The chart is not a Python package and is
not fetched here: without SCHEMA the script says so and exits 0. Uses PyYAML and jsonschema,
both already in the course's environment (through jupyter_events and nbformat).
"""
import json
import sys
from pathlib import Path

import jsonschema
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "hub" / "k8s" / "config.yaml"


def merge(base, over):
    """Helm's coalescing of user values over chart defaults."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    out = dict(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(base.get(k), v)
    return out


def main(argv) -> int:
    if not argv:
        print("no chart schema given: hub/k8s/config.yaml NOT validated")
        return 0
    text = Path(argv[0]).read_text()
    schema = json.loads(text) if argv[0].endswith(".json") else yaml.safe_load(text)
    config = yaml.safe_load(CONFIG.read_text())
    if len(argv) > 1:
        config = merge(yaml.safe_load(Path(argv[1]).read_text()), config)
    else:
        print("no chart values.yaml given: the required keys that the chart's defaults fill are "
              "reported missing")
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.path))
    for e in errors:
        print(f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}")
    print(f"{CONFIG.name}: {len(errors)} error(s) against {argv[0]}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
