"""Each operation of the OpenAPI schema, called for real through its happy path and its
refusals; a test walks the schema and fails on any operation no test covers."""

import importlib
import json
import pkgutil
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotation import services
from annotation.models import Annotation, Assignment, Batch, ImportJob, Item
from annotation.tasks import import_job_run
from api.api import api as ninja_api
from scaling.models import Verdict
from tests import api as api_tests
from tests.api.conftest import ADMIN, ANNOTATOR, LEAD
from training.models import Ladder, Run, RungJob

V1 = "/api/v1"


def schema_operations() -> set[str]:
    schema = ninja_api.get_openapi_schema()
    return {f"{method.upper()} {path}" for path, methods in schema["paths"].items() for method in methods}


def covered_operations() -> set[str]:
    covered = set()
    for module_info in pkgutil.iter_modules(api_tests.__path__):
        module = importlib.import_module(f"{api_tests.__name__}.{module_info.name}")
        for name, value in vars(module).items():
            targets = [value]
            if isinstance(value, type) and name.startswith("Test"):
                targets = [getattr(value, attr) for attr in dir(value) if attr.startswith("test")]
            for target in targets:
                for mark in getattr(target, "pytestmark", []):
                    if mark.name == "covers":
                        covered.update(mark.args)
    return covered


def test_every_operation_in_the_schema_is_covered_by_a_test():
    operations = schema_operations()
    assert len(operations) >= 20
    assert sorted(operations - covered_operations()) == []
    assert sorted(covered_operations() - operations) == [], "a covers marker names no operation"


def test_the_docs_and_the_schema_are_served_without_a_token(client):
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    schema = client.get("/api/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


def p(world, tail: str = "") -> str:
    return f"{V1}/projects/{world['project'].pk}{tail}"


class TestProjects:
    @pytest.mark.covers("GET /api/v1/projects")
    def test_a_user_lists_their_projects_with_their_role(self, api, world, project):
        [mine] = api.as_user(world["keys"][ANNOTATOR]).get(f"{V1}/projects").json()
        assert mine.pop("created_at")
        assert mine == {
            "id": project.pk, "name": "Support chat", "description": "", "role": "annotator",
            "options": project.options, "positive_option": "extraction", "metric": "F1", "task_version": 1, "guideline_version": 1, "overlap": 1,
            "informative_first": False, "suggest_labels": False,
            "label_check": project.label_check, "label_check_folds": 3, "label_check_epochs_factor": 2.0,
        }
        assert api.as_user(world["keys"]["outsider"]).get(f"{V1}/projects").json() == []

    @pytest.mark.covers("GET /api/v1/projects/{project_id}")
    def test_detail_shows_progress_and_to_leads_the_counts(self, api, world):
        mine = api.as_user(world["keys"][ANNOTATOR]).get(p(world)).json()
        assert mine["role"] == "annotator" and mine["counts"] is None
        assert mine["progress"] == {"done_today": 0, "left": len(world["items"]) - 2}
        lead = api.as_user(world["keys"][LEAD]).get(p(world)).json()
        assert lead["counts"]["items"] == len(world["items"]) and lead["counts"]["labelled"] == 2


class TestImports:
    @pytest.mark.covers("POST /api/v1/projects/{project_id}/imports", "GET /api/v1/projects/{project_id}/imports/{job_id}")
    def test_an_upload_is_queued_then_its_status_shows_the_import(self, api, world, django_capture_on_commit_callbacks):
        lead = api.as_user(world["keys"][LEAD])
        lines = [
            {"id": f"n{n}", "chat": "new", "sender": "zed", "sent_at": f"2024-02-01T10:00:{n:02d}Z", "text": f"hello {n}?"}
            for n in range(3)
        ]
        upload = SimpleUploadedFile("messages.jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode())
        with django_capture_on_commit_callbacks() as queued:
            response = lead.post(p(world, "/imports"), data={"file": upload, "corpus": "api"})
        assert response.status_code == 201, response.content
        job = response.json()
        assert (job["status"], job["file_name"], job["corpus_name"]) == ("pending", "messages.jsonl", "api")
        assert len(queued) == 1
        # What the worker runs for the queued id.
        import_job_run(job["id"])
        status = lead.get(p(world, f"/imports/{job['id']}")).json()
        assert (status["status"], status["messages_added"], status["format"]) == ("done", 3, "jsonl")
        # Only a Label Studio export brings labels.
        labels = ("labels_added", "labels_unmapped", "labels_waiting", "labels_unmapped_examples")
        assert [status[key] for key in labels] == [0, 0, 0, []]

    @pytest.mark.covers("POST /api/v1/projects/{project_id}/imports")
    def test_a_bad_format_or_a_missing_file_is_422_naming_the_field(self, api, world):
        lead = api.as_user(world["keys"][LEAD])
        bad = lead.post(p(world, "/imports"), data={"file": SimpleUploadedFile("a.txt", b"x"), "format": "docx"})
        assert bad.status_code == 422 and "format" in bad.json()["errors"]
        missing = lead.post(p(world, "/imports"), data={"corpus": "x"})
        assert missing.status_code == 422 and "file" in missing.json()["errors"]
        assert not ImportJob.objects.filter(file_name="a.txt").exists()

    @pytest.mark.covers("POST /api/v1/projects/{project_id}/imports")
    def test_a_declared_size_over_the_limit_is_refused_before_reading(self, api, world, settings):
        settings.IMPORT_MAX_BYTES = 100
        lead = api.as_user(world["keys"][LEAD])
        response = lead.post(p(world, "/imports"), data={"file": SimpleUploadedFile("big.jsonl", b"x" * 500)})
        assert response.status_code == 413
        assert "the limit is 100 bytes" in response.json()["detail"]


class TestItems:
    @pytest.mark.covers("GET /api/v1/projects/{project_id}/items")
    def test_items_page_and_filter_like_the_lead_browser(self, api, world):
        lead = api.as_user(world["keys"][LEAD])
        everything = lead.get(p(world, "/items")).json()
        assert everything["count"] == len(world["items"]) and everything["pages"] == 1
        assert [item["id"] for item in everything["items"]] == [item.pk for item in world["items"]]
        assert "gold" not in everything["items"][0]
        labelled = lead.get(p(world, "/items"), data={"label": "extraction"}).json()
        assert labelled["count"] == 2
        unlabelled = lead.get(p(world, "/items"), data={"label": "none", "page_size": 1, "page": 2}).json()
        assert unlabelled["page_size"] == 1 and unlabelled["pages"] == len(world["items"]) - 2
        assert [item["id"] for item in unlabelled["items"]] == [world["items"][3].pk]
        assert lead.get(p(world, "/items"), data={"page": 99}).json()["items"] == []

    @pytest.mark.covers("GET /api/v1/projects/{project_id}/items")
    def test_invalid_query_parameters_are_422_with_their_names(self, api, world):
        response = api.as_user(world["keys"][LEAD]).get(p(world, "/items"), data={"page": 0, "reviewed": "maybe"})
        assert response.status_code == 422
        assert set(response.json()["errors"]) == {"page", "reviewed"}

    @pytest.mark.covers("GET /api/v1/projects/{project_id}/items/{item_id}")
    def test_an_item_of_another_project_is_not_found(self, api, world):
        from annotation import services

        lead = api.as_user(world["keys"][LEAD])
        item = world["items"][0]
        assert lead.get(p(world, f"/items/{item.pk}")).json()["text"] == item.text
        other = services.project_create(name="Other")
        services.membership_set(project=other, user=world["users"][LEAD], role=LEAD)
        response = lead.get(f"{V1}/projects/{other.pk}/items/{item.pk}")
        assert response.status_code == 404 and response.json()["detail"]

    @pytest.mark.covers("GET /api/v1/projects/{project_id}/items/{item_id}/history")
    def test_history_lists_every_revision(self, api, world):
        item = world["items"][0]
        history = api.as_user(world["keys"][LEAD]).get(p(world, f"/items/{item.pk}/history")).json()
        assert history["current_annotation_id"] == item.annotations.get().pk
        assert [rev["option"] for rev in history["revisions"]] == ["extraction"]
        assert list(history["by_annotator"]) == ["api-admin"]


class TestLabelling:
    @pytest.mark.covers(
        "POST /api/v1/projects/{project_id}/assignments/next",
        "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/label",
    )
    def test_claim_label_and_claim_again_until_nothing_is_left(self, api, world):
        annotator = api.as_user(world["keys"][ANNOTATOR])
        labelled = []
        while (claim := annotator.post(p(world, "/assignments/next"))).status_code == 200:
            card = claim.json()
            assert [option["value"] for option in card["options"]] == world["project"].option_values
            label = annotator.post(
                p(world, f"/assignments/{card['id']}/label"), json={"option": "no_extraction", "seconds": 2.5}
            )
            assert label.status_code == 201, label.content
            assert (label.json()["annotator"], label.json()["late"]) == ("api-annotator", False)
            labelled.append(card["item"]["id"])
        assert claim.status_code == 204
        assert sorted(labelled) == sorted(item.pk for item in world["items"][2:])

    @pytest.mark.covers("POST /api/v1/projects/{project_id}/assignments/{assignment_id}/label")
    def test_a_wrong_option_is_422_and_someone_elses_lease_is_not_found(self, api, world):
        annotator = api.as_user(world["keys"][ANNOTATOR])
        lease = annotator.post(p(world, "/assignments/next")).json()
        wrong = annotator.post(p(world, f"/assignments/{lease['id']}/label"), json={"option": "maybe"})
        assert wrong.status_code == 422 and "option" in wrong.json()["errors"]
        missing = annotator.post(p(world, f"/assignments/{lease['id']}/label"), json={})
        assert missing.status_code == 422 and list(missing.json()["errors"]) == ["option"]
        theirs = api.as_user(world["keys"][LEAD]).post(
            p(world, f"/assignments/{lease['id']}/label"), json={"option": "extraction"}
        )
        assert theirs.status_code == 404
        assert not Annotation.objects.filter(item_id=lease["item"]["id"]).exists()

    @pytest.mark.covers(
        "POST /api/v1/projects/{project_id}/assignments/next",
        "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/label",
    )
    def test_a_label_from_a_stale_view_is_409_and_saves_nothing(self, api, world):
        annotator = api.as_user(world["keys"][ANNOTATOR])
        card = annotator.post(p(world, "/assignments/next")).json()
        assert card["current_annotation_id"] is None
        url = p(world, f"/assignments/{card['id']}/label")
        first = annotator.post(url, json={"option": "extraction", "expected_current_id": None})
        assert first.status_code == 201
        stale = annotator.post(url, json={"option": "no_extraction", "expected_current_id": None})
        assert stale.status_code == 409 and stale.json()["current"]["id"] == first.json()["id"]
        assert Item.objects.get(pk=card["item"]["id"]).label == "extraction"
        # Without the field a script labels as it always did, unchecked.
        unchecked = annotator.post(url, json={"option": "no_extraction"})
        assert unchecked.status_code == 201
        assert Item.objects.get(pk=card["item"]["id"]).label == "no_extraction"

    @pytest.mark.covers("POST /api/v1/projects/{project_id}/assignments/{assignment_id}/skip")
    def test_a_skipped_item_is_not_offered_again(self, api, world):
        annotator = api.as_user(world["keys"][ANNOTATOR])
        first = annotator.post(p(world, "/assignments/next")).json()
        assert annotator.post(p(world, f"/assignments/{first['id']}/skip")).status_code == 204
        assert Assignment.objects.get(pk=first["id"]).released_at is not None
        assert annotator.post(p(world, "/assignments/next")).json()["item"]["id"] != first["item"]["id"]

    @pytest.mark.covers("POST /api/v1/projects/{project_id}/assignments/next")
    def test_an_own_lapsed_lease_is_given_back_renewed(self, api, world):
        annotator = api.as_user(world["keys"][ANNOTATOR])
        first = annotator.post(p(world, "/assignments/next")).json()
        Assignment.objects.filter(pk=first["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
        again = annotator.post(p(world, "/assignments/next"))
        assert again.status_code == 200
        assert (again.json()["id"], again.json()["item"]["id"]) == (first["id"], first["item"]["id"])
        assert Assignment.objects.get(pk=first["id"]).expires_at > timezone.now()

    @pytest.mark.covers("POST /api/v1/projects/{project_id}/items/{item_id}/review")
    def test_a_review_on_a_stale_revision_is_409_with_the_current_one(self, api, world):
        lead = api.as_user(world["keys"][LEAD])
        item = world["items"][0]
        item.refresh_from_db()
        shown = item.current_annotation_id
        accepted = lead.post(p(world, f"/items/{item.pk}/review"), json={"option": "extraction", "expected_current_id": shown})
        assert accepted.status_code == 201 and accepted.json()["kind"] == Annotation.REVIEW_ACCEPT
        stale = lead.post(
            p(world, f"/items/{item.pk}/review"),
            json={"option": "no_extraction", "reason": "context is enough", "expected_current_id": shown},
        )
        assert stale.status_code == 409
        assert stale.json()["current"]["id"] == accepted.json()["id"]
        no_reason = lead.post(
            p(world, f"/items/{item.pk}/review"),
            json={"option": "no_extraction", "expected_current_id": accepted.json()["id"]},
        )
        assert no_reason.status_code == 422 and "reason" in no_reason.json()["errors"]
        assert Item.objects.get(pk=item.pk).current_annotation_id == accepted.json()["id"]


class TestBatches:
    @pytest.mark.covers(
        "POST /api/v1/projects/{project_id}/batches",
        "GET /api/v1/projects/{project_id}/batches",
        "GET /api/v1/projects/{project_id}/batches/{batch_id}",
        "POST /api/v1/projects/{project_id}/batches/{batch_id}/freeze",
        "GET /api/v1/projects/{project_id}/batches/{batch_id}/export",
    )
    def test_create_freeze_and_export_a_batch(self, api, world, django_capture_on_commit_callbacks):
        from annotation import services

        lead = api.as_user(world["keys"][LEAD])
        # A third label, so this batch's content (and so its run) differs from the first batch's.
        services.item_annotate(item=world["items"][2], annotator=world["users"][ADMIN], option="no_extraction")
        created = lead.post(p(world, "/batches"), json={"name": "second", "selection": "labelled", "eval_share": 0.5})
        assert created.status_code == 201, created.content
        batch = created.json()
        assert (batch["status"], batch["item_count"], batch["left_out"]) == ("draft", 3, 0)
        assert lead.get(p(world, f"/batches/{batch['id']}/export")).status_code == 409
        assert [b["name"] for b in lead.get(p(world, "/batches")).json()] == ["second", "first"]
        with django_capture_on_commit_callbacks():
            frozen = lead.post(p(world, f"/batches/{batch['id']}/freeze"))
        assert frozen.status_code == 200 and frozen.json()["status"] == "frozen"
        # Freezing started a run on the project's ladder, as in the UI.
        assert Run.objects.filter(batch_id=batch["id"], ladder=world["ladder"]).exists()
        again = lead.post(p(world, f"/batches/{batch['id']}/freeze"))
        assert again.status_code == 409 and "already frozen" in again.json()["detail"]
        detail = lead.get(p(world, f"/batches/{batch['id']}")).json()
        assert detail["content_hash"] == frozen.json()["content_hash"] != ""
        export = lead.get(p(world, f"/batches/{batch['id']}/export"), data={"split": "train"})
        assert export.status_code == 200 and "attachment" in export["Content-Disposition"]
        records = json.loads(b"".join(export.streaming_content))
        assert len(records) == detail["train_count"] and set(records[0]) == {"instruction", "input", "output"}

    @pytest.mark.covers("POST /api/v1/projects/{project_id}/batches")
    def test_a_batch_of_nothing_or_a_taken_name_is_422(self, api, world):
        lead = api.as_user(world["keys"][LEAD])
        nothing = lead.post(p(world, "/batches"), json={"name": "empty"})
        assert nothing.status_code == 422 and "items" in nothing.json()["errors"]
        taken = lead.post(p(world, "/batches"), json={"name": "first", "selection": "labelled"})
        assert taken.status_code == 422 and "name" in taken.json()["errors"]
        assert Batch.objects.filter(project=world["project"]).count() == 1


class TestLadders:
    @pytest.mark.covers("POST /api/v1/ladders")
    def test_an_admin_registers_checkpoint_directories_as_a_ladder_of_their_project(self, api, world):
        body = {"name": "real", "rungs": [str(world["checkpoint"])], "projects": [world["project"].pk]}
        created = api.as_user(world["keys"][ADMIN]).post(f"{V1}/ladders", json=body)
        assert created.status_code == 201, created.content
        [rung] = created.json()["rungs"]
        assert (rung["name"], rung["size_class"], rung["parameters"] > 0) == ("tiny-rung", "cpu", True)
        listed = api.as_user(world["keys"][LEAD]).get(p(world, "/ladders")).json()
        assert sorted(ladder["name"] for ladder in listed) == ["real", "tiny"]
        again = api.as_user(world["keys"][ADMIN]).post(f"{V1}/ladders", json=body)
        assert (again.status_code, again.json()["id"]) == (200, created.json()["id"])

    @pytest.mark.covers("POST /api/v1/ladders")
    def test_a_directory_that_is_not_a_checkpoint_is_422_naming_it(self, api, world, tmp_path, settings):
        settings.CHECKPOINT_ROOTS = [world["checkpoint"].parent, tmp_path]
        body = {"name": "bad", "rungs": [str(world["checkpoint"]), str(tmp_path)], "projects": [world["project"].pk]}
        refused = api.as_user(world["keys"][ADMIN]).post(f"{V1}/ladders", json=body)
        assert refused.status_code == 422
        assert refused.json()["errors"]["rungs"] == [f"{tmp_path}: no config.json"]
        assert not Ladder.objects.filter(name="bad").exists()

    @pytest.mark.covers("POST /api/v1/ladders")
    def test_only_staff_register_a_ladder_for_no_project_or_take_over_anothers(self, api, world):
        admin = api.as_user(world["keys"][ADMIN])
        alone = admin.post(f"{V1}/ladders", json={"name": "loose", "rungs": [str(world["checkpoint"])]})
        assert alone.status_code == 403 and "only staff" in alone.json()["detail"]
        Ladder.objects.create(name="elsewhere").projects.add(services.project_create(name="Other"))
        taken = admin.post(
            f"{V1}/ladders",
            json={"name": "elsewhere", "rungs": [str(world["checkpoint"])], "projects": [world["project"].pk]},
        )
        assert taken.status_code == 403 and "not an admin of project" in taken.json()["detail"]
        staff = world["users"][LEAD]
        staff.is_staff = True
        staff.save(update_fields=["is_staff"])
        by_staff = api.as_user(world["keys"][LEAD]).post(
            f"{V1}/ladders", json={"name": "loose", "rungs": [str(world["checkpoint"])]}
        )
        assert by_staff.status_code == 201, by_staff.content

    @pytest.mark.covers("POST /api/v1/ladders")
    def test_an_admin_cannot_register_directories_outside_the_checkpoint_roots(self, api, world, settings):
        """Its errors would say what the server holds there."""
        settings.CHECKPOINT_ROOTS = []
        body = {"name": "probe", "rungs": [str(world["checkpoint"]), "/etc"], "projects": [world["project"].pk]}
        refused = api.as_user(world["keys"][ADMIN]).post(f"{V1}/ladders", json=body)
        assert refused.status_code == 403 and "not under a checkpoint root" in refused.json()["detail"]
        assert "config.json" not in refused.json()["detail"]
        assert not Ladder.objects.filter(name="probe").exists()


class TestRuns:
    @pytest.mark.covers("GET /api/v1/projects/{project_id}/ladders")
    def test_ladders_list_their_rungs_by_size(self, api, world):
        ladders = api.as_user(world["keys"][LEAD]).get(p(world, "/ladders")).json()
        assert [(ladder["name"], [rung["name"] for rung in ladder["rungs"]]) for ladder in ladders] == [
            ("tiny", ["small", "large"])
        ]

    @pytest.mark.covers(
        "POST /api/v1/projects/{project_id}/runs",
        "GET /api/v1/projects/{project_id}/runs",
        "GET /api/v1/projects/{project_id}/runs/{run_id}",
    )
    def test_start_a_run_and_follow_each_rung(self, api, world, django_capture_on_commit_callbacks):
        lead = api.as_user(world["keys"][LEAD])
        body = {"batch_id": world["batch"].pk, "ladder_id": world["ladder"].pk, "hyperparameters": {"lr": 1e-4}}
        with django_capture_on_commit_callbacks() as queued:
            started = lead.post(p(world, "/runs"), json=body)
        assert started.status_code == 202, started.content
        run = started.json()
        assert (run["status"], [rung["rung"] for rung in run["rungs"]]) == ("pending", ["small", "large"])
        assert len(queued) == 2  # one rung job each
        job = RungJob.objects.get(run_id=run["id"], rung__name="small")
        job.status, job.progress = RungJob.RUNNING, {"phase": "train", "step": 3, "steps": 12, "loss": 0.7}
        job.save()
        status = lead.get(p(world, f"/runs/{run['id']}")).json()
        small = status["rungs"][0]
        assert (small["status"], small["phase"], small["percent"], small["loss"]) == ("running", "train", 25, 0.7)
        again = lead.post(p(world, "/runs"), json=body).json()
        assert again["id"] == run["id"]
        listed = lead.get(p(world, "/runs"), data={"batch_id": world["batch"].pk}).json()
        assert sorted(r["id"] for r in listed) == sorted([run["id"], world["run"].pk])

    @pytest.mark.covers("POST /api/v1/projects/{project_id}/runs")
    def test_a_ladder_not_attached_or_a_draft_batch_is_refused(self, api, world):
        from annotation.batches import batch_create
        from training.models import Ladder

        lead = api.as_user(world["keys"][LEAD])
        loose = Ladder.objects.create(name="not attached")
        response = lead.post(p(world, "/runs"), json={"batch_id": world["batch"].pk, "ladder_id": loose.pk})
        assert response.status_code == 404
        draft = batch_create(project=world["project"], name="draft", items=Item.objects.filter(pk=world["items"][0].pk))
        response = lead.post(p(world, "/runs"), json={"batch_id": draft.pk, "ladder_id": world["ladder"].pk})
        assert response.status_code == 422 and "batch" in response.json()["errors"]

    @pytest.mark.covers(
        "POST /api/v1/projects/{project_id}/runs/{run_id}/cancel",
        "POST /api/v1/projects/{project_id}/runs/{run_id}/retry",
    )
    def test_cancel_then_retry(self, api, world, django_capture_on_commit_callbacks):
        lead = api.as_user(world["keys"][LEAD])
        run = world["run"]
        assert lead.post(p(world, f"/runs/{run.pk}/retry")).status_code == 409
        cancelled = lead.post(p(world, f"/runs/{run.pk}/cancel"))
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert {rung["status"] for rung in cancelled.json()["rungs"]} == {"cancelled"}
        assert lead.post(p(world, f"/runs/{run.pk}/cancel")).status_code == 409
        with django_capture_on_commit_callbacks():
            retried = lead.post(p(world, f"/runs/{run.pk}/retry"))
        assert retried.status_code == 200 and retried.json()["status"] == "pending"

    @pytest.mark.covers("POST /api/v1/projects/{project_id}/runs/{run_id}/retry")
    def test_a_done_run_is_not_retried(self, api, world, django_capture_on_commit_callbacks):
        from training.services import rung_job_claim, rung_job_finish

        lead = api.as_user(world["keys"][LEAD])
        run = world["run"]
        with django_capture_on_commit_callbacks(execute=True):
            for job in run.rung_jobs.all():
                rung_job_finish(job=rung_job_claim(job_id=job.pk), status="done")
        run.refresh_from_db()
        assert run.status == Run.DONE
        refused = lead.post(p(world, f"/runs/{run.pk}/retry"))
        assert refused.status_code == 409
        assert refused.json()["detail"] == f"run {run.pk} is done; only a failed or cancelled run is retried"
        run.refresh_from_db()
        assert run.status == Run.DONE

    @pytest.mark.covers("GET /api/v1/projects/{project_id}/runs/{run_id}/verdict")
    def test_the_verdict_once_there_is_one(self, api, world):
        lead = api.as_user(world["keys"][LEAD])
        run = world["run"]
        pending = lead.get(p(world, f"/runs/{run.pk}/verdict"))
        assert pending.status_code == 404 and "no verdict yet" in pending.json()["detail"]
        Run.objects.filter(pk=run.pk).update(status=Run.DONE, finished_at=timezone.now() - timedelta(seconds=1))
        Verdict.objects.create(
            run=run, kind=Verdict.MONOTONE, message="F1 rises with size.",
            tuned={"f1": [0.5, 0.7]}, missing_rungs=[],
        )
        verdict = lead.get(p(world, f"/runs/{run.pk}/verdict")).json()
        assert (verdict["kind"], verdict["summary"], verdict["tuned"]) == (
            "monotone", "F1 rises with size", {"f1": [0.5, 0.7]}
        )
        assert lead.get(p(world, "/runs")).json()[0]["has_verdict"] is True


@pytest.mark.covers("GET /api/v1/projects/{project_id}")
def test_user_text_comes_back_as_json_data_not_markup(api, world):
    from annotation.models import Project

    Project.objects.filter(pk=world["project"].pk).update(description="<script>alert(1)</script>")
    response = api.as_user(world["keys"][ANNOTATOR]).get(p(world))
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["description"] == "<script>alert(1)</script>"


def test_admin_is_allowed_what_a_lead_is(api, world):
    assert api.as_user(world["keys"][ADMIN]).get(p(world, "/batches")).status_code == 200


def test_an_unexpected_failure_is_a_logged_json_500(api, world, monkeypatch, caplog):
    from annotation import selectors

    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(selectors, "project_list_for_user", broken)
    response = api.as_user(world["keys"][ANNOTATOR]).get(f"{V1}/projects")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error; it has been logged"}
    assert "disk on fire" in caplog.text
