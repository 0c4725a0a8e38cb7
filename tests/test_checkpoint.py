"""minigrad.save / minigrad.load and the optimizers' state_dict: checkpoints that round-trip
exactly, never unpickle, leave memory alone when a file is bad, and resume training exactly
(in a fresh process, too)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minigrad
from minigrad import nn
from minigrad.optim import SGD, Adam, AdamW, WarmupCosine

ROOT = Path(__file__).resolve().parent.parent


def test_a_nested_dict_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(3)
    state = {"model": {"w": rng.standard_normal((3, 4)).astype(np.float32), "ids": np.arange(5)},
             "step": 300, "lr": 0.1, "tiny": 5e-324, "inf": float("inf"), "flag": True, "nothing": None,
             "note": "한국어 🙂", "rng": rng.bit_generator.state,   # holds 128-bit integers
             "lists": [np.ones(2, np.float16), [1, "two"], []], "empty": {}, "words": np.array(["ab", "c"])}
    path = minigrad.save(state, tmp_path / "ckpt")
    assert path.endswith("ckpt.npz") and os.path.exists(path)
    back = minigrad.load(tmp_path / "ckpt")
    assert back["model"]["w"].dtype == np.float32 and np.array_equal(back["model"]["w"], state["model"]["w"])
    assert back["model"]["ids"].tolist() == [0, 1, 2, 3, 4] and back["model"]["ids"].dtype == np.int64
    assert back["step"] == 300 and type(back["step"]) is int and back["lr"] == 0.1 and back["tiny"] == 5e-324
    assert back["inf"] == float("inf") and back["flag"] is True and back["nothing"] is None
    assert back["note"] == "한국어 🙂" and back["empty"] == {} and back["words"].tolist() == ["ab", "c"]
    assert back["lists"][0].dtype == np.float16 and back["lists"][1:] == [[1, "two"], []]
    restored = np.random.default_rng()
    restored.bit_generator.state = back["rng"]
    assert np.array_equal(restored.random(5), rng.random(5))


def test_save_refuses_what_it_cannot_store_without_pickle(tmp_path):
    with pytest.raises(TypeError, match=r"array at obj\['x'\] has dtype object"):
        minigrad.save({"x": np.array([{}, 1], dtype=object)}, tmp_path / "a")
    with pytest.raises(TypeError, match="dict keys must be str"):
        minigrad.save({"a": {1: 2}}, tmp_path / "a")
    with pytest.raises(TypeError, match=r"cannot save a function at obj\['f'\]"):
        minigrad.save({"f": lambda: 0}, tmp_path / "a")
    with pytest.raises(TypeError, match="expected a dict"):
        minigrad.save([1, 2], tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="no folder .*nowhere"):
        minigrad.save({"a": 1}, tmp_path / "nowhere" / "a")
    assert not any(tmp_path.iterdir()), "a refused save leaves no file behind"


class Payload:
    """Unpickling this object would create a file: the test checks that it never is."""
    marker = None

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_loading_never_unpickles_and_a_bad_file_changes_nothing(tmp_path):
    model = nn.Linear(3, 2, rng=np.random.default_rng(0))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    Payload.marker = str(tmp_path / "code_ran")
    evil = tmp_path / "evil.npz"
    manifest = '{"format": 1, "tree": {"weight": {"__array__": "a0"}, "bias": {"__array__": "a1"}}}'
    np.savez(evil, __minigrad_checkpoint__=np.array(manifest), a0=np.array([Payload()], dtype=object),
             a1=np.zeros(2))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weight=np.zeros((3, 2)))
    damaged = tmp_path / "damaged.npz"
    good = Path(minigrad.save(model.state_dict(), tmp_path / "good"))
    damaged.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    text = tmp_path / "text.npz"
    text.write_text("not a zip file")
    for path, message in [(evil, "cannot be read without pickle"), (foreign, "not a minigrad checkpoint"),
                          (damaged, "damaged or not a minigrad checkpoint"), (text, "damaged")]:
        with pytest.raises(ValueError, match=message):
            model.load_state_dict(minigrad.load(path))
        assert all(np.array_equal(model.state_dict()[k], v) for k, v in before.items())
    assert not os.path.exists(Payload.marker), "loading ran code from the file"
    with pytest.raises(FileNotFoundError, match="no file"):
        minigrad.load(tmp_path / "missing")


def train(model, opt, schedule, batches):
    """Losses of a few steps of a tiny regression, as plain floats."""
    losses = []
    for x, y in batches:
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if schedule is not None:
            schedule.step()
        losses.append(loss.item())
    return losses


def make(optimizer, dtype):
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(4, 8, dtype=dtype, rng=rng), nn.Tanh(), nn.Linear(8, 2, dtype=dtype, rng=rng))
    opt = optimizer(model.parameters())
    return model, opt, WarmupCosine(opt, warmup_steps=2, total_steps=8, min_lr=0.01 * opt.lr)


OPTIMIZERS = {"SGD momentum": lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
              "Adam": lambda ps: Adam(ps, lr=0.05, betas=(0.8, 0.9), weight_decay=1e-3),
              "AdamW": lambda ps: AdamW(ps, lr=0.05, weight_decay=0.1)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_and_schedule_resume_exactly_from_a_saved_file(name, dtype, tmp_path):
    rng = np.random.default_rng(2)
    batches = [(rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal((5, 2)).astype(dtype))
               for _ in range(10)]
    model, opt, schedule = make(OPTIMIZERS[name], dtype)
    straight = train(model, opt, schedule, batches)

    model, opt, schedule = make(OPTIMIZERS[name], dtype)
    first = train(model, opt, schedule, batches[:5])
    minigrad.save({"model": model.state_dict(), "opt": opt.state_dict(), "schedule": schedule.state_dict()},
                  tmp_path / "c")
    model, opt, schedule = make(OPTIMIZERS[name], dtype)          # fresh objects, as after a restart
    saved = minigrad.load(tmp_path / "c")
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["opt"])
    schedule.load_state_dict(saved["schedule"])
    assert first + train(model, opt, schedule, batches[5:]) == straight
    assert all(p.dtype == dtype for p in model.parameters())


def test_optimizer_load_state_dict_checks_everything_before_changing_anything():
    model, opt, _ = make(OPTIMIZERS["Adam"], np.float64)
    state = opt.state_dict()
    assert state["type"] == "Adam" and state["betas"] == (0.8, 0.9) and len(state["state"]["m"]) == 4
    state["state"]["m"][1] = np.zeros((3, 3))
    state["lr"] = 123.0
    with pytest.raises(ValueError, match=r"state 'm' of parameter 1 has shape \(3, 3\), the parameter \(8,\)"):
        opt.load_state_dict(state)
    assert opt.lr != 123.0
    with pytest.raises(ValueError, match="the state is from a Adam, not a SGD"):
        SGD(model.parameters(), lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match="has 4 entries for 2 parameters"):
        Adam(list(model.parameters())[:2]).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="expected a dict from WarmupCosine.state_dict"):
        WarmupCosine(opt, 1, 5).load_state_dict({"steps_done": 3})


RESUME_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import minigrad
    import minigrad.functional as F
    from attention import TinyGPT
    from minigrad.optim import AdamW, WarmupCosine

    steps, save_to, resume_from = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    text = np.frombuffer(b"the quick brown fox jumps over the lazy dog; " * 20, dtype=np.uint8) % 32
    rng, dropout_rng = np.random.default_rng(0), np.random.default_rng(1)   # batches; init and dropout
    model = TinyGPT(vocab_size=32, d_model=16, n_heads=2, n_layers=2, max_len=8, dropout=0.1,
                    dtype=np.float32, rng=dropout_rng)
    opt = AdamW(model.parameters(), lr=3e-3)
    schedule = WarmupCosine(opt, warmup_steps=3, total_steps=12)
    step = 0
    if resume_from != "-":
        saved = minigrad.load(resume_from)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        rng.bit_generator.state = saved["rng"]
        dropout_rng.bit_generator.state = saved["dropout_rng"]
        step = saved["step"]
    for step in range(step + 1, step + steps + 1):
        starts = rng.integers(0, len(text) - 9, 4)
        batch = text[starts[:, None] + np.arange(9)]
        loss = F.cross_entropy(model(batch[:, :-1]), batch[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        print(step, repr(loss.item()))
    if save_to != "-":
        minigrad.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "schedule": schedule.state_dict(),
                       "rng": rng.bit_generator.state, "dropout_rng": dropout_rng.bit_generator.state,
                       "step": step}, save_to)
""")


def test_training_resumed_in_a_fresh_process_prints_the_same_losses(tmp_path):
    script = tmp_path / "resume.py"
    script.write_text(RESUME_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")

    def run(*args):
        done = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=120)
        if done.returncode != 0:   # the child's error, as its own kind (a course copy's stub says which part)
            kind = NotImplementedError if "NotImplementedError" in done.stderr.splitlines()[-1] else RuntimeError
            raise kind(f"the training script failed:\n{done.stderr}")
        return done.stdout.splitlines()

    checkpoint = tmp_path / "half.npz"
    straight = run(10, "-", "-")
    assert len(straight) == 10 and len(set(straight)) == 10
    assert run(5, checkpoint, "-") + run(5, "-", checkpoint) == straight
