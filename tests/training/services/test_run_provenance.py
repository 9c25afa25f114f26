"""A run pins what shapes its result: code, libraries, checkpoints, commit."""

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from django.conf import settings

from tests.scaling.factories import make_batch, make_labelled_items
from tests.training.factories import write_checkpoint
from training import services
from training.models import Ladder, Rung
from training.services import checkpoints, provenance

pytestmark = pytest.mark.django_db


@pytest.fixture
def ladder(tmp_path):
    ladder = Ladder.objects.create(name="pinned")
    for order, name in enumerate(["small", "large"]):
        Rung.objects.create(
            ladder=ladder, order=order, name=name, parameters=10 ** (6 + order),
            checkpoint_path=str(write_checkpoint(tmp_path / name)),
        )
    return ladder


@pytest.fixture
def batch(project, annotator):
    return make_batch(project, make_labelled_items(project, annotator, 4), name="b")


def test_the_run_records_its_full_provenance(batch, ladder):
    run = services.run_request(batch=batch, ladder=ladder)
    recorded = run.provenance
    assert {"annotation/exports.py", "training/examples.py", "training/ml/finetune.py"} <= set(recorded["sources"])
    for name in ("torch", "transformers", "peft", "tokenizers"):
        assert recorded["libraries"][name] == metadata.version(name)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True)
    assert recorded["git_commit"] == head.stdout.strip()
    for rung in ladder.rungs.all():
        assert len(recorded["checkpoints"][rung.name]) == 64
    assert recorded["code_version"] == run.code_version


@pytest.mark.parametrize("change", ["weights", "config", "library", "rendering code"])
def test_a_changed_input_makes_a_new_run(batch, ladder, monkeypatch, change):
    first = services.run_request(batch=batch, ladder=ladder)
    small = ladder.rungs.get(name="small")
    if change == "weights":
        write_checkpoint(
            Path(small.checkpoint_path), {"model.layers.0.self_attn.q_proj.weight": [4, 8]}
        )
    elif change == "config":
        (Path(small.checkpoint_path) / "config.json").write_text(json.dumps({"hidden_size": 8}))
    elif change == "library":
        monkeypatch.setattr(provenance, "library_versions", lambda: {"torch": "0.0.1"})
    else:
        real = provenance.source_digests()
        monkeypatch.setattr(provenance, "source_digests", lambda: {**real, "annotation/exports.py": "0" * 64})
    second = services.run_request(batch=batch, ladder=ladder)
    assert second.pk != first.pk and second.config_hash != first.config_hash
    assert services.run_request(batch=batch, ladder=ladder).pk == second.pk


def test_the_checkpoint_is_hashed_once_until_its_files_change(ladder, monkeypatch):
    rung = ladder.rungs.get(name="small")
    hashed = []
    real_sha256 = checkpoints.file_sha256
    monkeypatch.setattr(checkpoints, "file_sha256", lambda path: hashed.append(path.name) or real_sha256(path))
    first = services.rung_checkpoint_facts(rung=Rung.objects.get(pk=rung.pk))
    assert sorted(hashed) == ["config.json", "model.safetensors"]
    hashed.clear()
    assert services.rung_checkpoint_facts(rung=Rung.objects.get(pk=rung.pk)) == first
    assert hashed == []
    weights = Path(rung.checkpoint_path) / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1_000_000))
    services.rung_checkpoint_facts(rung=Rung.objects.get(pk=rung.pk))
    assert sorted(hashed) == ["config.json", "model.safetensors"]


def test_module_names_are_the_checkpoint_s_linear_layers(ladder):
    facts = services.rung_checkpoint_facts(rung=ladder.rungs.get(name="small"))
    assert facts["modules"] == ["down_proj", "embed_tokens", "q_proj", "v_proj"]


def test_a_missing_checkpoint_has_an_empty_digest(batch, tmp_path):
    ladder = Ladder.objects.create(name="gone")
    Rung.objects.create(ladder=ladder, order=0, name="r", parameters=1, checkpoint_path=str(tmp_path / "nowhere"))
    run = services.run_request(batch=batch, ladder=ladder)
    assert run.provenance["checkpoints"] == {"r": ""}


def test_a_worktree_or_a_plain_clone_gives_its_commit_and_no_git_gives_none(tmp_path):
    commit = "a" * 40
    plain = tmp_path / "plain"
    (plain / ".git" / "refs" / "heads").mkdir(parents=True)
    (plain / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (plain / ".git" / "refs" / "heads" / "main").write_text(commit + "\n")
    assert provenance.git_commit(plain) == commit
    packed = tmp_path / "packed"
    (packed / ".git").mkdir(parents=True)
    (packed / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (packed / ".git" / "packed-refs").write_text(f"# pack-refs\n{commit} refs/heads/main\n")
    assert provenance.git_commit(packed) == commit
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    (plain / ".git" / "worktrees" / "w").mkdir(parents=True)
    (plain / ".git" / "worktrees" / "w" / "HEAD").write_text("ref: refs/heads/main\n")
    (plain / ".git" / "worktrees" / "w" / "commondir").write_text("../..\n")
    (worktree / ".git").write_text(f"gitdir: {plain / '.git' / 'worktrees' / 'w'}\n")
    assert provenance.git_commit(worktree) == commit
    assert provenance.git_commit(tmp_path) == ""


def test_recording_provenance_does_not_import_torch():
    code = (
        "import django, sys; django.setup();"
        "from training.services import provenance; provenance.library_versions();"
        "print('torch' in sys.modules)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize(
    "recorded, named",
    [
        ({"libraries": {"torch": "0.0.1"}}, "torch"),
        ({"code_version": "0123456789abcdef"}, "code"),
    ],
)
def test_a_worker_that_differs_from_the_run_s_provenance_fails_the_rung_and_says_what_differs(
    batch, ladder, recorded, named
):
    run = services.run_request(batch=batch, ladder=ladder)
    run.provenance = {**run.provenance, **recorded}
    run.save(update_fields=["provenance"])
    job = run.rung_jobs.order_by("rung__order").first()
    services.rung_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == job.FAILED and job.attempts == 1
    assert job.error.startswith(f"this worker runs {named} ") and "retry the rung" in job.error
    assert not job.predictions.exists() and not job.adapter_path


def test_a_worker_on_the_run_s_release_matches_its_provenance(batch, ladder):
    run = services.run_request(batch=batch, ladder=ladder)
    assert provenance.worker_mismatch(run.provenance) == ""
    assert provenance.worker_mismatch({}) == ""
