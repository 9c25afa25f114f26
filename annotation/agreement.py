"""Inter-annotator agreement: Cohen's kappa per pair, Krippendorff's alpha overall."""

from collections import defaultdict
from itertools import combinations

import numpy as np
from django.contrib.auth import get_user_model

from annotation.models import Annotation, Project

LABEL_KINDS = list(Annotation.LABEL_KINDS)


def latest_labels(*, project: Project, batch=None) -> dict[int, dict[int, str]]:
    """{annotator id: {item id: option}} from each annotator's latest own label."""
    rows = Annotation.objects.filter(item__project=project, kind__in=LABEL_KINDS)
    if batch is not None:
        rows = rows.filter(item__batch_items__batch=batch)
    labels: dict[int, dict[int, str]] = defaultdict(dict)
    for annotator_id, item_id, option in rows.order_by("id").values_list(
        "annotator_id", "item_id", "option"
    ):
        labels[annotator_id][item_id] = option
    return labels


def agreement_summary(*, project: Project, batch=None, min_shared: int = 2) -> dict:
    """Pairwise Cohen's kappa (pairs sharing >= min_shared items) and Krippendorff's alpha.

    Alpha is nominal over every item labelled by at least two annotators; None
    when no item has two labels, or when every label is the same value.
    """
    # Imported here: scikit-learn and krippendorff pull in scipy, which would
    # otherwise add most of a second to every web process's start and memory.
    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    labels = latest_labels(project=project, batch=batch)
    names = dict(
        get_user_model().objects.filter(pk__in=labels).values_list("pk", "username")
    )
    pairs = []
    for first, second in combinations(sorted(labels), 2):
        shared = sorted(labels[first].keys() & labels[second].keys())
        if len(shared) < min_shared:
            continue
        a = [labels[first][item] for item in shared]
        b = [labels[second][item] for item in shared]
        kappa = None if len(set(a) | set(b)) < 2 else float(cohen_kappa_score(a, b))
        pairs.append(
            {
                "annotators": (names[first], names[second]),
                "items": len(shared),
                "agreement": float(np.mean([x == y for x, y in zip(a, b)])),
                "kappa": kappa,
            }
        )
    multiply_labelled = sorted(
        item for item, count in _label_counts(labels).items() if count >= 2
    )
    values = sorted(
        {
            per_user[item]
            for per_user in labels.values()
            for item in multiply_labelled
            if item in per_user
        }
    )
    alpha = None
    if multiply_labelled and len(values) >= 2:
        code = {value: index for index, value in enumerate(values)}
        matrix = np.full((len(labels), len(multiply_labelled)), np.nan)
        for row, annotator in enumerate(sorted(labels)):
            for column, item in enumerate(multiply_labelled):
                if item in labels[annotator]:
                    matrix[row, column] = code[labels[annotator][item]]
        alpha = float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
    return {"pairs": pairs, "alpha": alpha, "items_with_overlap": len(multiply_labelled)}


def _label_counts(labels: dict[int, dict[int, str]]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for per_user in labels.values():
        for item in per_user:
            counts[item] += 1
    return counts
