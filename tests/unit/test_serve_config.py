"""`raybase serve-config`: a Serve config that Serve's own schema accepts, naming the app
builder, carrying the settings but no secret."""

from __future__ import annotations

import yaml
from click.testing import CliRunner
from ray.serve.schema import ServeDeploySchema

from serve.cli import SECRETS, main
from serve.routes.file_content import SECRET_FILE


def test_serve_config_is_a_valid_serve_deploy_config_without_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYBASE_DATA_DIR", "/shared/raybase")
    monkeypatch.setenv("RAYBASE_REPLICAS", "2")
    monkeypatch.setenv("RAYBASE_ADMIN_KEY", "admin-secret-value")
    monkeypatch.setenv("RAYBASE_S3_SECRET_KEY", "s3-secret-value")
    out = tmp_path / "serve.yaml"
    done = CliRunner().invoke(main, ["serve-config", "-o", str(out)])
    assert done.exit_code == 0, done.output
    text = out.read_text()
    config = ServeDeploySchema.model_validate(yaml.safe_load(text))
    [app] = config.applications
    assert app.import_path == "serve.app:build" and app.route_prefix == "/"
    assert app.args == {"data_dir": "/shared/raybase", "replicas": 2}
    assert app.runtime_env["worker_process_setup_hook"] == "serve.runtime.loopback_haproxy"
    assert "secret-value" not in text and not set(SECRETS) & set(app.args)


def test_the_builder_the_config_names_builds_the_gateway_application(tmp_path):
    from ray.serve import Application

    from serve.app import build

    app = build({"data_dir": str(tmp_path), "ai_embedding_replicas": 0,
                 "ai_generation_replicas": 0})
    assert isinstance(app, Application)
    assert (tmp_path / SECRET_FILE).stat().st_size > 0  # the signing secret, made once
