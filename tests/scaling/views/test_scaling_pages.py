"""The lead's scaling pages: dashboard, banners, suspect queue, re-runs and starting runs."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from scaling import services as scaling_services
from scaling.services import verdict_compute
from tests.scaling.factories import make_batch, make_labelled_items, make_ladder, make_run
from training.models import Run, RungJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def verdict(project, annotator):
    labels = make_labelled_items(project, annotator, 200)
    ladder = make_ladder("l", 4)
    ladder.projects.add(project)
    items = list(labels)
    run = make_run(make_batch(project, labels, name="week-1"), ladder, accuracies=[0.6, 0.7, 0.8, 0.9],
                   wrong_items=items[:3])
    return verdict_compute(run_id=run.pk)


@pytest.fixture
def lead_client(lead):
    client = Client()
    client.force_login(lead)
    return client


def test_the_dashboard_draws_every_chart_with_its_numbers_beside_it(lead_client, project, verdict):
    response = lead_client.get(reverse("scaling:dashboard", args=[project.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    charts = json.loads(html.split('id="dashboard-data" type="application/json">')[1].split("</script>")[0])
    assert charts["by_size"]["tuned"]["f1"] == verdict.tuned["f1"]
    assert charts["power"]["next"]["label"] == "2B"
    for section in ("f1-by-size", "f1-across-batches", "power-law", "category-growth"):
        assert f'id="{section}"' in html
    assert html.count('<table class="grid numbers">') == 4
    assert "vendor/chartjs/chart.umd.min.js" in html
    assert verdict.message in html


def test_an_empty_project_has_a_dashboard_too(lead_client, project):
    response = lead_client.get(reverse("scaling:dashboard", args=[project.pk]))
    assert response.status_code == 200 and b"No ladder run yet" in response.content


def test_project_and_batch_pages_carry_the_verdict_banner(lead_client, project, verdict):
    for url in (reverse("annotation:project_detail", args=[project.pk]),
                reverse("annotation:batch_detail", args=[project.pk, verdict.run.batch_id])):
        html = lead_client.get(url).content.decode()
        assert 'class="banner banner-monotone"' in html and verdict.message in html
        assert reverse("scaling:dashboard", args=[project.pk]) in html
        tuned = verdict.tuned
        assert (
            f"Gain across the ladder {tuned['fitted_gain']:+.3f} F1, 95% interval "
            f"{tuned['gain_low']:+.3f} to {tuned['gain_high']:+.3f} (200 eval items)."
        ) in html


def test_an_annotator_sees_no_banner_on_the_project_page(project, annotator, verdict):
    client = Client()
    client.force_login(annotator)
    assert b"banner" not in client.get(reverse("annotation:project_detail", args=[project.pk])).content


def test_the_banner_polls_while_training_and_stops_with_286_once_judged(lead_client, project, verdict):
    url = reverse("scaling:verdict_banner", args=[project.pk])
    run_id = verdict.run_id
    Run.objects.filter(pk=run_id).update(status=Run.RUNNING)
    verdict.delete()
    training = lead_client.get(url, headers={"HX-Request": "true"})
    assert training.status_code == 200 and b"hx-trigger" in training.content
    Run.objects.filter(pk=run_id).update(status=Run.DONE)
    verdict_compute(run_id=run_id)
    judged = lead_client.get(url, headers={"HX-Request": "true"})
    assert judged.status_code == 286 and b"hx-trigger" not in judged.content
    assert b"F1 rises with size" in judged.content


def test_a_verdict_that_failed_shows_its_error_where_the_verdict_goes_and_polling_ends_once_given_up(
    lead_client, project, verdict, monkeypatch
):
    run_id = verdict.run_id
    verdict.delete()

    def bad_data(**kwargs):
        raise ValueError("no eval split")

    monkeypatch.setattr(scaling_services, "run_eval_arrays", bad_data)
    with pytest.raises(ValueError):
        scaling_services.verdict_attempt(run_id=run_id)
    page = lead_client.get(reverse("runs:run_detail", args=[project.pk, run_id])).content.decode()
    assert 'class="banner banner-verdict_failed"' in page
    assert "its verdict could not be computed" in page and "ValueError: no eval split" in page
    assert "tried again after" in page
    banner = reverse("scaling:verdict_banner", args=[project.pk]) + f"?run={run_id}"
    waiting = lead_client.get(banner, headers={"HX-Request": "true"})
    assert waiting.status_code == 200 and b"hx-trigger" in waiting.content
    Run.objects.filter(pk=run_id).update(verdict_failures=scaling_services.VERDICT_ATTEMPTS, verdict_retry_at=None)
    given_up = lead_client.get(banner, headers={"HX-Request": "true"})
    assert given_up.status_code == 286 and b"hx-trigger" not in given_up.content
    assert b"not tried again" in given_up.content


def test_the_suspect_queue_links_each_item_to_its_review(lead_client, project, verdict):
    response = lead_client.get(reverse("scaling:run_suspects", args=[project.pk, verdict.run_id]))
    rows = response.context["rows"]
    assert len(rows) >= 3
    for row in rows:
        assert reverse("annotation:item_review", args=[project.pk, row["item"].pk]) in response.content.decode()


def test_the_run_page_shows_the_verdict_and_proposed_reruns(lead_client, project, verdict):
    verdict.diagnostics["rungs"]["proposed_changes"] = [
        {"rung": "r2", "size": 1e8, "parameter": "lr", "factor": 0.1, "current": 2e-4, "proposed": 2e-5}
    ]
    verdict.save()
    html = lead_client.get(reverse("runs:run_detail", args=[project.pk, verdict.run_id])).content.decode()
    assert verdict.message in html
    assert "Re-run r2 with lr=2e-05" in html


class TestRerun:
    def url(self, project, verdict):
        return reverse("runs:run_rerun", args=[project.pk, verdict.run_id])

    def test_a_rerun_redirects_to_the_new_run(self, lead_client, project, verdict):
        rung = verdict.run.ladder.rungs.get(name="r2")
        response = lead_client.post(self.url(project, verdict), {"rung": rung.pk, "hyperparameters": "lr=2e-5"})
        rerun = Run.objects.get(rerun_of=verdict.run)
        assert response.status_code == 302 and response["Location"].endswith(f"/runs/{rerun.pk}/")
        assert rerun.rung_jobs.get(rung=rung).status == RungJob.PENDING
        again = lead_client.post(self.url(project, verdict), {"rung": rung.pk, "hyperparameters": "lr=2e-5"})
        assert again["Location"] == response["Location"]

    @pytest.mark.parametrize(
        "rung, typed, message",
        [
            ("r2", "learning_rate=2e-5", "unknown hyper-parameter &#x27;learning_rate&#x27;"),
            ("r2", "lr=<b>x</b>", "lr: &#x27;&lt;b&gt;x&lt;/b&gt;&#x27; is not a number"),
            ("nope", "lr=2e-5", "choose a rung of this run"),
            ("r2", "processes=64", "processes: 64 is out of range; allowed: [1, 1]"),
            # The form's list syntax makes even a pattern a module name, and this rung has no weights to check it by.
            ("r2", "target_modules=(a+)+$", "target_modules: rung &#x27;r2&#x27; has no safetensors weights"),
            ("r2", "epochs=1e6", "epochs: 1e+06 is out of range"),
            ("r2", "lr=inf", "lr: inf is not a finite number"),
            ("r2", "lr=nan", "lr: nan is not a finite number"),
            ("r2", "epochs=fast", "epochs: &#x27;fast&#x27; is not a number"),
        ],
    )
    def test_bad_input_changes_nothing_and_says_why(self, lead_client, project, verdict, rung, typed, message):
        rung_id = verdict.run.ladder.rungs.get(name=rung).pk if rung != "nope" else "nope"
        response = lead_client.post(self.url(project, verdict), {"rung": rung_id, "hyperparameters": typed})
        assert response.status_code == 422
        assert message in response.content.decode()
        assert Run.objects.count() == 1


def test_start_a_run_with_learning_curves(lead_client, project, verdict):
    ladder = make_ladder("second", 2)
    ladder.projects.add(project)
    batch = verdict.run.batch
    html = lead_client.get(reverse("annotation:batch_detail", args=[project.pk, batch.pk])).content.decode()
    assert 'name="learning_curve"' in html
    response = lead_client.post(
        reverse("runs:batch_run_start", args=[project.pk, batch.pk]), {"ladder": ladder.pk, "learning_curve": "on"}
    )
    run = Run.objects.get(ladder=ladder)
    assert response.status_code == 302 and run.learning_curve and run.batch == batch


def test_a_run_started_with_hyper_parameters_shows_them_and_its_provenance(lead_client, project, verdict):
    ladder = make_ladder("second", 2)
    ladder.projects.add(project)
    batch = verdict.run.batch
    response = lead_client.post(
        reverse("runs:batch_run_start", args=[project.pk, batch.pk]), {"ladder": ladder.pk, "hyperparameters": "lr=1e-4, r=8"}
    )
    run = Run.objects.get(ladder=ladder)
    assert response.status_code == 302 and run.hyperparameters == {"lr": 1e-4, "r": 8}
    html = lead_client.get(reverse("runs:run_detail", args=[project.pk, run.pk])).content.decode()
    assert 'id="provenance"' in html and run.provenance["code_version"] in html
    assert run.provenance["libraries"]["torch"] in html


def test_hostile_hyper_parameters_on_the_run_start_form_name_their_fields_and_start_nothing(lead_client, project, verdict):
    ladder = make_ladder("second", 2)
    ladder.projects.add(project)
    response = lead_client.post(
        reverse("runs:batch_run_start", args=[project.pk, verdict.run.batch_id]),
        {"ladder": ladder.pk, "hyperparameters": "epochs=1e6, processes=64, target_modules=(a+)+$"},
    )
    assert response.status_code == 422
    html = response.content.decode()
    for field in ("epochs: 1e+06 is out of range", "processes: 64 is out of range", "target_modules: rung"):
        assert field in html
    assert not Run.objects.filter(ladder=ladder).exists()


def test_starting_a_run_on_a_ladder_of_another_project_is_refused(lead_client, project, verdict):
    stranger = make_ladder("stranger", 1)
    response = lead_client.post(
        reverse("runs:batch_run_start", args=[project.pk, verdict.run.batch_id]), {"ladder": stranger.pk}
    )
    assert response.status_code == 422 and b"choose one of this project" in response.content


@pytest.mark.parametrize(
    "name, data",
    [("runs:run_rerun", {"hyperparameters": "lr=2e-5"}), ("runs:batch_run_start", {})],
)
def test_posts_without_a_csrf_token_are_refused(lead, project, verdict, name, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    args = [project.pk, verdict.run_id if "run_" in name and "batch" not in name else verdict.run.batch_id]
    response = client.post(reverse(name, args=args), {**data, "rung": verdict.run.ladder.rungs.first().pk})
    assert response.status_code == 403
    assert Run.objects.count() == 1


@pytest.mark.parametrize(
    "name, method",
    [("scaling:dashboard", "get"), ("scaling:verdict_banner", "get"), ("scaling:run_suspects", "get"),
     ("runs:run_detail", "get"), ("runs:run_report", "get"), ("runs:run_rerun", "post"), ("runs:batch_run_start", "post")],
)
def test_an_annotator_gets_403_on_every_lead_url(project, annotator, verdict, name, method):
    client = Client()
    client.force_login(annotator)
    if name == "runs:batch_run_start":
        args = [project.pk, verdict.run.batch_id]
    elif name.startswith(("scaling:run_", "runs:run_")):
        args = [project.pk, verdict.run_id]
    else:
        args = [project.pk]
    assert getattr(client, method)(reverse(name, args=args)).status_code == 403


def test_the_banner_s_one_click_rerun_posts_with_the_page_s_csrf_token(lead, project, verdict):
    import re

    verdict.diagnostics["rungs"]["proposed_changes"] = [
        {"rung": "r2", "size": 1e8, "parameter": "lr", "factor": 0.1, "current": 2e-4, "proposed": 2e-5}
    ]
    verdict.save()
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    html = client.get(reverse("annotation:project_detail", args=[project.pk])).content.decode()
    form = re.search(r'<form method="post" action="([^"]+/rerun/)".*?</form>', html, re.S)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(0)))
    assert fields["csrfmiddlewaretoken"] and fields["hyperparameters"] == "lr=2e-05"
    response = client.post(form.group(1), fields)
    rerun = Run.objects.get(rerun_of=verdict.run)
    assert response.status_code == 302 and rerun.rung_overrides == {"r2": {"lr": 2e-5}}


def test_the_dashboard_blames_relabelled_items_when_a_rung_falls(lead_client, project, annotator, verdict):
    labels = {item: label for item, label in
              ((bi.item, bi.label) for bi in verdict.run.batch.batch_items.select_related("item"))}
    first = next(iter(labels))
    labels[first] = "extraction" if labels[first] == "no_extraction" else "no_extraction"
    later = make_run(make_batch(project, labels, name="week-2"), verdict.run.ladder, accuracies=[0.6, 0.7, 0.8, 0.5], seed=5)
    verdict_compute(run_id=later.pk)
    html = lead_client.get(reverse("scaling:dashboard", args=[project.pk])).content.decode()
    assert "Regression blame: batch week-1 → week-2" in html
    assert "r3: F1" in html
    assert reverse("annotation:item_review", args=[project.pk, first.pk]) in html


def test_the_dashboard_lists_each_batch_s_verdict_side_by_side(lead_client, project, verdict):
    labels = {bi.item: bi.label for bi in verdict.run.batch.batch_items.select_related("item")}
    later = make_run(make_batch(project, labels, name="week-2"), verdict.run.ladder, accuracies=[0.6, 0.7, 0.8, 0.5], seed=5)
    second = verdict_compute(run_id=later.pk)
    html = lead_client.get(reverse("scaling:dashboard", args=[project.pk])).content.decode()
    listed = html[html.index('id="verdicts-per-batch"'):]
    assert listed.index("week-1") < listed.index("week-2")
    assert verdict.message in listed and second.message in listed


def test_retrying_a_done_run_is_refused_with_a_message_and_the_run_stays_done(lead_client, project, verdict):
    response = lead_client.post(reverse("runs:run_retry", args=[project.pk, verdict.run_id]))
    assert response.status_code == 409
    assert b"only a failed or cancelled run is retried" in response.content
    run = Run.objects.get(pk=verdict.run_id)
    assert run.status == Run.DONE and run.finished_at is not None
    assert set(run.rung_jobs.values_list("status", flat=True)) == {RungJob.DONE}


def test_the_progress_bar_never_runs_past_full(lead_client, project, verdict):
    job = RungJob.objects.filter(run_id=verdict.run_id).first()
    job.progress = {"phase": "fine-tuning", "step": 12, "steps": 10}
    job.save(update_fields=["progress"])
    html = lead_client.get(reverse("runs:run_detail", args=[project.pk, verdict.run_id])).content.decode()
    assert '<progress max="100" value="120">' not in html
    assert html.count('<progress max="100" value="100">') == 4
