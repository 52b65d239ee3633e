"""Run one benchmark against this tree and an earlier commit, alternately, in one run.

    .venv/bin/python bench/compare.py --baseline fe2c871 allocation -- --repeats 1
    .venv/bin/python bench/compare.py --baseline HEAD~1 --rounds 3 ingest -- --repeats 3
    .venv/bin/python bench/compare.py --baseline fe2c871 --record reconcile -- --runs 1

The earlier commit is checked out once into a temporary git worktree, and this tree's
bench/ (scripts, wrk script, raw reference) is copied over its own, so both sides run
the same benchmark code against their own app. Rounds alternate which side goes first
(this VM drifts over minutes; only side-by-side figures compare). Each round runs
`bench/<name>.py <args> --json FILE` on each side; the table shows the median of each
headline figure over the rounds and the ratio this tree ÷ the earlier commit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
BENCHES = ("allocation", "ingest", "reconcile")


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def baseline_tree(rev: str, work: Path) -> Path:
    """The commit's files in a detached worktree, with this tree's bench/ copied in."""
    tree = work / f"baseline-{git('rev-parse', '--short', rev)}"
    git("worktree", "add", "--detach", "--force", str(tree), rev)
    for path in BENCH.iterdir():
        if path.name in ("RESULTS.md", "__pycache__"):
            continue
        target = tree / "bench" / path.name
        if path.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, target)
    return tree


def run_side(tree: Path, name: str, args: list[str], out: Path) -> dict[str, float]:
    cmd = [sys.executable, str(tree / "bench" / f"{name}.py"), *args, "--json", str(out)]
    print(f"$ ({tree}) {' '.join(cmd[1:])}", flush=True)
    done = subprocess.run(cmd, cwd=tree, check=False)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"{name} failed on {tree} (exit {done.returncode})")
    figures: dict[str, float] = json.loads(out.read_text())
    out.unlink()
    return figures


def table(rev: str, head: str, results: dict[str, list[dict[str, float]]]) -> str:
    lines = [
        f"| figure | {rev} (median) | {head} (median) | {head} ÷ {rev} | each round ({rev} / {head}) |",
        "|---|---|---|---|---|",
    ]
    for key in results["baseline"][0]:
        before = [r[key] for r in results["baseline"]]
        after = [r[key] for r in results["current"]]
        b, a = statistics.median(before), statistics.median(after)
        rounds = ", ".join(f"{x:.2f} / {y:.2f}" for x, y in zip(before, after, strict=True))
        lines.append(f"| {key} | {b:.2f} | {a:.2f} | {a / b if b else 0:.2f} | {rounds} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, help="the earlier commit")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("bench", choices=BENCHES)
    parser.add_argument("args", nargs=argparse.REMAINDER, help="after --: the bench's options")
    args = parser.parse_args()
    bench_args = [a for a in args.args if a != "--"]
    rev = git("rev-parse", "--short", args.baseline)
    head = git("rev-parse", "--short", "HEAD") + (
        "+changes" if git("status", "--porcelain") else ""
    )
    work = Path(tempfile.mkdtemp(prefix="sm-bench-compare-"))
    load_before = os.getloadavg()
    results: dict[str, list[dict[str, float]]] = {"baseline": [], "current": []}
    try:
        trees = {"baseline": baseline_tree(args.baseline, work), "current": ROOT}
        for r in range(args.rounds):
            order = ("baseline", "current") if r % 2 == 0 else ("current", "baseline")
            for side in order:
                figures = run_side(trees[side], args.bench, bench_args, work / "figures.json")
                results[side].append(figures)
                print(f"round {r + 1} {side}: {figures}", flush=True)
    finally:
        remove = ["git", "worktree", "remove", "--force", str(work / f"baseline-{rev}")]
        subprocess.run(remove, cwd=ROOT, capture_output=True, check=False)  # if it was made
        shutil.rmtree(work, ignore_errors=True)
    summary = table(rev, head, results)
    load_after = os.getloadavg()
    print()
    print(summary)
    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with (BENCH / "RESULTS.md").open("a") as out:
            out.write(
                f"\n### {args.bench}: {head} against {rev} — {stamp}\n\n"
                f"`bench/compare.py --baseline {args.baseline} --rounds {args.rounds} "
                f"{args.bench} -- {' '.join(bench_args)}`; {os.cpu_count()} cores, load average "
                f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; sides alternate "
                f"which goes first.\n\n{summary}\n"
            )


if __name__ == "__main__":
    main()
