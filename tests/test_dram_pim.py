"""PIM commands: blocked mode against dual row buffers, the Newton energy convention, bundles, refresh."""
import pytest

from dram_support import run, times
from loomsim.arch.dram_presets import load_device
from loomsim.errors import LoomError
from loomsim.simulator.dram.energy import command_energies
from loomsim.simulator.dram.pim import PimBundle, PimStep, act_groups, bank_sets, gemv, readres_count


def pim_device(mode, preset="HBM2-PIM", refresh="none"):
    return load_device(preset, {"organisation": {"channels": 1}, "controller": {"refresh": refresh},
                                "pim": {"mode": mode}})


def test_dual_row_buffers_finish_sooner_than_blocked_mode_by_the_serialised_memory_phase():
    """64 reads to one row of bank 16 (rank 1) and a one-row, 8-COMP all-bank GEMV arrive together.

    The GEMV is the same in both modes: bank-group activates in bank order, one per tFAW in a rank
    (rank 0 at 0, 30, 60, 90; rank 1 from 91, one command-bus cycle later: 91, 121, 151, 181), COMPs
    from the last activate + tRCDRD, every comp_interval, the read-out readres_delay after the last
    COMP, and the PIM precharge at max(tRAS after the last activate, tRTP after the last COMP).
    Blocked: memory waits until that precharge, then ACT after tRP, reads from tRCDRD later, 63 more
    reads one burst apart, data CL + tBL after the last. Dual row buffers: the memory ACT goes in the
    first cycle the command bus is free (cycle 1; rank 1's window is still empty) and the 64 reads are
    done long before the GEMV ends, so the run takes only as long as the GEMV."""
    M, K = 64, 8
    reqs = [("R", {"rank": 1, "bg": 0, "ba": 0, "row": 3, "col": i % 16}, 0) for i in range(M)]
    end = {}
    for mode in ("blocked", "dual_row_buffer"):
        d = pim_device(mode)
        t, p = d.timing, d.pim
        bundle = gemv(d, 0, [7], K, interleave_ranks=False)
        e, out, log = run(d, reqs, pim=[(0, bundle.steps, 0)])
        acts = times(log, "PIM_ACT")
        assert acts == [0, 30, 60, 90, 91, 121, 151, 181]
        first_comp = acts[-1] + t.tRCDRD
        last_comp = first_comp + (K - 1) * p.comp_interval
        assert times(log, "PIM_COMP") == list(range(first_comp, last_comp + 1, p.comp_interval))
        readres = last_comp + p.readres_delay
        ppre = max(acts[-1] + t.tRAS, last_comp + t.tRTP_L)
        assert times(log, "PIM_READRES") == [readres] and times(log, "PIM_PRE") == [ppre]
        bundle_done = max(e.pim_done.values())
        assert bundle_done == readres + t.CL + t.tBL
        if mode == "blocked":
            mem_done = ppre + t.tRP + t.tRCDRD + (M - 1) * t.tBL + t.CL + t.tBL
        else:
            mem_done = 1 + t.tRCDRD + (M - 1) * t.tBL + t.CL + t.tBL
        assert out.done.max() == mem_done
        end[mode] = max(bundle_done, mem_done)
    saved = end["blocked"] - end["dual_row_buffer"]
    print(f"\n  blocked {end['blocked']} cycles, dual row buffers {end['dual_row_buffer']} cycles: "
          f"{saved} cycles ({100 * saved / end['blocked']:.1f}%) sooner")
    assert end["blocked"] == 385 and end["dual_row_buffer"] == 229 and saved == 156


def test_interleaving_ranks_fits_eight_group_activates_in_three_tfaw():
    d = pim_device("dual_row_buffer")
    _, _, log = run(d, [], pim=[(0, gemv(d, 0, [5], 4).steps, 0)])
    acts = times(log, "PIM_ACT")
    assert acts == [0, 1, 30, 31, 60, 61, 90, 91]
    assert acts[-1] - acts[0] == 3 * d.timing.tFAW + 1      # NewtonSim: tFAW x (8/2 - 1)


def test_newton_energy_convention_compute_is_four_reads_group_activate_four_acts():
    d = pim_device("dual_row_buffer")
    e, _, _ = run(d, [], pim=[(0, gemv(d, 0, [5], 10).steps, 0)])
    from loomsim.simulator.dram.energy import energy
    per, _, _, model = command_energies(d)
    counts = e.counts()
    rep = energy(d, counts, 32, 10 * 32, *e.background_cycles(e.now + 1))
    assert model == "idd"
    assert rep.pj["pim_comp"] == pytest.approx(10 * 4 * per["RD"])          # COMP = 4 x RD
    assert rep.pj["pim_act"] == pytest.approx(8 * 4 * per["ACT"])           # 8 G_ACTs = 8 x (4 x ACT)
    assert rep.pj["pim_readres"] == pytest.approx(counts["PIM_READRES"] * per["RD"])


def test_gemv_bundle_structure():
    d = pim_device("dual_row_buffer")
    b = gemv(d, 0, [3, 4], 32, vector=(2, 9))
    ops = [s.op for s in b.steps]
    assert ops == ["gwrite"] + (["act"] * 8 + ["comp", "readres", "pre"]) * 2
    assert readres_count(d, bank_sets(d)[0]) == 1          # 32 banks x 2 B = one 64 B burst
    assert sum(bin(g).count("1") for g in act_groups(d, bank_sets(d)[0])) == 32


def test_duplex_bundles_read_four_times_the_pseudo_channel_bandwidth():
    d = pim_device("shared", preset="HBM3-PIM")
    sets = bank_sets(d)
    assert len(sets) == 4 and all(bin(s).count("1") == 8 for s in sets)    # 2 ranks x 2 halves, 8 banks
    K = 64
    e, _, log = run(d, [], pim=[(0, gemv(d, 0, [1], K).steps, 0)])
    comps = times(log, "PIM_COMP")
    assert comps[1] - comps[0] == d.timing.tCCD_L               # ALL-RD to ALL-RD = nCCDL
    pim_rate = 8 * d.pim.bytes_per_bank / d.pim.comp_interval   # bytes per cycle from a bundle
    assert pim_rate / (d.atom / d.timing.tBL) == 4              # 4x the pseudo-channel's data bus


def test_a_compute_step_without_activated_rows_is_an_error():
    d = pim_device("dual_row_buffer")
    bad = PimBundle(0, (PimStep("comp", banks=0xF, count=2),), "no-act")
    with pytest.raises(LoomError, match="closed"):
        run(d, [], pim=[(0, bad.steps, 0)])


def test_bundles_are_validated_against_the_device():
    d = pim_device("dual_row_buffer")
    with pytest.raises(LoomError, match="channel 5"):
        PimBundle(5, (), "x").validate(d)
    with pytest.raises(LoomError, match="unknown op 'mac'"):
        PimBundle(0, (PimStep("mac", banks=1),), "x").validate(d)
    with pytest.raises(LoomError, match="no PIM"):
        PimBundle(0, (), "x").validate(load_device("HBM2"))


def test_refresh_waits_for_a_compute_step_then_catches_up():
    d = pim_device("dual_row_buffer", refresh="all_bank")
    t = d.timing
    K = 3000                                                  # 6000 cycles of COMPs, past two refresh due times
    later = [("R", {"row": 9}, 10 * t.tREFI)]                 # work after the bundle, so refresh runs
    e, _, log = run(d, later, pim=[(0, gemv(d, 0, [5], K).steps, 0)])
    comps = times(log, "PIM_COMP")
    refs = times(log, "REF")
    assert len(comps) == K and comps[-1] - comps[0] == (K - 1) * d.pim.comp_interval   # never interrupted
    assert refs and refs[0] > comps[-1]                       # postponed to after the step...
    assert refs[0] <= t.tREFI // 2 + 8 * t.tREFI              # ...by at most 8 intervals


def test_gddr6_aim_gemv_follows_its_all_bank_timing_and_gives_one_tflops_per_chip():
    """GDDR6-AiM (SK hynix): one ACT16 opens all 16 banks; MAC16s from nRCDRDMAC (56) later, one per
    max(nCCDS, nCCDL) = 2 cycles; RDMAC16 nCCDL after the last, its data nCLREG (0) + nBL later; the
    rows close at max(tRAS after the ACT16, tRTP after the last MAC16). 16 banks x 16 FP16 MACs every
    2 cycles at 2 GHz on each of a chip's 2 channels is the 1 TFLOPS per chip of ISSCC'22."""
    d = load_device("GDDR6-AiM", {"organisation": {"channels": 1}, "controller": {"refresh": "none"}})
    t, p = d.timing, d.pim
    K = 8
    e, _, log = run(d, [], pim=[(0, gemv(d, 0, [7], K).steps, 0)])
    assert times(log, "PIM_ACT") == [0]
    assert times(log, "PIM_COMP") == [56 + 2 * i for i in range(K)]
    last = 56 + 2 * (K - 1)
    assert times(log, "PIM_READRES") == [last + 2]
    pre = max(t.tRAS, last + t.tRTP_L)
    assert times(log, "PIM_PRE") == [pre]
    # ops done: activate, computes (one interval after the last), read-out data, precharge's cycle
    assert sorted(e.pim_done.values()) == [1, last + 2, last + 2 + 0 + t.tBL, pre + 1]
    flops_per_chip = 2 * d.banks_per_channel * p.macs_per_bank * 2 / p.comp_interval * d.clock_hz
    assert flops_per_chip == pytest.approx(1.024e12)
