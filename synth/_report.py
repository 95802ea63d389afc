"""The report of a generated set: is it valid, distinct, balanced and critic-approved, in numbers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SkippedInput(BaseModel):
    """An input (or part of one) that gave no row, and why."""

    model_config = ConfigDict(frozen=True)
    source: str
    reason: str


class RejectedCandidate(BaseModel):
    """A candidate the filters dropped: which step, why, and the raw reply for a parse failure."""

    model_config = ConfigDict(frozen=True)
    source: str
    evolution: str
    step: str  # "parse", "critic", "duplicate", "balance", "provider"
    reason: str
    raw: str = ""


class SynthReport(BaseModel):
    """Figures for one generated set (the issue's list, plus what was skipped and why)."""

    model_config = ConfigDict(frozen=True)
    generator: str
    model: str
    seed: int
    requested: int
    possible: int  # what the sources could support before filtering
    rows: int
    message: str = ""  # set when fewer rows than requested came out, saying why
    constrained_decoding: bool
    json_replies: int
    json_parsed: int
    json_parse_rate: float | None
    critic_threshold: float | None
    critic_scored: int
    critic_passed: int
    critic_pass_rate: float | None
    dedup_threshold: float
    duplicates_in_set: int
    duplicates_of_golden: int
    near_duplicate_share: float  # rows with a cosine > 0.95 to an earlier row of the set
    per_source: dict[str, int]
    sources_without_rows: list[str]
    max_min_ratio: float | None
    max_ratio_bound: float
    balanced_out: int
    evolution_mix: dict[str, int]
    evolution_target: dict[str, float]
    personas: dict[str, int]
    candidates: int
    model_calls: int
    cache_hits: int
    elapsed_s: float
    skipped_inputs: list[SkippedInput] = []
    rejected: list[RejectedCandidate] = []

    def summary(self) -> str:
        """A few lines for the terminal."""
        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{100 * x:.1f}%"

        ratio = "n/a" if self.max_min_ratio is None else f"{self.max_min_ratio:.2f}"
        lines = [
            (f"rows: {self.rows} of {self.requested} requested ({self.candidates} candidates, {self.elapsed_s:.0f}s, "
            f"{self.model_calls} model calls, {self.cache_hits} cached)"),
            (f"JSON parse rate: {pct(self.json_parse_rate)} ({self.json_parsed}/{self.json_replies}"
            f"{', grammar-constrained' if self.constrained_decoding else ', parse-and-retry'})"),
            (f"critic pass rate: {pct(self.critic_pass_rate)} ({self.critic_passed}/{self.critic_scored}, "
            f"threshold {self.critic_threshold})"),
            (f"near-duplicates (cos > 0.95): {pct(self.near_duplicate_share)}; removed at cos >= "
            f"{self.dedup_threshold:g}: {self.duplicates_in_set} in set, {self.duplicates_of_golden} of golden"),
            (f"sources: {len(self.per_source)} with rows, {len(self.sources_without_rows)} without; max/min "
            f"{ratio} (bound {self.max_ratio_bound:g})"),
            "evolutions: " + ", ".join(f"{k} {v}" for k, v in sorted(self.evolution_mix.items())),
        ]
        if self.skipped_inputs:
            lines.append(f"skipped inputs: {len(self.skipped_inputs)} (see the report file)")
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)
