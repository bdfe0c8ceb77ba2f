"""NeuPIMs pieces: channel packing, the PIM attention command counts (Alg. 1), layer splitting, composing."""
import math

import pytest

from loomsim.arch import load_arch
from loomsim.designs.compose import Composer
from loomsim.designs.neupims import SYSTEMS, make_system, split_layer
from loomsim.errors import LoomError
from loomsim.mappers import Program, VectorOp
from loomsim.mappers.pim_attention import ChannelPacker, PimAttention, attention_tasks
from loomsim.workloads.model import decode
from loomsim.workloads.zoo import get_model


def test_greedy_min_load_packing_keeps_channels_balanced_and_sticky():
    p = ChannelPacker(4)
    where = p.assign([(0, 900), (1, 100), (2, 500), (3, 400), (4, 300)])
    loads = [sum(c for r, c in [(0, 900), (1, 100), (2, 500), (3, 400), (4, 300)] if where[r] == ch) for ch in range(4)]
    assert sorted(loads) == [400, 400, 500, 900]          # longest first onto the least loaded channel
    again = p.assign([(0, 901), (2, 501), (5, 50)])       # 1, 3, 4 left; 0 and 2 stay; 5 joins the lightest
    assert again[0] == where[0] and again[2] == where[2] and again[5] not in (where[0], where[2])


@pytest.fixture(scope="module")
def pim():
    dev = load_arch("neupims")["hbm"].device()
    return PimAttention(dev, "hbm", "sram", "hbm->sram", "vu", heads=8, head_dim=128)


@pytest.mark.parametrize("keys", [1, 31, 32, 300, 513, 1024])
def test_command_counts_follow_neupims_algorithm_1(pim, keys):
    tasks, ends = attention_tasks(pim, [(7, 3, keys)], 0)
    qk, av = [t for t in tasks if t.kind == "pim"]
    E, page, banks = 8 * 128, 512, 32
    chunks, tiles, spans = math.ceil(E / page), math.ceil(keys / banks), math.ceil(keys / page)

    def count(bundle, op):
        return sum(s.count for s in bundle.steps if s.op == op)
    # scores: E/page GWRITEs; (keys/32)(E/page) tiles; per tile 4 heads x 8 COMPs and a read-out each
    assert count(qk.bundle, "gwrite") == chunks
    assert count(qk.bundle, "pre") == chunks * tiles
    assert count(qk.bundle, "comp") == chunks * tiles * (page // 128) * (128 // 16)
    # context: heads x keys/page GWRITEs; (head_dim/32) x keys/page x heads tiles of ceil(tokens/16) COMPs
    assert count(av.bundle, "gwrite") == 8 * spans
    assert count(av.bundle, "pre") == 8 * spans * (128 // banks)
    assert count(av.bundle, "comp") == 8 * (128 // banks) * sum(
        math.ceil(min(page, keys - s * page) / 16) for s in range(spans))
    assert qk.bundle.channel == av.bundle.channel == 3 and ends == [av.id]
    sm = next(t for t in tasks if isinstance(t, VectorOp))
    assert sm.elements == 8 * keys and sm.deps == (qk.id,) and av.deps[0] in {t.id for t in tasks}


def test_channels_out_of_rows_is_an_error(pim):
    with pytest.raises(LoomError, match="rows"):
        attention_tasks(pim, [(i, 0, 200_000) for i in range(2)], 0)


def test_split_layer_keeps_every_einsum_once():
    w = decode(get_model("gpt3-7b-neupims"), [64, 64, 100], tp=4, dtype="fp16")
    layer = next(s for s in w.stages if s.name == "layer").cascade
    pre, groups, post = split_layer(layer)
    assert len(groups) == 2                                    # contexts 64 and 100
    assert len(pre.einsums) + sum(len(g.einsums) for g in groups) + len(post.einsums) == len(layer.einsums)
    assert "ATT" in post.inputs and "QS_0" not in post.tensors


def test_composer_chains_pieces():
    a = Program((VectorOp(0, "vu", (), 10), VectorOp(1, "vu", (0,), 10)), {})
    b = Program((VectorOp(0, "vu", (), 5),), {})
    c = Composer()
    ends = c.add(a)
    assert ends == (1,)
    ends = c.add(b, ends)
    prog = c.program()
    assert [t.id for t in prog.tasks] == [0, 1, 2] and prog.tasks[2].deps == (1,)


def test_systems_resolve():
    setup = {"model": "gpt3-7b-neupims", "tp": 4, "batch": 256}
    assert make_system("neupims", setup).sub_batch is True
    assert make_system("neupims", {**setup, "batch": 64}).sub_batch is False
    assert make_system("npu_pim_blocked", setup).sub_batch is False
    assert make_system("neupims", setup).arch["hbm"].device().pim.mode == "dual_row_buffer"
    assert make_system("npu_pim_blocked", setup).arch["hbm"].device().pim.mode == "blocked"
    with pytest.raises(LoomError, match="valid"):
        make_system("neupim", setup)
    assert set(SYSTEMS) >= {"neupims", "npu_only", "npu_pim_blocked", "gpu_only"}


@pytest.mark.bench
def test_bench_neupims_splits_the_wall_time_into_shares_that_add_up():
    from loomsim.designs.bench import neupims
    frame = neupims(quick=True, systems=("neupims",)).set_index("stat")["value"]
    shares = frame[[s for s in frame.index if s.startswith("share_")]]
    print(frame.to_string())
    assert (shares >= 0).all() and abs(shares.sum() - 1.0) < 1e-9
    assert frame["wall_s"] > 0 and frame["tasks_per_wall_s"] > 0


def _layer_run(name, sub_batch, batch=8):
    from loomsim.simulator import simulate
    system = make_system(name, {"model": "gpt3-7b-neupims", "tp": 4, "batch": batch})
    system.sub_batch = sub_batch
    active = [(i, 48 + 37 * (i % 8)) for i in range(batch)]
    system.packer.assign(active)
    program = system.layers_program(active, 1)
    return system, active, program, simulate(system.arch, program)


def test_attention_issues_from_one_pim_queue_per_channel():
    system, active, program, _ = _layer_run("neupims", True)
    where = system.packer.where
    for t in program.tasks:
        rid = next((int(w[1:]) for w in t.label.split() if w[:1] == "r" and w[1:].isdigit()), None)
        if rid is not None:                                      # an attention task of request rid
            assert t.queue == f"pim:ch{where[rid]}", t
        else:
            assert t.queue == "", t                              # the GEMM side keeps the NPU's queues


def test_with_sub_batches_the_npu_works_while_pim_runs_the_other_sub_batchs_attention():
    system, active, program, r = _layer_run("neupims", True, batch=64)    # two requests a channel
    first, second = system._sub_batches(active)
    tasks = list(zip(r.tasks["label"], r.tasks["start_ps"], r.tasks["end_ps"]))
    av_end = {int(l.split()[1][1:]): e for l, s, e in tasks if l.startswith("AV r")}
    npu = {t.id for t in program.tasks if t.unit == "npu"}
    npu_starts = [s for (l, s, e), i in zip(tasks, r.tasks["id"]) if i in npu]
    second_done = max(av_end[rid] for rid, _ in second)
    first_done = max(av_end[rid] for rid, _ in first)
    assert first_done < second_done
    # the first sub-batch's projection starts on the NPU before the second's attention has ended
    assert any(first_done <= s < second_done for s in npu_starts)


def test_without_sub_batches_the_npu_waits_for_all_attention():
    system, active, program, r = _layer_run("npu_pim_blocked", False)
    tasks = list(zip(r.tasks["id"], r.tasks["label"], r.tasks["start_ps"]))
    attn_done = max(e for l, e in zip(r.tasks["label"], r.tasks["end_ps"]) if l.startswith("AV r"))
    pre_end = min(s for l, s in zip(r.tasks["label"], r.tasks["start_ps"]) if l.startswith("QK r"))
    npu = {t.id for t in program.tasks if t.unit == "npu"}
    assert not any(pre_end < s < attn_done for i, l, s in tasks if i in npu)


def test_an_iteration_is_the_first_layer_plus_the_second_layers_increment_per_further_layer():
    system = make_system("neupims", {"model": "gpt3-7b-neupims", "tp": 4, "batch": 4})
    step = system.step([(i, 40 + 29 * i) for i in range(4)])
    st = step.stats
    expect = st["embedding_s"] + st["head_s"] + st["first_layer_s"] + (st["layers"] - 1) * st["layer_s"]
    assert step.time_s == pytest.approx(expect, rel=1e-12)
    assert st["layers"] == get_model("gpt3-7b-neupims").layers
