import pytest

from annotation import agreement, services
from tests.annotation.assignments.test_assignment_claim import make_annotators, make_items


def label_all(users_labels, items):
    for user, options in users_labels:
        for item, option in zip(items, options):
            if option is not None:
                services.item_annotate(item=item, annotator=user, option=option)


def test_kappa_and_alpha_match_hand_computed_values(project):
    items = make_items(project, 4)
    alice, bob = make_annotators(project, 2)
    x, y = "extraction", "no_extraction"
    label_all([(alice, [x, x, y, y]), (bob, [x, y, y, y])], items)

    summary = agreement.agreement_summary(project=project)

    (pair,) = summary["pairs"]
    assert pair["items"] == 4
    assert pair["agreement"] == pytest.approx(0.75)
    # p_o = 3/4, p_e = 1/2 * 1/4 + 1/2 * 3/4 = 1/2  ->  kappa = (3/4 - 1/2) / (1/2)
    assert pair["kappa"] == pytest.approx(0.5)
    # Coincidences: o_xx = 2, o_xy = o_yx = 1, o_yy = 4; n_x = 3, n_y = 5, n = 8.
    # D_o = 2/8, D_e = 2 * 3 * 5 / (8 * 7)  ->  alpha = 1 - D_o / D_e = 1 - 7/15
    assert summary["alpha"] == pytest.approx(1 - 7 / 15)
    assert summary["items_with_overlap"] == 4


def test_only_the_latest_own_label_counts_and_missing_labels_are_skipped(project):
    items = make_items(project, 3)
    alice, bob, carol = make_annotators(project, 3)
    x, y = "extraction", "no_extraction"
    label_all([(alice, [y, y, None]), (alice, [x, x, None]), (bob, [x, x, y]), (carol, [None, None, y])], items)

    summary = agreement.agreement_summary(project=project, min_shared=1)

    by_pair = {pair["annotators"]: pair for pair in summary["pairs"]}
    assert by_pair[("ann0", "ann1")]["agreement"] == 1.0
    assert by_pair[("ann1", "ann2")]["items"] == 1
    assert summary["alpha"] == pytest.approx(1.0)


def test_no_overlap_means_no_alpha(project):
    items = make_items(project, 2)
    alice, bob = make_annotators(project, 2)
    services.item_annotate(item=items[0], annotator=alice, option="extraction")
    services.item_annotate(item=items[1], annotator=bob, option="extraction")
    assert agreement.agreement_summary(project=project) == {
        "pairs": [], "alpha": None, "items_with_overlap": 0
    }
