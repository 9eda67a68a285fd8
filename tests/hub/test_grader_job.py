"""hub/k8s/grader-job.yaml against Kubernetes' Job schema, and what the graders need from it.

The schema (tests/hub/job-batch-v1.schema.json, Kubernetes 1.37's strict Job schema; its
``$comment`` names where it comes from) is committed: nothing is fetched. A second check shows
the schema is strict enough to catch a misspelt field. Well under a second.
"""

import copy
import json
import re
from pathlib import Path

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent
JOB = HERE.parents[1] / "hub" / "k8s" / "grader-job.yaml"
SCHEMA = HERE / "job-batch-v1.schema.json"


def _errors(job: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    return [f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}"
            for e in validator.iter_errors(job)]


def _job() -> dict:
    return yaml.safe_load(JOB.read_text())


def test_grader_job_is_a_valid_kubernetes_job():
    assert _errors(_job()) == []


def test_the_schema_rejects_a_misspelt_field():
    job = _job()
    bad = copy.deepcopy(job)
    bad["spec"]["completionsMode"] = bad["spec"].pop("completionMode")
    assert any("completionsMode" in e for e in _errors(bad))
    bad = copy.deepcopy(job)
    bad["spec"]["completions"] = "three"
    assert _errors(bad)


def test_each_index_grades_its_own_shard_of_one_postgres_gradebook():
    spec = _job()["spec"]
    assert spec["completionMode"] == "Indexed"
    pod = spec["template"]["spec"]
    (grader,) = pod["containers"]
    env = {e["name"]: e for e in grader["env"]}
    assert int(env["GRADERS"]["value"]) == spec["completions"] == spec["parallelism"]
    command = " ".join(grader["command"] + grader["args"])
    assert re.search(r"course\.py grade .*--shard \"\$\(\(JOB_COMPLETION_INDEX \+ 1\)\)/\$\{GRADERS\}\"",
                     command), command
    assert "secretKeyRef" in env["RNNCOURSE_DB_URL"]["valueFrom"]       # never a literal URL
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in grader["volumeMounts"]}
    assert claims == {"course": "rnn-course"}
    assert mounts["course"] == env["RNNCOURSE_ROOT"]["value"] == grader["workingDir"]
