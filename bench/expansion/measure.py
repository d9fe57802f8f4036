#!/usr/bin/env python3
"""What `#[derive(Model)]` costs to compile, per model.

Generates a crate of N models (default 40) twice: once with serde's derives
alone (the baseline every model has anyway) and once with `#[derive(Model)]`
added. For each it reports

- the expanded code (`-Zunpretty=expanded`, non-blank lines and bytes);
- the instructions rustc executes to build the crate (callgrind, when
  valgrind is installed: the figure that load does not move);
- rustc's wall and CPU time for the crate, its dependencies built (the
  command `cargo build` runs, non-incremental, dev profile; median of
  --runs, the two crates alternating);

and the difference per model. Run from anywhere:

    python3 bench/expansion/measure.py [--models 40] [--runs 9]

With `--build-override-opt 3 --work target/expansion-o3` the proc macros
are built optimized (`[profile.dev.build-override] opt-level = 3`), to
see what that setting saves on every later build.

The first run builds the dependencies once into --work.
"""

import argparse
import os
import re
import shlex
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def model_source(i: int, derive_model: bool) -> str:
    derives = "Model, Serialize, Deserialize" if derive_model else "Serialize, Deserialize"
    attr = f'#[model(collection = "things_{i}", key = id)]\n' if derive_model else ""
    unique = "    #[model(unique)]\n" if derive_model else ""
    return f"""
/// Model {i}.
#[derive({derives})]
{attr}pub struct Thing{i} {{
    /// Key.
    #[serde(rename = "_id")]
    pub id: Uuid,
{unique}    /// Name.
    pub name: String,
    /// Count.
    pub count: Option<i64>,
    /// Tags.
    pub tags: Vec<String>,
    /// Score.
    pub score: f64,
    /// Active.
    pub active: bool,
    /// Created.
    pub created_at: DateTime,
    /// Updated.
    pub updated_at: Option<DateTime>,
}}
"""


def write_crate(root: Path, models: int, derive_model: bool, override_opt: str | None) -> None:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text(
        f"""[package]
name = "expansion-probe"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
model = {{ package = "mongodb-model", path = "{REPO}", default-features = false }}
serde = {{ version = "1", features = ["derive"] }}

[workspace]
"""
        + (f"\n[profile.dev.build-override]\nopt-level = {override_opt}\n" if override_opt else "")
    )
    uses = "use model::{DateTime, Model, Uuid};" if derive_model else "use model::{DateTime, Uuid};"
    body = "".join(model_source(i, derive_model) for i in range(models))
    (root / "src" / "lib.rs").write_text(
        f"//! Generated models.\n#![allow(missing_docs)]\n{uses}\nuse serde::{{Deserialize, Serialize}};\n{body}"
    )
    lock = REPO / "Cargo.lock"
    if lock.exists():
        shutil.copy(lock, root / "Cargo.lock")


def cargo(root: Path, target: Path, *args: str, capture: bool = False) -> str:
    env = dict(os.environ, CARGO_TARGET_DIR=str(target), CARGO_INCREMENTAL="0", RUSTC_BOOTSTRAP="1")
    split = args.index("--") if "--" in args else len(args)
    out = subprocess.run(
        ["cargo", *args[:split], "--offline", *args[split:]],
        cwd=root,
        env=env,
        check=True,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return out.stdout if capture else out.stderr


def rustc_command(root: Path, target: Path) -> list:
    """The rustc command line cargo runs for the probe crate (dependencies built)."""
    (root / "src" / "lib.rs").touch()
    log = cargo(root, target, "build", "--lib", "-v")
    for line in log.splitlines():
        line = line.strip()
        if line.startswith("Running `") and "--crate-name expansion_probe" in line:
            return shlex.split(line[len("Running `") : -1])
    raise SystemExit("cargo did not show the probe crate's rustc command:\n" + log)


def rustc(root: Path, command: list, prefix: tuple = ()) -> tuple:
    """Runs the probe's rustc once: (wall seconds, CPU seconds, stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([*prefix, *command], cwd=root, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"rustc failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr


def instructions(root: Path, command: list) -> int:
    """Instructions rustc executes for the crate, counted by callgrind."""
    _, _, err = rustc(root, command, ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"))
    found = re.search(r"Collected : (\d+)", err)
    if not found:
        raise SystemExit("callgrind reported no count:\n" + err)
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-callgrind", action="store_true", help="skip the instruction counts")
    parser.add_argument("--work", type=Path, default=REPO / "target" / "expansion")
    parser.add_argument(
        "--build-override-opt",
        metavar="LEVEL",
        help="build the proc macros (and build scripts) at this opt-level: "
        "[profile.dev.build-override] in the probe crates; use a --work of its own",
    )
    args = parser.parse_args()
    callgrind = not args.no_callgrind and shutil.which("valgrind") is not None

    target = args.work / "target"
    variants = {"serde only": False, "serde + Model": True}
    commands, results = {}, {}
    for name, derive_model in variants.items():
        root = args.work / name.replace(" ", "").replace("+", "_")
        write_crate(root, args.models, derive_model, args.build_override_opt)
        print(f"{name}: {args.models} models, building dependencies ...", file=sys.stderr)
        commands[name] = (root, rustc_command(root, target))
        expanded = cargo(root, target, "rustc", "--lib", "--quiet", "--", "-Zunpretty=expanded", capture=True)
        lines = sum(1 for line in expanded.splitlines() if line.strip())
        results[name] = {"lines": lines, "bytes": len(expanded), "wall": [], "cpu": []}
        if callgrind:
            print(f"{name}: counting instructions (callgrind) ...", file=sys.stderr)
            results[name]["instructions"] = instructions(*commands[name])
    # Alternate the two crates so drift in the machine's load hits both alike.
    for run in range(args.runs):
        for name, (root, command) in commands.items():
            wall, cpu, _ = rustc(root, command)
            results[name]["wall"].append(wall)
            results[name]["cpu"].append(cpu)
            print(f"  run {run + 1}/{args.runs} {name}: {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU", file=sys.stderr)

    for r in results.values():
        r["wall_ms"] = statistics.median(r["wall"]) * 1000
        r["cpu_ms"] = statistics.median(r["cpu"]) * 1000
    base, full = results["serde only"], results["serde + Model"]
    n = args.models
    profile = "dev profile" + (f", proc macros at opt-level {args.build_override_opt}" if args.build_override_opt else "")
    print(f"\n{n} models; rustc on the crate alone ({profile}, non-incremental), medians of {args.runs} runs\n")
    print("| crate | expanded lines | expanded KiB | rustc instructions | rustc wall | rustc CPU |")
    print("|---|--:|--:|--:|--:|--:|")
    for name, r in results.items():
        count = f"{r['instructions'] / 1e9:,.2f} G" if "instructions" in r else "—"
        print(
            f"| {name} | {r['lines']:,} | {r['bytes'] / 1024:,.0f} | {count} | "
            f"{r['wall_ms']:,.0f} ms | {r['cpu_ms']:,.0f} ms |"
        )
    share = lambda key: (full[key] - base[key]) / n
    grow = lambda key: (full[key] / base[key] - 1) * 100
    print(f"\nModel's share, per model (and over serde alone):")
    print(f"- expanded: {share('lines'):.0f} lines, {share('bytes') / 1024:.1f} KiB (+{grow('lines'):.0f}% lines)")
    if callgrind:
        print(f"- instructions: {share('instructions') / 1e6:.0f} M (+{grow('instructions'):.0f}%)")
    print(f"- wall: {share('wall_ms'):.1f} ms (+{grow('wall_ms'):.0f}%); CPU: {share('cpu_ms'):.1f} ms (+{grow('cpu_ms'):.0f}%)")


if __name__ == "__main__":
    main()
