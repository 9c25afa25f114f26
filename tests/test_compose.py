"""docker-compose.yml is checked by parsing: no container engine runs in CI."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_all_services_are_declared(compose):
    assert {"postgres", "redis", "web", "worker-cpu", "worker-gpu", "migrate", "beat"} <= set(
        compose["services"]
    )


def test_one_beat_schedules_the_recovery_of_lost_jobs(compose):
    from django.conf import settings

    beat = compose["services"]["beat"]["command"]
    assert beat[:4] == ["celery", "-A", "config", "beat"]
    assert settings.CELERY_BEAT_SCHEDULE["recover-rung-jobs"]["task"] == "training.jobs_recover"
    workers = [compose["services"][name]["command"] for name in ("worker-cpu", "worker-gpu")]
    assert not any("--beat" in command or "-B" in command for command in workers)


def test_app_services_point_at_postgres_and_redis(compose):
    for name in ("web", "worker-cpu", "worker-gpu", "migrate", "beat"):
        env = compose["services"][name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert env["HF_HUB_OFFLINE"] == "1"


def test_web_runs_gunicorn_and_workers_listen_on_their_queues(compose):
    services = compose["services"]
    assert services["web"]["command"][0] == "gunicorn"
    cpu = services["worker-cpu"]["command"]
    gpu = services["worker-gpu"]["command"]
    assert cpu[:4] == ["celery", "-A", "config", "worker"]
    assert "cpu" in cpu[cpu.index("-Q") + 1].split(",")
    assert set(gpu[gpu.index("-Q") + 1].split(",")) == {"gpu-small", "gpu-large"}
    assert gpu[gpu.index("--max-tasks-per-child") + 1] == "1"


def test_gpu_worker_reserves_an_nvidia_device(compose):
    devices = compose["services"]["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert "gpu" in devices[0]["capabilities"]


def test_data_survives_in_volumes_and_services_have_healthchecks(compose):
    assert {"pgdata", "redisdata", "media"} <= set(compose["volumes"])
    for name in ("postgres", "redis", "web"):
        assert "healthcheck" in compose["services"][name]
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]


def test_env_example_names_every_secret_the_compose_file_needs():
    example = (ROOT / ".env.example").read_text()
    for key in ("SECRET_KEY", "POSTGRES_PASSWORD", "ALLOWED_HOSTS", "TLS_PROXY"):
        assert f"{key}=" in example
