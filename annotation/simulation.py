"""Simulated annotators: label through the same services a browser uses.

For demos and benchmarks: an annotator of chosen accuracy labels items that
carry a hidden gold label, a simulated lead accepts, and label noise can be
planted on purpose (flipping the two classes) to see whether the ladder
notices. The planted items are returned, never stored where people look.
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password

from annotation import services
from annotation.models import Annotation, Item, Membership, Project

OTHER_CLASS = {"extraction": "no_extraction", "no_extraction": "extraction"}


@dataclass
class SimulationResult:
    labelled: int = 0
    wrong: int = 0
    planted: list[int] = field(default_factory=list)
    skipped_without_gold: int = 0
    batch_id: int | None = None
    seconds: float = 0.0


def simulated_users(*, project: Project, annotators: int):
    users = []
    for number in range(1, annotators + 1):
        user = services.user_get_or_create(
            username=f"sim-annotator-{number}", password=make_password(None)
        )
        services.membership_set(project=project, user=user, role=Membership.ANNOTATOR)
        users.append(user)
    lead = services.user_get_or_create(username="sim-lead", password=make_password(None))
    services.membership_set(project=project, user=lead, role=Membership.LEAD)
    return users, lead


def _wrong_option(gold: str, options: list[str], rng: random.Random) -> str:
    if gold in OTHER_CLASS and rng.random() < 0.9:
        return OTHER_CLASS[gold]
    return rng.choice([option for option in options if option != gold])


def annotators_simulate(
    *,
    project: Project,
    accuracy: float = 0.9,
    limit: int | None = None,
    annotators: int = 1,
    noise: float = 0.0,
    seed: int = 0,
    review: bool = True,
    batch_name: str | None = None,
    progress: Callable[[int], object] | None = None,
) -> SimulationResult:
    """Label up to `limit` unlabelled items; optionally freeze them as a batch."""
    if not 0 <= accuracy <= 1 or not 0 <= noise <= 1:
        raise ValueError("accuracy and noise are fractions between 0 and 1")
    started = time.perf_counter()
    rng = random.Random(seed)
    users, lead = simulated_users(project=project, annotators=annotators)
    candidates = Item.objects.filter(project=project, label="").order_by("id")
    result = SimulationResult()
    result.skipped_without_gold = candidates.filter(gold="").count()
    items = list(candidates.exclude(gold="")[:limit] if limit else candidates.exclude(gold=""))
    planted = set(
        rng.sample([item.pk for item in items if item.gold in OTHER_CLASS], round(noise * len(items)))
        if noise
        else []
    )
    options = project.option_values
    for index, item in enumerate(items):
        option = item.gold if rng.random() < accuracy else _wrong_option(item.gold, options, rng)
        if item.pk in planted:
            option = OTHER_CLASS[item.gold]
        result.wrong += option != item.gold
        services.item_annotate(
            item=item,
            annotator=users[index % len(users)],
            option=option,
            seconds_spent=rng.uniform(2, 12),
            kind=Annotation.SIMULATED,
        )
        if review:
            services.item_annotate(item=item, annotator=lead, option=option, kind=Annotation.REVIEW_ACCEPT)
        result.labelled += 1
        if progress is not None:
            progress(1)
    result.planted = sorted(planted)
    if batch_name:
        from annotation.batches import batch_create, batch_freeze

        batch = batch_create(
            project=project, name=batch_name, items=Item.objects.filter(pk__in=[item.pk for item in items])
        )
        result.batch_id = batch_freeze(batch=batch).pk
    result.seconds = time.perf_counter() - started
    return result


def suspects_review_simulate(*, project: Project, item_ids: list[int], accuracy: float = 0.95, seed: int = 0) -> int:
    """A simulated lead works through a suspect queue: each item reviewed through the review service,
    as the browser's form does, giving the gold label with probability `accuracy`, reason "ladder suspect".

    Returns how many labels changed.
    """
    from annotation.review import item_review

    if not 0 <= accuracy <= 1:
        raise ValueError("accuracy is a fraction between 0 and 1")
    rng = random.Random(seed)
    _, lead = simulated_users(project=project, annotators=0)
    changed = 0
    options = project.option_values
    for item in Item.objects.filter(project=project, pk__in=item_ids).exclude(gold="").order_by("id"):
        option = item.gold if rng.random() < accuracy else _wrong_option(item.gold, options, rng)
        before = item.label
        item_review(item=item, lead=lead, option=option, reason="ladder suspect",
                    expected_current_id=item.current_annotation_id)
        changed += option != before
    return changed
