"""A run belongs to its batch: two projects with the same export each get their own."""

import pytest

from annotation import services as annotation_services
from annotation.importers import messages_import
from annotation.models import Batch
from annotation.preprocessing import items_preprocess
from annotation.sample_corpus import write_jsonl
from annotation.simulation import annotators_simulate
from training import services
from training.models import Ladder, Run, Rung

pytestmark = pytest.mark.django_db


def two_projects_with_one_export(tmp_path) -> dict:
    """Projects "north" and "south", each importing one corpus and freezing the same labels,
    with one ladder attached to both: {"projects", "batches", "ladder"}."""
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(path=corpus, messages=400, seed=3)
    ladder = Ladder.objects.create(name="shared")
    Rung.objects.create(ladder=ladder, order=0, name="small", checkpoint_path=str(tmp_path / "none"), parameters=1)
    projects, batches = {}, {}
    for name in ("north", "south"):
        project = annotation_services.project_create(name=name)
        project.eval_share = 0.3
        project.save(update_fields=["eval_share"])
        ladder.projects.add(project)
        messages_import(project=project, path=corpus)
        items_preprocess(project=project)
        # Freezing starts the project's run on each of its ladders.
        annotators_simulate(project=project, accuracy=1.0, limit=20, seed=1, batch_name="week-1")
        projects[name] = project
        batches[name] = Batch.objects.get(project=project, name="week-1")
    assert batches["north"].content_hash == batches["south"].content_hash
    return {"projects": projects, "batches": batches, "ladder": ladder}


def test_each_project_s_freeze_starts_a_run_of_its_own_batch(tmp_path):
    world = two_projects_with_one_export(tmp_path)
    for name, batch in world["batches"].items():
        runs = Run.objects.filter(batch__project=world["projects"][name])
        assert [run.batch_id for run in runs] == [batch.pk]


def test_the_same_request_from_two_projects_gives_two_runs(tmp_path):
    world = two_projects_with_one_export(tmp_path)
    north, south = (
        services.run_request(batch=world["batches"][name], ladder=world["ladder"], hyperparameters={"lr": 1e-4})
        for name in ("north", "south")
    )
    assert north.pk != south.pk and north.config_hash == south.config_hash
    assert (north.batch, south.batch) == (world["batches"]["north"], world["batches"]["south"])
    again = services.run_request(batch=world["batches"]["south"], ladder=world["ladder"], hyperparameters={"lr": 1e-4})
    assert again.pk == south.pk


def test_a_rung_rerun_stays_with_its_project_s_batch(tmp_path):
    world = two_projects_with_one_export(tmp_path)
    rung = world["ladder"].rungs.get()
    reruns = {
        name: services.rung_rerun(
            run=Run.objects.get(batch=batch), rung=rung, hyperparameters={"lr": 2e-5}
        )
        for name, batch in world["batches"].items()
    }
    assert reruns["north"].pk != reruns["south"].pk
    assert {name: rerun.batch for name, rerun in reruns.items()} == world["batches"]
