"""Fixtures of the Terraform checks: the parsed configuration and what it evaluates to."""

from __future__ import annotations

import json

import pytest

from tests.terraform.tfcheck import Config, load_config, load_schema
from tests.terraform.tfeval import Evaluator


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config()


@pytest.fixture(scope="session")
def schema() -> dict:
    return load_schema()


@pytest.fixture(scope="session")
def evaluator(config: Config) -> Evaluator:
    return Evaluator(config)


@pytest.fixture(scope="session")
def functions(config: Config, evaluator: Evaluator) -> dict:
    """local.functions (also output "functions"), evaluated with the example inputs."""
    return evaluator.value(config.locals["functions"])


@pytest.fixture(scope="session")
def outputs(config: Config, evaluator: Evaluator) -> dict:
    """What `terraform output -json` would print, for the outputs `make deploy` reads."""
    return {
        name: {"sensitive": False, "value": evaluator.value(config.outputs[name]["value"])}
        for name in ("project_id", "region", "functions")
    }


@pytest.fixture(scope="session")
def outputs_file(outputs: dict, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("tf") / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path
