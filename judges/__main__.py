"""Command line of the judges library: ``python -m judges <command>``.

    python -m judges power --drop 0.3 --sd 0.8 --simulate     # cases a regression gate needs
    python -m judges meta-eval --data llmbar:FILE --criterion helpfulness --limit 60   # qualify a judge

Each command is one ``_add_<name>(subparsers)`` that registers its arguments and sets ``run`` to a
function of the parsed arguments returning the exit status. Bad values exit 2 with a message that
names the value and the fix, as argparse does for its own errors.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence

from judges.meta_eval._cli import add_meta_eval
from judges.stats import sample_size_for_drop, simulate_gate

# The simulation needs a correlation between the two runs' scores; the paired test only sees the
# differences, so any rho gives the same rates once the difference sd is fixed. At 0.5 the score sd
# equals the difference sd, which keeps the printed model easy to read.
_RHO = 0.5


def _number(check: Callable[[float], bool], requirement: str, hint: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and check(value)):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text!r}; {hint}")
        return value

    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}; 400 is a good start")
    return value


def _add_power(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "power",
        help="how many paired cases a regression gate needs to catch a given drop",
        description=(
            "Size a paired regression gate (judges.stats.regression_test): the number of cases judged in "
            "both the baseline and the new run so that a true mean drop of --drop fails the gate with "
            "probability --power, by the one-sided test at level --alpha that tolerates drops up to "
            "--max-drop. Normal approximation; --simulate checks it by simulation."
        ),
        epilog=(
            "--sd is the standard deviation of the per-case difference new - old, not of the scores: "
            "for scores of sd s whose two runs correlate with rho it is s * sqrt(2 * (1 - rho)); "
            "estimate it from two runs of the suite. "
            "Example: python -m judges power --drop 0.3 --sd 0.8 --max-drop 0.05 --simulate"
        ),
    )
    p.add_argument(
        "--drop",
        required=True,
        type=_number(lambda v: v > 0, "a number > 0", "the mean drop to catch in score units, e.g. 0.3"),
        help="true mean drop (old - new, in score units) the gate must catch, e.g. 0.3 on a 1-5 scale",
    )
    p.add_argument(
        "--sd",
        required=True,
        type=_number(lambda v: v > 0, "a number > 0", "the standard deviation of new - old per case"),
        help="standard deviation of the per-case difference new - old (see below)",
    )
    p.add_argument(
        "--max-drop",
        default=0.0,
        type=_number(lambda v: v >= 0, "a number >= 0", "use 0 to tolerate no drop at all"),
        help="largest drop the gate tolerates (the margin; default %(default)s)",
    )
    p.add_argument(
        "--alpha",
        default=0.05,
        type=_number(lambda v: 0 < v < 1, "a number between 0 and 1", "0.05 is the usual choice"),
        help="false-alarm rate at the margin (default %(default)s)",
    )
    p.add_argument(
        "--power",
        default=0.8,
        type=_number(lambda v: 0 < v < 1, "a number between 0 and 1", "0.8 is the usual choice"),
        help="probability of catching a drop of --drop (default %(default)s)",
    )
    p.add_argument(
        "--simulate",
        action="store_true",
        help="also simulate the gate at the computed n: detection rate and false-alarm rates",
    )
    p.add_argument("--runs", default=400, type=_positive_int, help="simulated suites (default %(default)s)")
    p.add_argument("--seed", default=0, type=int, help="seed of the simulation (default %(default)s)")
    p.add_argument(
        "--method",
        default="permutation",
        choices=["permutation", "t"],
        help="test the simulated gate uses (default %(default)s; t is faster)",
    )
    p.set_defaults(run=_run_power, parser=p)


def _run_power(args: argparse.Namespace) -> int:
    if args.drop <= args.max_drop:
        args.parser.error(
            f"--drop {args.drop:g} must exceed --max-drop {args.max_drop:g}: a drop within the margin never "
            "fails the gate; raise --drop or lower --max-drop"
        )
    n = sample_size_for_drop(args.drop, args.sd, max_drop=args.max_drop, alpha=args.alpha, power=args.power)
    print(f"needed: {n} paired cases")
    print(
        f"  to catch a true mean drop of {args.drop:g} with power {args.power:g} "
        f"(one-sided test, alpha {args.alpha:g}, tolerated drop --max-drop {args.max_drop:g}),"
    )
    print(f"  given sd {args.sd:g} of the per-case difference new - old (normal approximation)")
    if not args.simulate:
        return 0

    score_sd = args.sd / math.sqrt(2 * (1 - _RHO))

    def rate(true_drop: float) -> str:
        r = simulate_gate(
            n=n,
            true_drop=true_drop,
            sd=score_sd,
            rho=_RHO,
            max_drop=args.max_drop,
            alpha=args.alpha,
            runs=args.runs,
            seed=args.seed,
            method=args.method,
        )
        # binomial simulation error, never printed as exactly zero
        err = 2 * math.sqrt(max(r * (1 - r), 1 / args.runs) / args.runs)
        return f"{r:.3f} +- {err:.3f} ({round(r * args.runs)}/{args.runs})"

    print(
        f"simulated: {args.runs} suites of {n} cases, {args.method} test; scores bivariate normal, "
        f"sd {score_sd:g}, correlation {_RHO:g} between runs"
    )
    rows = [(f"caught, true drop {args.drop:g}", rate(args.drop), f"target {args.power:g}")]
    if args.max_drop > 0:
        rows.append(("false alarms, no change", rate(0.0), f"below alpha {args.alpha:g}"))
        margin = f"false alarms, true drop = margin {args.max_drop:g}"
        rows.append((margin, rate(args.max_drop), f"about alpha {args.alpha:g}"))
    else:
        rows.append(("false alarms, no change (= the margin)", rate(0.0), f"about alpha {args.alpha:g}"))
    width = max(len(label) for label, _, _ in rows)
    for label, value, note in rows:
        print(f"  {label + ':':<{width + 1}}  {value}  ({note})")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m judges", description="Tools of the judges library.")
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    _add_power(subparsers)
    add_meta_eval(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (argparse exits 2 on a bad value)."""
    args = _build_parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
