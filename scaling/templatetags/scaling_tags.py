"""Scaling fragments that other apps' pages embed: the verdict banner, a batch's runs, an item's ladder opinion."""

from django import template

from scaling import selectors

register = template.Library()


@register.inclusion_tag("scaling/verdict_banner.html", takes_context=True)
def verdict_banner(context, project, batch=None, run=None):
    return {
        "banner": selectors.verdict_banner(project=project, batch=batch, run=run),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("scaling/batch_runs.html", takes_context=True)
def batch_runs(context, batch):
    return {
        **selectors.batch_runs(batch=batch),
        "project": batch.project,
        "batch": batch,
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("scaling/ladder_opinion.html")
def ladder_opinion(item):
    return {"opinion": selectors.item_ladder_opinion(item=item), "dynamics": selectors.item_training_dynamics(item=item),
            "project": item.project}


@register.inclusion_tag("scaling/annotator_quality.html")
def annotator_quality(project):
    return {"quality": selectors.project_annotator_quality(project=project), "project": project}


@register.inclusion_tag("scaling/rung_recommendation.html")
def rung_recommendation(batch):
    run = selectors.latest_run(project=batch.project, batch=batch)
    return {
        "recommendation": selectors.rung_recommendation(verdict=selectors.run_verdict(run=run)),
        "run": run,
        "project": batch.project,
    }
