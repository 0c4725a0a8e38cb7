"""Timing, checking and reporting for ``python -m bench``.

Importing this module imports NumPy, so the thread environment variables
must already be set (``bench.run.main`` does that before importing it).

Method
------
* Every implementation of a workload is first run once and its loss and
  gradients compared with the NumPy baseline's.  Peers that do not match
  are not timed; a minigrad mismatch is timed but marked, and its targets
  count as missed.
* Each implementation gets a batch size (calls per measurement) so that
  one measurement lasts about ``batch_seconds``; a measurement is the mean
  time of one call over its batch.  A full garbage collection runs before
  each round; during measurements the collector stays enabled (unlike
  ``timeit``), because the collections an engine's many small objects
  trigger are part of its real cost.
* Rounds are interleaved: each round measures every implementation once,
  in an order rotated by one position per round, so drifts in machine
  speed hit all implementations alike.  The chain's three workloads
  (k = 1, 16, 64) share their rounds, and the per-op line is fitted round
  by round (median over rounds).  The first ``warmup`` rounds are
  discarded.
* Reported time: median over rounds.  Reported ratio: the median over
  rounds of (implementation time / NumPy baseline time in the same round).
* Clock: with one thread (the default) the process's CPU time
  (``time.process_time``).  For single-threaded work on an idle machine it
  equals wall time, and it leaves out the time the process waits while
  other programs use the cores: on a busy 2-CPU machine, wall-clock
  medians came out up to 5x inflated, CPU-time medians within ~10% of the
  idle figures.  With more threads, wall time (``time.perf_counter``),
  since CPU time would add up every thread's work, spinning included.
  ``--clock wall`` / ``--clock cpu`` override the choice.
"""

import gc
import os
import platform
import sys
import time
import tracemalloc

import numpy as np

from bench import workloads as W

ENV_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

TARGET_ENGINE = "minigrad"


class Config:
    """Run settings; ``quick`` trades precision for a run well under a minute."""

    def __init__(self, quick=False, rounds=None, warmup=None, threads=1, peers=True,
                 memory=True, only=None, batch_seconds=None, max_workload_seconds=None,
                 clock="auto"):
        self.quick = quick
        if clock == "auto":
            clock = "cpu" if threads == 1 else "wall"
        if clock not in CLOCKS:
            raise ValueError(f"clock must be 'auto' or one of {sorted(CLOCKS)}, got {clock!r}")
        self.clock = clock
        self.rounds = rounds if rounds is not None else (7 if quick else 25)
        self.warmup = warmup if warmup is not None else (2 if quick else 5)
        self.batch_seconds = batch_seconds if batch_seconds is not None else (
            0.002 if quick else 0.01)
        # Stop adding rounds to a workload past this budget (at least
        # MIN_ROUNDS measured rounds are always taken).
        self.max_workload_seconds = max_workload_seconds if max_workload_seconds is not None \
            else (4.0 if quick else 60.0)
        self.threads = threads
        self.peers = peers
        self.memory = memory
        self.only = [s.lower() for s in (only or [])]


MIN_ROUNDS = 3

CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK_NAMES = {"cpu": "process CPU time", "wall": "wall time"}


class ImplResult:
    def __init__(self, name):
        self.name = name
        self.status = "ok"       # ok | mismatch | error | unavailable
        self.detail = ""
        self.times = []          # seconds per call, one per measured round
        self.ratios = []         # per-round ratio to the baseline
        self.batch = 0
        self.fn = None

    @property
    def timed(self):
        return bool(self.times)

    @property
    def median_us(self):
        return 1e6 * float(np.median(self.times)) if self.times else None

    @property
    def ratio(self):
        return float(np.median(self.ratios)) if self.ratios else None


# ---------------------------------------------------------------------------
# checking
# ---------------------------------------------------------------------------

def tolerances(dtype):
    """(rtol, atol factor) for comparing gradients computed in ``dtype``."""
    if np.dtype(dtype) == np.float32:
        return 2e-3, 1e-4
    return 1e-6, 1e-9


def compare(result, reference, dtype, check_dtype):
    """Compare ``(loss, grads)`` with the baseline's; return '' or a reason."""
    loss, grads = result
    ref_loss, ref_grads = reference
    grads = tuple(grads)
    if len(grads) != len(ref_grads):
        return f"{len(grads)} gradients, expected {len(ref_grads)}"
    rtol, atol_f = tolerances(dtype)
    # Some gradients are exactly zero in exact arithmetic (e.g. the key bias
    # in attention: softmax ignores a per-row shift), so the absolute
    # tolerance also scales with the largest gradient of the workload.
    global_scale = max(float(np.max(np.abs(g))) for g in ref_grads)
    loss = np.asarray(loss)
    if not np.isclose(float(loss), float(ref_loss), rtol=rtol,
                      atol=atol_f * max(1.0, abs(float(ref_loss)))):
        return f"loss {float(loss):.6g} != {float(ref_loss):.6g}"
    for i, (g, r) in enumerate(zip(grads, ref_grads)):
        g = np.asarray(g)
        if g.shape != r.shape:
            return f"grad #{i} shape {g.shape} != {r.shape}"
        scale = max(float(np.max(np.abs(r))), 1e-3 * global_scale)
        if not np.all(np.isfinite(g)):
            return f"grad #{i} has non-finite values"
        if not np.allclose(g, r, rtol=rtol, atol=atol_f * scale):
            err = float(np.max(np.abs(g - r))) / scale
            return f"grad #{i} off by {err:.2g} (relative to its max)"
        if check_dtype and g.dtype != np.dtype(dtype):
            return f"grad #{i} is {g.dtype}, expected {np.dtype(dtype)}"
    if check_dtype and loss.dtype != np.dtype(dtype):
        return f"loss is {loss.dtype}, expected {np.dtype(dtype)}"
    return ""


def _short(exc):
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")
    return text if len(text) <= 140 else text[:137] + "..."


def prepare(wl, log):
    """Build and check every implementation of ``wl``; return {name: ImplResult}."""
    results = {}
    reference = None
    for name, factory in wl.factories.items():
        res = ImplResult(name)
        results[name] = res
        try:
            fn = factory(wl)
            out = fn()
        except W.Unavailable as exc:
            res.status, res.detail = "unavailable", str(exc)
        except Exception as exc:  # report, never crash the run
            res.status, res.detail = "error", _short(exc)
        else:
            if name == "numpy":
                reference = out
                res.fn = fn
            elif reference is None:
                res.status, res.detail = "error", "no baseline result to compare with"
            else:
                reason = compare(out, reference, wl.dtype,
                                 check_dtype=name.startswith(TARGET_ENGINE))
                res.fn = fn
                if reason:
                    res.status, res.detail = "mismatch", reason
        if res.status != "ok":
            log(f"  {wl.key}: {name}: {res.status}: {res.detail}")
    # Only minigrad is timed despite a mismatch (marked in the report).
    for res in results.values():
        if res.status == "mismatch" and not res.name.startswith(TARGET_ENGINE):
            res.fn = None
    return results


# ---------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------

def _time_batch(fn, n, clock=time.perf_counter):
    t0 = clock()
    for _ in range(n):
        fn()
    return (clock() - t0) / n


def _calibrate(fn, batch_seconds):
    fn()
    single = min(_time_batch(fn, 1) for _ in range(3))
    return max(1, min(100000, int(batch_seconds / max(single, 1e-7))))


def time_workloads(group, cfg, log):
    """Time a group of workloads together, round by round.

    ``group`` is a list of ``(workload, results)``.  Each round measures every
    implementation of every workload in the group once, so the workloads of
    one group (the chain's k = 1, 16, 64) are compared at the same moment,
    whatever the machine's speed does in between; and every round is kept
    for all of them or for none, so round i means the same moment everywhere.
    """
    timed = []
    for wl, results in group:
        base = results.get("numpy")
        if base is None or base.fn is None:
            continue
        for r in results.values():
            if r.fn is None:
                continue
            try:
                r.batch = _calibrate(r.fn, cfg.batch_seconds)
            except Exception as exc:
                r.status, r.detail, r.fn = "error", _short(exc), None
        impls = [r for r in results.values() if r.fn is not None]
        if impls:
            timed.append((wl, results, impls))
    start = time.perf_counter()
    for rnd in range(cfg.warmup + cfg.rounds):
        gc.collect()
        for wl, results, impls in timed:
            shift = rnd % len(impls)
            round_times = {}
            for r in impls[shift:] + impls[:shift]:
                if r.fn is None:
                    continue
                try:
                    round_times[r.name] = _time_batch(r.fn, r.batch, CLOCKS[cfg.clock])
                except Exception as exc:
                    r.status, r.detail, r.fn = "error", _short(exc), None
            if rnd >= cfg.warmup:
                t_base = round_times.get("numpy")
                for name, t in round_times.items():
                    results[name].times.append(t)
                    if t_base:
                        results[name].ratios.append(t / t_base)
        measured = rnd - cfg.warmup + 1
        if measured >= MIN_ROUNDS and time.perf_counter() - start > cfg.max_workload_seconds * len(timed):
            log(f"  {', '.join(wl.key for wl, _, _ in timed)}: time budget reached after {measured} rounds")
            break


def peak_memory_bytes(fn):
    """Peak traced allocation (bytes) during one call, above what was live before."""
    fn()                      # warm-up: lazy imports, caches
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del out
    finally:
        tracemalloc.stop()
    return peak - base


# ---------------------------------------------------------------------------
# machine description
# ---------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def blas_description():
    parts = []
    try:
        cfg = np.show_config(mode="dicts")           # NumPy >= 1.26
        blas = cfg["Build Dependencies"]["blas"]
        parts.append(f"{blas.get('name', '?')} {blas.get('version', '')}".strip())
    except Exception:
        try:                                          # older NumPy (distutils build info)
            for section in ("blas_opt_info", "blas_ilp64_opt_info", "openblas64__info",
                            "openblas_info", "blas_mkl_info", "accelerate_info"):
                libs = (np.__config__.get_info(section) or {}).get("libraries")
                if libs:
                    parts.append(f"{','.join(dict.fromkeys(libs))} ({section})")
                    break
        except Exception:
            pass
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                parts.append(f"runtime: {pool.get('internal_api')} {pool.get('version')}, "
                             f"{pool.get('num_threads')} thread(s), "
                             f"kernel {pool.get('architecture')}")
    except Exception:
        pass
    return "; ".join(parts) or "unknown"


def load_average():
    """(text, 1-minute load or None)."""
    try:
        loads = os.getloadavg()
    except (AttributeError, OSError):
        return "unknown", None
    return " ".join(f"{v:.2f}" for v in loads) + " (1, 5, 15 min)", loads[0]


def peer_versions():
    from importlib import metadata
    out = []
    for name in W.PEERS:
        try:
            mod = __import__(name)
        except Exception:
            out.append(f"{name}: not installed")
            continue
        version = getattr(mod, "__version__", None)
        if version is None:
            try:
                version = metadata.version(name)
            except Exception:
                version = "?"
        out.append(f"{name} {version}")
    return ", ".join(out)


# ---------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------

def impl_order(name):
    """Sort key: baseline, engine, then peers."""
    order = ("numpy", TARGET_ENGINE, TARGET_ENGINE + "[ops]") + W.FLOORS + W.PEERS
    return (order.index(name) if name in order else len(order), name)


def fmt_us(v):
    if v is None:
        return "-"
    if v < 100:
        return f"{v:.2f}"
    if v < 10000:
        return f"{v:.1f}"
    return f"{v:,.0f}"


def fmt_ratio(v):
    return "-" if v is None else f"{v:.2f}x"


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def status_text(res):
    if res.status == "ok":
        return "ok"
    if res.status == "mismatch":
        return f"**MISMATCH**: {res.detail}"
    if res.status == "unavailable":
        return res.detail
    return f"**error**: {res.detail}"


# ---------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------

def _verdict(value, goal, kind):
    if value is None:
        return None
    ok = value <= goal if kind == "<=" else value >= goal
    return "met" if ok else "**missed**"


def evaluate_targets(all_results, chain_fit, memory, f32_speedup):
    rows = []

    def engine(key, name=TARGET_ENGINE):
        return all_results.get(key, {}).get(name)

    def add(label, goal_text, value_text, verdict):
        rows.append((label, goal_text, value_text, verdict))

    def ratio_target(key, goal):
        res = engine(key)
        if res is None:
            return add(f"{key} vs NumPy", f"<= {goal}x", "-", "n/a (not run)")
        if res.status in ("unavailable", "error"):
            return add(f"{key} vs NumPy", f"<= {goal}x", "-",
                       res.detail if res.status == "unavailable"
                       else f"**error** ({res.detail})")
        verdict = _verdict(res.ratio, goal, "<=") or "n/a"
        if res.status == "mismatch":
            verdict = "**missed** (gradients wrong)"
        add(f"{key} vs NumPy", f"<= {goal}x", fmt_ratio(res.ratio), verdict)

    fit = chain_fit.get(TARGET_ENGINE)
    if fit is None or fit.get("error"):
        why = fit.get("error") if fit else "not run"
        add("chain: cost per extra op", "<= 4 µs", "-", f"n/a ({why})")
        add("chain: cost per extra op vs NumPy's", "<= 2.5x", "-", f"n/a ({why})")
        add("chain: fixed cost per backward", "<= 20 µs", "-", f"n/a ({why})")
    else:
        bad = " (gradients wrong)" if fit.get("mismatch") else ""
        add("chain: cost per extra op", "<= 4 µs", f"{fit['slope']:.2f} µs",
            (_verdict(fit["slope"], 4.0, "<=") if not bad else "**missed**") + bad)
        per_op = fit.get("slope_ratio")
        add("chain: cost per extra op vs NumPy's", "<= 2.5x", fmt_ratio(per_op) if per_op is not None else "-",
            ((_verdict(per_op, 2.5, "<=") or "n/a (NumPy not timed)") if not bad else "**missed**") + bad)
        add("chain: fixed cost per backward", "<= 20 µs", f"{fit['intercept']:.2f} µs",
            (_verdict(fit["intercept"], 20.0, "<=") if not bad else "**missed**") + bad)

    ratio_target(W.W0_KEY, 3)
    mg0, th0 = engine(W.W0_KEY), engine(W.W0_KEY, "torch")
    if th0 is None or th0.status == "unavailable" or not th0.timed:
        add("W0: minigrad faster than torch", ">= 2x", "-",
            "n/a (torch " + (th0.detail if th0 is not None and th0.detail else "not run") + ")")
    elif mg0 is None or not mg0.timed:
        add("W0: minigrad faster than torch", ">= 2x", "-", "n/a (minigrad not timed)")
    else:
        speedup = th0.median_us / mg0.median_us
        verdict = _verdict(speedup, 2.0, ">=")
        if mg0.status == "mismatch":
            verdict = "**missed** (gradients wrong)"
        add("W0: minigrad faster than torch", ">= 2x", f"{speedup:.2f}x", verdict)

    for shape in W.W1_SIZES:
        goal = 2.5 if shape == (1, 8, 16) else 1.15
        for dtype in W.W1_DTYPES:
            ratio_target(W.w1_key(shape, dtype), goal)
    ratio_target(W.W2_KEY, 1.15)

    if memory is None:
        add(f"peak memory {W.w1_key(W.MEMORY_SIZE, np.float64)}", "<= 1.6x NumPy", "-",
            "n/a (skipped)")
    else:
        m = memory.get(TARGET_ENGINE)
        base = memory.get("numpy")
        if isinstance(m, (int, float)) and isinstance(base, (int, float)) and base > 0:
            add(f"peak memory {W.w1_key(W.MEMORY_SIZE, np.float64)}", "<= 1.6x NumPy",
                f"{m / base:.2f}x", _verdict(m / base, 1.6, "<="))
        else:
            add(f"peak memory {W.w1_key(W.MEMORY_SIZE, np.float64)}", "<= 1.6x NumPy", "-",
                f"n/a ({m if isinstance(m, str) else 'not measured'})")

    if f32_speedup.get(TARGET_ENGINE) is None:
        add("W1 (8,256,64): float32 faster than float64", ">= 1.8x", "-", "n/a (not timed)")
    else:
        v = f32_speedup[TARGET_ENGINE]
        add("W1 (8,256,64): float32 faster than float64", ">= 1.8x", f"{v:.2f}x",
            _verdict(v, 1.8, ">="))
    return rows


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------

def fit_chain(all_results):
    """Least-squares line t(k) = intercept + slope * k per implementation (µs).

    The chain workloads are timed in the same rounds (see ``time_workloads``),
    so a line is fitted through each round's three times, taken moments
    apart, and the medians over rounds of slope and intercept are reported:
    a slow spell of the machine then moves one round's line, not the fit.
    """
    fits = {}
    keys = [W.chain_key(k) for k in W.CHAIN_KS]
    names = set()
    for key in keys:
        names.update(all_results.get(key, {}).keys())
    for name in sorted(names, key=impl_order):
        runs, mismatch, problem = [], False, None
        for key in keys:
            res = all_results.get(key, {}).get(name)
            if res is None or not res.timed:
                problem = (res.detail if res is not None and res.detail else "not timed")
                break
            mismatch |= res.status == "mismatch"
            runs.append(res.times)
        if problem is not None or len(runs) < 2:
            fits[name] = {"error": problem or "not enough points"}
            continue
        n_rounds = min(len(times) for times in runs)  # equal unless an implementation failed mid-run
        ks = np.array(W.CHAIN_KS[:len(runs)], dtype=float)
        lines = [np.polyfit(ks, [1e6 * times[i] for times in runs], 1) for i in range(n_rounds)]
        slopes, intercepts = zip(*lines)
        fits[name] = {"slope": float(np.median(slopes)), "intercept": float(np.median(intercepts)),
                      "mismatch": mismatch, "slopes": slopes}
    # Per op, as a multiple of NumPy's per-op cost in the same round: steadier than the µs.
    base = fits.get("numpy", {}).get("slopes")
    for fit in fits.values():
        if base and fit.get("slopes"):
            fit["slope_ratio"] = float(np.median([s / b for s, b in zip(fit["slopes"], base)]))
    return fits


def measure_memory(cfg, log):
    key = W.w1_key(W.MEMORY_SIZE, np.float64)
    arrays = W.w1_inputs(*W.MEMORY_SIZE, np.float64)
    wl = W.Workload(key, "w1", arrays, {"threads": cfg.threads, "shape": W.MEMORY_SIZE},
                    {"numpy": W.numpy_w1, "minigrad": W.minigrad_w1,
                     "minigrad[ops]": W.minigrad_w1_ops,
                     "autograd": W.autograd_w1, "mygrad": W.mygrad_w1}, np.float64)
    if not cfg.peers:
        wl.factories = {k: v for k, v in wl.factories.items() if k not in W.PEERS}
    out = {}
    for name, factory in wl.factories.items():
        try:
            out[name] = peak_memory_bytes(factory(wl))
        except W.Unavailable as exc:
            out[name] = str(exc)
        except Exception as exc:
            out[name] = f"error: {_short(exc)}"
            log(f"  memory: {name}: {out[name]}")
    if cfg.peers:
        out["torch"] = "n/a (torch allocations are not seen by tracemalloc)"
    return out


def selected(wl, cfg):
    return not cfg.only or any(s in wl.key.lower() for s in cfg.only)


def run(cfg, log=None, thread_note=""):
    """Run the benchmark; return the markdown report as a string."""
    if log is None:
        def log(msg):
            print(msg, file=sys.stderr, flush=True)
    t_start = time.perf_counter()
    load_before = load_average()
    workloads = [wl for wl in W.build_workloads(cfg.threads, cfg.peers) if selected(wl, cfg)]
    all_results = {}
    chain = [wl for wl in workloads if wl.kind == "chain"]
    groups = []  # in report order, the chain's workloads together where the first of them stands
    for wl in workloads:
        if wl.kind != "chain":
            groups.append([wl])
        elif wl is chain[0]:
            groups.append(chain)
    for group in groups:
        timed = []
        for wl in group:
            log(f"{wl.key} ...")
            all_results[wl.key] = prepare(wl, log)
            timed.append((wl, all_results[wl.key]))
        time_workloads(timed, cfg, log)
    all_results = {wl.key: all_results[wl.key] for wl in workloads}  # report order

    chain_fit = fit_chain(all_results)
    memory = None
    mem_key = W.w1_key(W.MEMORY_SIZE, np.float64)
    if cfg.memory and (not cfg.only or any(s in mem_key.lower() or s == "memory"
                                           for s in cfg.only)):
        log("peak memory ...")
        memory = measure_memory(cfg, log)

    f32_speedup = {}
    k64 = W.w1_key((8, 256, 64), np.float64)
    k32 = W.w1_key((8, 256, 64), np.float32)
    for name in set(all_results.get(k64, {})) & set(all_results.get(k32, {})):
        r64, r32 = all_results[k64][name], all_results[k32][name]
        if r64.timed and r32.timed:
            f32_speedup[name] = r64.median_us / r32.median_us

    elapsed = time.perf_counter() - t_start
    return render(cfg, workloads, all_results, chain_fit, memory, f32_speedup, elapsed,
                  thread_note, (load_before, load_average()))


def render(cfg, workloads, all_results, chain_fit, memory, f32_speedup, elapsed, thread_note,
           loads=(("unknown", None), ("unknown", None))):
    out = ["# minigrad benchmark", ""]
    env = ", ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in ENV_THREAD_VARS)
    machine = [
        ("CPU", f"{cpu_model()} ({os.cpu_count()} logical CPUs)"),
        ("Python", platform.python_version()),
        ("NumPy", np.__version__),
        ("BLAS", blas_description()),
        ("threads", f"{cfg.threads} ({env}){thread_note}"),
        ("peers", peer_versions() if cfg.peers else "disabled (--no-peers)"),
        ("load average", f"before: {loads[0][0]}; after: {loads[1][0]}"),
        ("mode", (f"{'quick' if cfg.quick else 'full'}: {cfg.warmup} warm-up + up to "
                  f"{cfg.rounds} measured rounds, ~{cfg.batch_seconds * 1e3:g} ms per "
                  f"measurement, {CLOCK_NAMES[cfg.clock]}; run took {elapsed:.1f} s")),
    ]
    out += ["## Machine", "", md_table(["", ""], machine), ""]
    busy = loads[0][1]
    if busy is not None and busy >= max(1.0, (os.cpu_count() or 1) / 2):
        out += [f"**Warning: the machine was busy before the run (1-minute load {busy:.2f} on "
                f"{os.cpu_count()} logical CPUs). Other programs distort the figures (wall-clock "
                "times most, CPU times and ratios less): rerun on an idle machine to be sure.**",
                ""]

    out += ["## Results", "",
            ("One step = forward + backward, from NumPy inputs to NumPy gradients of every "
             "input. µs: median over rounds. x NumPy: median over rounds of the time divided "
             "by the hand-written NumPy baseline's time in the same round."), ""]
    rows = []
    for wl in workloads:
        for name, res in all_results[wl.key].items():
            rounds = len(res.times)
            rows.append((wl.key, name + (" (info)" if name in wl.info_only else ""),
                         fmt_us(res.median_us),
                         fmt_ratio(res.ratio) if name != "numpy" else "1.00x",
                         rounds or "-", status_text(res)))
    out += [md_table(["workload", "implementation", "µs", "x NumPy", "rounds", "check"], rows),
            ""]

    if chain_fit:
        ks = ", ".join(map(str, W.CHAIN_KS))
        out += ["## Chain: per-operation cost", "",
                (f"Least-squares line through the chain times for k = {ks}: intercept = "
                 "fixed cost of one forward+backward, slope = cost of one more multiply "
                 "(forward and backward); one line per round, medians over rounds. \"per op, x "
                 "NumPy\" divides the cost per op by NumPy's in the same round."), ""]
        rows = []
        for name, fit in chain_fit.items():
            if fit.get("error"):
                rows.append((name, "-", "-", "-", fit["error"]))
            else:
                ratio = fit.get("slope_ratio")
                rows.append((name, f"{fit['intercept']:.2f}", f"{fit['slope']:.2f}",
                             fmt_ratio(ratio) if ratio is not None else "-",
                             "**MISMATCH**" if fit["mismatch"] else ""))
        out += [md_table(["implementation", "fixed cost per backward (µs)",
                          "cost per extra op (µs)", "per op, x NumPy", "note"], rows), ""]

    if memory is not None:
        out += ["## Peak memory", "",
                (f"One {W.w1_key(W.MEMORY_SIZE, np.float64)} step, traced with tracemalloc "
                 "(includes the returned gradients)."), ""]
        base = memory.get("numpy")
        rows = []
        for name, v in memory.items():
            if isinstance(v, (int, float)):
                ratio = f"{v / base:.2f}x" if isinstance(base, (int, float)) and base else "-"
                rows.append((name, f"{v / 2**20:.1f}", ratio))
            else:
                rows.append((name, "-", v))
        out += [md_table(["implementation", "peak MiB", "x NumPy"], rows), ""]

    if f32_speedup:
        names = sorted(f32_speedup, key=impl_order)
        out += ["## float32 vs float64 (W1 (8,256,64))", "",
                md_table(["implementation", "float64 time / float32 time"],
                         [(n, f"{f32_speedup[n]:.2f}x") for n in names]), ""]

    out += ["## Targets (minigrad)", "",
            md_table(["target", "goal", "measured", "status"],
                     evaluate_targets(all_results, chain_fit, memory, f32_speedup)), ""]
    return "\n".join(out)
