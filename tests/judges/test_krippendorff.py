"""Krippendorff's alpha against Krippendorff's worked example and a hand-computed two-rater table."""

from __future__ import annotations

import math

import pytest

from judges.stats import krippendorff_alpha

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units,
# missing values. Published results: nominal .743, ordinal .815, interval .849, ratio .797.
N = None
RELIABILITY_DATA = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


@pytest.mark.parametrize(
    ("metric", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_alpha_matches_krippendorffs_worked_example(metric: str, published: float) -> None:
    assert krippendorff_alpha(RELIABILITY_DATA, metric=metric) == pytest.approx(published, abs=5e-4)  # type: ignore[arg-type]


def test_alpha_two_raters_nominal_hand_computed() -> None:
    # Two raters, 4 units: 1/1, 1/2, 2/2, 2/2. Coincidences o11=2, o12=o21=1, o22=4; n1=3, n2=5, n=8.
    # alpha = 1 - (n-1) * (o12+o21) / (n1*n2 + n2*n1) = 1 - 7 * 2 / 30 = 0.5333...
    assert krippendorff_alpha([[1, 1, 2, 2], [1, 2, 2, 2]], metric="nominal") == pytest.approx(1 - 14 / 30)


def test_alpha_edge_cases() -> None:
    assert krippendorff_alpha([[3, 3, 3], [3, 3, 3]]) != krippendorff_alpha([[3, 3, 3], [3, 3, 2]])
    assert math.isnan(krippendorff_alpha([[3, 3], [3, 3]]))  # one value: no variation to agree on
    assert math.isnan(krippendorff_alpha([[1, None], [None, 2]]))  # no unit with two values
    assert krippendorff_alpha([[1, 2, 3, 4], [1, 2, 3, 4]]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="metric"):
        krippendorff_alpha([[1]], metric="cosine")  # type: ignore[arg-type]
