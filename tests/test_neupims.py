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
