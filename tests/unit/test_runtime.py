"""What keeps two raybase instances on one machine apart, without starting Ray."""

from __future__ import annotations

import pytest

from serve.runtime import MAX_RUN_DIR, instance_settings, ray_environment, run_dir
from serve.settings import Settings


def test_unpinned_ports_are_free_ones_and_pinned_ones_stay():
    picked = instance_settings(Settings(haproxy_stats_port=18404))
    ports = (picked.haproxy_metrics_port, picked.haproxy_fallback_port)
    assert picked.haproxy_stats_port == 18404 and all(ports) and len(set(ports)) == 2


def test_each_data_dir_has_its_own_short_run_dir(tmp_path):
    a, b = (run_dir(Settings(data_dir=str(tmp_path / n))) for n in "ab")
    assert a != b and len(a) <= MAX_RUN_DIR
    assert run_dir(Settings(data_dir=str(tmp_path / "a"))) == a  # a restart finds it again
    with pytest.raises(ValueError, match="RAYBASE_RUN_DIR"):
        run_dir(Settings(run_dir="/" + "x" * MAX_RUN_DIR))


def test_haproxy_mode_gets_the_instance_ports_and_files(tmp_path):
    settings = Settings(data_dir=str(tmp_path), haproxy_metrics_port=19101, run_dir="/tmp/rb-x")
    env = ray_environment(settings)
    assert env["RAY_SERVE_HAPROXY_METRICS_PORT"] == "19101"
    assert int(env["RAY_SERVE_FALLBACK_PROXY_HTTP_PORT"]) > 0
    assert env["RAY_SERVE_HAPROXY_SOCKET_PATH"] == "/tmp/rb-x/admin.sock"
    assert "RAY_SERVE_HAPROXY_STATS_PORT" not in ray_environment(settings.model_copy(
        update={"proxy": "default"}))


def test_free_ports_are_drawn_below_the_ephemeral_range():
    from serve.runtime import _ephemeral_low, free_port

    ports = {free_port() for _ in range(20)}
    assert all(10_000 <= p < max(11_000, _ephemeral_low()) for p in ports)
    assert len(ports) > 1  # drawn at random, not the same one each time
