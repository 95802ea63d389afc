"""The paired regression gate: p-values against scipy and by hand, error rates by simulation, the CLI.

The simulations use the model of ``stats.simulate_gate``: the same n cases judged by the baseline and the new
run, (old, new) scores bivariate normal with sd 0.8 and correlation 0.5 on a 1-5 scale (continuous, not
rounded), the new mean ``true_drop`` lower; the per-case difference then has sd 0.8. ``max_drop=0.05`` is the
margin used as the default here: a drop of a twentieth of a point on a 1-5 scale is noise, not a regression.
"""

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from judges import stats
from judges.__main__ import main

MARGIN = 0.05  # the tolerated drop on a 1-5 scale used by the primary false-alarm test
RUNS = 400


def _binomial_tolerance(rate: float, runs: int) -> float:
    """Three standard errors of a simulated rate: a correct gate lands outside this about 1 time in 370."""
    return 3 * math.sqrt(rate * (1 - rate) / runs)


# --- reference values -------------------------------------------------------------------------------------


def test_t_method_is_scipy_ttest_1samp_on_the_shifted_differences():
    new = np.array([3.0, 4.0, 2.5, 3.5, 4.5, 2.0, 3.0, 4.0, 3.5, 3.0])
    old = np.array([3.5, 4.0, 3.0, 3.0, 4.5, 3.0, 3.5, 4.5, 3.5, 3.5])
    d = new - old
    res = stats.regression_test(new, old, max_drop=0.1, method="t")
    ref = sps.ttest_1samp(d + 0.1, 0.0, alternative="less")
    assert res.pvalue == pytest.approx(float(ref.pvalue), rel=1e-12)
    assert res.mean_diff == pytest.approx(d.mean())
    assert res.n == 10 and res.method == "t" and res.max_drop == 0.1
    assert res.low <= res.mean_diff <= res.high


def test_permutation_pvalue_is_the_exact_sign_flip_pvalue_for_8_pairs():
    new = np.array([3.0, 2.5, 4.0, 3.5, 2.0, 4.5, 3.0, 3.5])
    old = np.array([3.5, 3.0, 4.0, 3.0, 3.0, 4.5, 3.5, 4.5])
    for max_drop in (0.0, 0.1):
        x = new - old + max_drop
        # all 2**8 sign patterns; one-sided "less": the share whose mean is at or below the observed one
        hits = sum(np.mean(x * s) <= x.mean() + 1e-12 for s in itertools.product([1.0, -1.0], repeat=8))
        res = stats.regression_test(new, old, max_drop=max_drop, method="permutation")
        assert res.pvalue == pytest.approx(hits / 256)
    assert stats.regression_test(new, old).pvalue < stats.regression_test(new, old, max_drop=0.1).pvalue


@pytest.mark.parametrize("method", ["permutation", "t"])
def test_a_drop_within_the_margin_passes_and_a_clear_drop_fails(method):
    rng = np.random.default_rng(11)
    noise = rng.normal(0, 0.3, 40)
    d = -0.2 + (noise - noise.mean())  # a mean drop of exactly 0.2
    old = 3.0 + rng.normal(0, 0.8, 40)
    new = old + d
    within = stats.regression_test(new, old, max_drop=0.25, method=method)
    assert within.mean_diff == pytest.approx(-0.2)
    assert not within.regressed and within.pvalue > 0.5
    clear = stats.regression_test(new, old, max_drop=0.0, method=method)
    assert clear.regressed and clear.pvalue < 0.001


@pytest.mark.parametrize("method", ["permutation", "t"])
@pytest.mark.parametrize("max_drop", [0.0, 0.1])
def test_identical_scores_give_p_1(method, max_drop):
    scores = [3.0, 4.0, 2.0, 5.0, 3.0]
    res = stats.regression_test(scores, scores, max_drop=max_drop, method=method)
    assert res.pvalue == 1.0 and not res.regressed  # scipy's t-test alone says nan here
    assert (res.mean_diff, res.low, res.high) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("method", ["permutation", "t"])
def test_every_case_moving_by_the_same_amount(method):
    old = [3.2, 4.2, 2.2, 4.7, 3.2, 3.7, 2.7]
    new = [x - 0.2 for x in old]  # float noise: new - old is not exactly -0.2
    assert not stats.regression_test(new, old, max_drop=0.2, method=method).regressed  # exactly at the margin
    assert stats.regression_test(new, old, max_drop=0.1, method=method).regressed  # beyond it, in every case
    assert not stats.regression_test(old, new, method=method).regressed  # an improvement


def test_regressed_means_p_strictly_below_alpha():
    at = stats.RegressionTest(-0.1, -0.2, 0.0, pvalue=0.05, max_drop=0.0, alpha=0.05, n=30, method="t")
    below = stats.RegressionTest(-0.1, -0.2, 0.0, pvalue=0.0499, max_drop=0.0, alpha=0.05, n=30, method="t")
    assert not at.regressed and below.regressed
    assert str(below).startswith("REGRESSED: new - old = -0.100 [-0.200, +0.000] over 30 cases")
    assert "no regression shown" in str(at) and "drop larger than 0 " in str(at)


def test_pairs_with_nan_are_dropped():
    res = stats.regression_test([1.0, np.nan, 3.0, 4.0, 2.0], [1.0, 2.0, np.nan, 5.0, 2.5], method="t")
    assert res.n == 3 and res.mean_diff == pytest.approx(-0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"new": [1.0, 2.0], "old": [1.0]}, "got 2 new and 1 old"),
        ({"new": [1.0, np.nan, 3.0], "old": [1.0, 2.0, np.nan]}, "at least 2 complete pairs.*got 1"),
        ({"new": [1.0, 2.0], "old": [1.0, 2.0], "max_drop": -0.1}, "got -0.1"),
        ({"new": [1.0, 2.0], "old": [1.0, 2.0], "max_drop": math.nan}, "got nan"),
        ({"new": [1.0, 2.0], "old": [1.0, 2.0], "alpha": 0.0}, r"alpha must be in \(0, 1\), got 0.0"),
        ({"new": [1.0, 2.0], "old": [1.0, 2.0], "alpha": 1.5}, "got 1.5"),
        ({"new": [1.0, 2.0], "old": [1.0, 2.0], "method": "z"}, "got 'z'"),
    ],
)
def test_regression_test_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        stats.regression_test(**kwargs)


def test_sample_size_is_the_normal_approximation():
    z = sps.norm.ppf(0.95) + sps.norm.ppf(0.8)
    assert stats.sample_size_for_drop(0.3, 0.8) == math.ceil((z * 0.8 / 0.3) ** 2) == 44
    assert stats.sample_size_for_drop(0.3, 0.8, max_drop=MARGIN) == math.ceil((z * 0.8 / 0.25) ** 2) == 64
    assert stats.sample_size_for_drop(0.3, 0.8, power=0.9) > 44
    assert stats.sample_size_for_drop(5.0, 0.1) == 2


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0.05, 0.8), {"max_drop": 0.05}, "got drop 0.05 and max_drop 0.05"),
        ((-0.3, 0.8), {}, "got drop -0.3"),
        ((0.3, 0.0), {}, "sd_diff must be a finite number > 0, got 0.0"),
        ((0.3, 0.8), {"power": 1.0}, "power must be in"),
    ],
)
def test_sample_size_rejects_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        stats.sample_size_for_drop(*args, **kwargs)


# --- error rates by simulation ----------------------------------------------------------------------------


def test_no_true_change_rarely_fails_the_gate_with_the_default_margin():
    """Acceptance: no true change fails the gate in at most 5% of 400 runs at alpha 0.05 (max_drop 0.05).

    Measured: 8/400 = 0.020 (the normal approximation expects 0.012: the margin puts a true change of zero
    0.6 standard errors inside H0).
    """
    rate = stats.simulate_gate(n=100, true_drop=0.0, max_drop=MARGIN, runs=RUNS, seed=0)
    print(f"\nfalse alarms, no change, max_drop {MARGIN}, n=100, permutation: {rate:.3f}")
    assert rate <= 0.05


# another seed for the second case: with the same seed its shifted differences would be the first case's
@pytest.mark.parametrize(("true_drop", "max_drop", "seed"), [(0.0, 0.0, 0), (MARGIN, MARGIN, 1)])
def test_at_the_margin_the_gate_fails_about_alpha_of_the_time(true_drop, max_drop, seed):
    """At the boundary of H0 the false-alarm rate is the test's size, alpha, give or take simulation error.

    With max_drop 0 "no change" IS the boundary, so the count out of 400 exceeds 20 about half the time.
    Measured: 24/400 = 0.060 at no change with max_drop 0 (seed 0); 19/400 = 0.0475 at a true drop of 0.05
    with max_drop 0.05 (seed 1); the tolerance is 3 binomial standard errors, 0.033.
    """
    rate = stats.simulate_gate(n=100, true_drop=true_drop, max_drop=max_drop, runs=RUNS, seed=seed)
    print(f"\nfalse alarms at the margin, true drop {true_drop} = max_drop {max_drop}: {rate:.3f}")
    assert abs(rate - 0.05) <= _binomial_tolerance(0.05, RUNS)


def test_a_true_drop_of_0_3_is_caught_at_n_100():
    """Acceptance: a true drop of 0.3 (sd 0.8, rho 0.5) at n=100 fails the gate in at least 80% of 400 runs.

    Measured with max_drop 0.05: 369/400 = 0.9225 (the normal approximation expects 0.93).
    """
    rate = stats.simulate_gate(n=100, true_drop=0.3, sd=0.8, rho=0.5, max_drop=MARGIN, runs=RUNS, seed=0)
    print(f"\npower, true drop 0.3, max_drop {MARGIN}, n=100, permutation: {rate:.3f}")
    assert rate >= 0.80


def test_sample_size_for_drop_agrees_with_the_simulated_power():
    """At the n that sample_size_for_drop returns the simulated power is the target, give or take.

    n = 64 for a drop of 0.3, sd 0.8, max_drop 0.05, power 0.8; measured with the t method over 2000 runs:
    0.797 (the t-test's heavier tails cost a little against the normal approximation). The t method
    because 2000 runs of it take milliseconds; the next test shows it decides as the permutation test does.
    """
    n = stats.sample_size_for_drop(0.3, 0.8, max_drop=MARGIN, power=0.8)
    rate = stats.simulate_gate(n=n, true_drop=0.3, sd=0.8, max_drop=MARGIN, runs=2000, seed=2, method="t")
    print(f"\nsimulated power at n={n} from sample_size_for_drop (target 0.8), t method: {rate:.3f}")
    assert abs(rate - 0.8) <= _binomial_tolerance(0.8, 2000) + 0.01


def test_permutation_and_t_agree_on_simulated_suites():
    """Measured over 40 suites of 100 cases, max_drop 0.05, true drop 0.15: largest p-value gap 0.019,
    the same verdict in 40/40 (17 regressed)."""
    rng = np.random.default_rng(3)
    new, old = stats._gate_scores(n=100, true_drop=0.15, sd=0.8, rho=0.5, runs=40, rng=rng)
    perm = [stats.regression_test(a, b, max_drop=MARGIN, n_resamples=2000) for a, b in zip(new, old)]
    t = [stats.regression_test(a, b, max_drop=MARGIN, method="t") for a, b in zip(new, old)]
    gaps = np.abs([p.pvalue - q.pvalue for p, q in zip(perm, t)])
    agree = sum(p.regressed == q.regressed for p, q in zip(perm, t))
    print(f"\npermutation vs t over 40 suites: largest p-value gap {gaps.max():.4f}, same verdict {agree}/40")
    assert gaps.max() <= 0.03
    assert agree >= 38
    assert 5 <= sum(p.regressed for p in perm) <= 35  # the verdicts are not all the same: the check has teeth


def test_simulate_gate_counts_what_regression_test_decides():
    rng = np.random.default_rng(5)
    new, old = stats._gate_scores(n=8, true_drop=0.4, sd=0.8, rho=0.5, runs=60, rng=rng)
    for method in ("permutation", "t"):  # the permutation test is exact at n=8, so no seed enters
        expected = np.mean([stats.regression_test(a, b, method=method).regressed for a, b in zip(new, old)])
        assert 0.1 < expected < 0.9
        assert stats.simulate_gate(n=8, true_drop=0.4, runs=60, seed=5, method=method) == expected


def test_simulate_gate_rejects_bad_input():
    with pytest.raises(ValueError, match="rho must be in"):
        stats.simulate_gate(n=50, true_drop=0.1, rho=1.0)
    with pytest.raises(ValueError, match="n must be at least 2 paired cases, got 1"):
        stats.simulate_gate(n=1, true_drop=0.1)


# --- the command line -------------------------------------------------------------------------------------


def test_cli_power_prints_the_needed_n(capsys):
    assert main(["power", "--drop", "0.3", "--sd", "0.8"]) == 0
    assert "needed: 44 paired cases" in capsys.readouterr().out


def test_cli_power_simulates_detection_and_false_alarms(capsys):
    argv = ["power", "--drop", "0.3", "--sd", "0.8", "--max-drop", "0.05", "--simulate", "--runs", "200"]
    assert main([*argv, "--method", "t"]) == 0
    out = capsys.readouterr().out
    print(out)
    assert "needed: 64 paired cases" in out
    assert "caught, true drop 0.3:" in out
    assert "false alarms, no change:" in out
    assert "false alarms, true drop = margin 0.05:" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--drop", "0.3", "--sd", "-1"], "argument --sd: must be a number > 0, got '-1'"),
        (["--drop", "abc", "--sd", "0.8"], "argument --drop: must be a number > 0, got 'abc'"),
        (
            ["--drop", "0.3", "--sd", "0.8", "--alpha", "5"],
            "argument --alpha: must be a number between 0 and 1",
        ),
        (["--drop", "0.3", "--sd", "0.8", "--runs", "0"], "argument --runs: must be a whole number >= 1"),
        (["--drop", "0.05", "--sd", "0.8", "--max-drop", "0.1"], "--drop 0.05 must exceed --max-drop 0.1"),
    ],
)
def test_cli_rejects_bad_values_with_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["power", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_python_m_judges_runs_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "judges", "power", "--drop", "0.3", "--sd", "0.8"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "needed: 44 paired cases" in proc.stdout
