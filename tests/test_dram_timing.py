"""One test per timing rule: the command waits exactly the datasheet's gap (blocked at t-1, issued at t).

Each scenario is built so the rule under test is the binding one (other timings are overridden out of
the way where they would coincide); `not_ready_before` asks the plain-Python reference, from the same
command history, whether the command was allowed one cycle earlier.
"""
import pytest

from dram_support import device, not_ready_before, run, times

B0 = {"bg": 0, "ba": 0}          # bank 0
B1 = {"bg": 0, "ba": 1}          # bank 1, same bank group
B4 = {"bg": 1, "ba": 0}          # bank 4, another bank group


def gap(dev, log, first, second, bank1, bank2):
    t1, t2 = times(log, first, bank1)[0], times(log, second, bank2)[0]
    assert not_ready_before(dev, log, second, bank2, t2), f"{second} was allowed before cycle {t2}"
    return t2 - t1


def test_act_to_read_respects_trcdrd():
    d = device()
    _, _, log = run(d, [("R", {**B0, "row": 1}, 0)])
    assert gap(d, log, "ACT", "RD", 0, 0) == d.timing.tRCDRD == 14


def test_act_to_write_respects_trcdwr():
    d = device(timing={"tRCDWR": 10})
    _, _, log = run(d, [("W", {**B0, "row": 1}, 0)])
    assert gap(d, log, "ACT", "WR", 0, 0) == 10


def test_read_data_completes_cl_plus_burst_after_rd():
    d = device()
    _, out, log = run(d, [("R", B0, 0)])
    assert out.done[0] - times(log, "RD")[0] == d.timing.CL + d.timing.tBL == 16


def test_write_data_completes_cwl_plus_burst_after_wr():
    d = device()
    _, out, log = run(d, [("W", B0, 0)])
    assert out.done[0] - times(log, "WR")[0] == d.timing.CWL + d.timing.tBL == 6


def test_act_to_precharge_respects_tras():
    d = device()
    _, _, log = run(d, [("R", {**B0, "row": 1}, 0), ("R", {**B0, "row": 2}, 0)])
    assert gap(d, log, "ACT", "PRE", 0, 0) == d.timing.tRAS == 34


def test_precharge_to_act_respects_trp():
    d = device()
    _, _, log = run(d, [("R", {**B0, "row": 1}, 0), ("R", {**B0, "row": 2}, 0)])
    t_pre, t_act = times(log, "PRE")[0], times(log, "ACT")[1]
    assert not_ready_before(d, log, "ACT", 0, t_act)
    assert t_act - t_pre == d.timing.tRP == 14


def test_act_to_act_same_bank_respects_trc():
    d = device(timing={"tRC": 60})                     # longer than tRAS + tRP = 48
    _, _, log = run(d, [("R", {**B0, "row": 1}, 0), ("R", {**B0, "row": 2}, 0)])
    acts = times(log, "ACT", 0)
    assert acts[1] - acts[0] == 60
    assert not_ready_before(d, log, "ACT", 0, acts[1])


def test_read_to_precharge_respects_trtp():
    d = device(timing={"tRAS": 10, "tRTP_L": 9})
    _, _, log = run(d, [("R", {**B0, "row": 1}, 0), ("R", {**B0, "row": 2}, 0)])
    assert gap(d, log, "RD", "PRE", 0, 0) == 9


def test_write_to_precharge_respects_write_recovery():
    d = device(timing={"tRAS": 10})
    _, _, log = run(d, [("W", {**B0, "row": 1}, 0), ("R", {**B0, "row": 2}, 0)])
    t = d.timing
    assert gap(d, log, "WR", "PRE", 0, 0) == t.CWL + t.tBL + t.tWR == 22


def test_act_to_act_other_bank_group_respects_trrd_s():
    d = device()
    _, _, log = run(d, [("R", B0, 0), ("R", B4, 0)])
    assert gap(d, log, "ACT", "ACT", 0, 4) == d.timing.tRRD_S == 4


def test_act_to_act_same_bank_group_respects_trrd_l():
    d = device()
    _, _, log = run(d, [("R", B0, 0), ("R", B1, 0)])
    assert gap(d, log, "ACT", "ACT", 0, 1) == d.timing.tRRD_L == 6


def test_fifth_activate_in_a_rank_respects_tfaw():
    d = device()
    banks = [{"bg": g, "ba": 0} for g in range(4)] + [{"bg": 0, "ba": 1}]
    _, _, log = run(d, [("R", b, 0) for b in banks])
    acts = times(log, "ACT")
    assert acts[:4] == [0, 4, 8, 12]                   # tRRD_S apart
    assert acts[4] - acts[0] == d.timing.tFAW == 30    # the fifth waits for the window
    assert not_ready_before(d, log, "ACT", 1, acts[4])


def test_33rd_activate_respects_t32aw():
    d = device(timing={"t32AW": 600, "tFAW": 4, "tRRD_S": 1, "tRRD_L": 1, "tRC": 20, "tRAS": 10},
               queue_size=64)
    reqs = [("R", {"bg": (i // 4) % 4, "ba": i % 4, "row": i // 16}, 0) for i in range(33)]
    _, _, log = run(d, reqs)
    acts = times(log, "ACT")
    assert acts[32] - acts[0] == 600


def test_read_to_read_same_bank_group_respects_tccd_l():
    d = device(timing={"tCCD_L": 5})
    _, _, log = run(d, [("R", {**B0, "col": 0}, 0), ("R", {**B0, "col": 1}, 0)])
    rds = times(log, "RD")
    assert rds[1] - rds[0] == 5
    assert not_ready_before(d, log, "RD", 0, rds[1])


def test_read_to_read_other_bank_group_respects_tccd_s():
    d = device(timing={"tCCD_S": 8})
    _, _, log = run(d, [("R", B0, 0), ("R", B4, 0)])
    assert gap(d, log, "RD", "RD", 0, 4) == 8


def test_reads_share_the_data_bus_one_burst_at_a_time():
    d = device()                                       # tCCD_S = 1 < tBL = 2
    reqs = [("R", B0, 0), ("R", B4, 0)] + [("R", {**b, "col": 1}, 100) for b in (B0, B4)]
    _, _, log = run(d, reqs)
    rds = [t for t in times(log, "RD") if t >= 100]
    assert rds[1] - rds[0] == d.timing.tBL == 2


def test_write_to_read_same_bank_group_respects_twtr_l():
    d = device()
    _, _, log = run(d, [("W", B0, 0), ("R", {**B0, "col": 1}, 0)])
    t = d.timing
    assert gap(d, log, "WR", "RD", 0, 0) == t.CWL + t.tBL + t.tWTR_L == 14


def test_write_to_read_other_bank_group_respects_twtr_s():
    d = device()
    reqs = [("R", B4, 0), ("R", B0, 0), ("W", {**B0, "col": 1}, 100), ("R", {**B4, "col": 1}, 101)]
    _, _, log = run(d, reqs)
    t = d.timing
    t_wr, t_rd = times(log, "WR")[0], times(log, "RD", 4)[1]
    assert not_ready_before(d, log, "RD", 4, t_rd)
    assert t_rd - t_wr == t.CWL + t.tBL + t.tWTR_S == 12


def test_read_to_write_respects_read_to_write_turnaround():
    d = device()
    _, _, log = run(d, [("R", B0, 0), ("W", {**B0, "col": 1}, 0)])
    t = d.timing
    assert gap(d, log, "RD", "WR", 0, 0) == t.tRTW == t.CL + t.tBL - t.CWL + t.tRTRS == 14


def test_read_to_read_other_rank_adds_rank_switch_trtrs():
    d = device(ranks=2)
    other = {"rank": 1, "bg": 0, "ba": 0}
    reqs = [("R", B0, 0), ("R", other, 0), ("R", {**B0, "col": 1}, 100), ("R", {**other, "col": 1}, 100)]
    _, _, log = run(d, reqs)
    rds = [t for t in times(log, "RD") if t >= 100]
    assert rds[1] - rds[0] == d.timing.tBL + d.timing.tRTRS == 4


def test_precharge_to_precharge_respects_tppd():
    d = device(timing={"tPPD": 5})
    reqs = [("R", {**B0, "row": 1}, 0), ("R", {**B4, "row": 1}, 0), ("R", {**B0, "row": 2}, 1),
            ("R", {**B4, "row": 2}, 1)]
    _, _, log = run(d, reqs)
    pres = times(log, "PRE")
    assert pres[1] - pres[0] == 5


def test_one_command_per_cycle_without_dual_command_bus():
    d = device("DDR4")
    _, _, log = run(d, [("R", B0, 0), ("R", {**B0, "col": 1}, 0), ("R", B4, 24)])
    cycles = [t for t, *_ in log]
    assert len(cycles) == len(set(cycles))


def test_hbm_issues_a_row_and_a_column_command_in_one_cycle():
    d = device()                                       # HBM2: dual command bus
    reqs = [("R", B0, 0)] + [("R", {**B0, "col": c}, 0) for c in range(1, 8)] + [("R", B4, 16)]
    _, _, log = run(d, reqs)
    per_cycle = {}
    for t, name, *_ in log:
        per_cycle.setdefault(t, []).append(name)
    assert any(sorted(v) == ["ACT", "RD"] for v in per_cycle.values())


def test_hbm3_activate_holds_the_row_bus_for_two_cycles():
    d = device("HBM3")
    _, _, log = run(d, [("R", B0, 0), ("R", B4, 0)])
    assert gap(d, log, "ACT", "ACT", 0, 4) == max(d.timing.tRRD_S, d.org.act_bus_cycles) == 2


def test_refresh_then_activate_respects_trfc():
    d = device(refresh="all_bank")
    _, _, log = run(d, [("R", B0, d.timing.tREFI)])
    t_ref, t_act = times(log, "REF")[0], times(log, "ACT")[0]
    assert t_act - t_ref == d.timing.tRFC == 260
    assert not_ready_before(d, log, "ACT", 0, t_act)


def test_open_rows_are_precharged_all_bank_before_refresh_trpab():
    d = device(refresh="all_bank", timing={"tRPab": 20})
    _, _, log = run(d, [("R", B0, d.timing.tREFI - 50), ("R", {**B0, "col": 1}, d.timing.tREFI + 10)])
    t_prea, t_ref = times(log, "PREA")[0], times(log, "REF")[0]
    assert t_ref - t_prea == 20


def test_read_to_all_bank_precharge_respects_trtp_s():
    d = device(refresh="all_bank", timing={"tRAS": 5, "tRTP_S": 7})
    _, _, log = run(d, [("R", B0, d.timing.tREFI - 20), ("R", B4, d.timing.tREFI + 100)])
    assert gap(d, log, "RD", "PREA", 0, 0) == 7


def test_refreshes_come_every_trefi():
    d = device(refresh="all_bank")
    e, _, log = run(d, [("R", B0, 10 * d.timing.tREFI + 5)])
    refs = times(log, "REF")
    assert refs == [k * d.timing.tREFI for k in range(1, 11)]


def test_per_bank_refresh_respects_trfcpb_and_trrefd():
    d = device(refresh="per_bank")
    t = d.timing
    _, _, log = run(d, [("R", B0, 2 * t.tREFIpb + 1)])
    refs = times(log, "REFPB")
    assert refs[:2] == [t.tREFIpb, 2 * t.tREFIpb]      # one bank at a time, tREFI / banks apart
    first_bank = [b for tt, n, b, _ in log if n == "REFPB"][0]
    assert first_bank == 0
    t_act = times(log, "ACT")[0]                        # bank 0 was refreshed at tREFIpb
    assert t_act == max(refs[0] + t.tRFCpb, refs[1] + t.tRREFD)


@pytest.mark.parametrize("preset", ["HBM2", "HBM3", "GDDR6", "LPDDR5", "DDR4", "DDR5"])
def test_every_preset_times_a_row_miss_as_its_datasheet_says(preset):
    d = device(preset)
    t = d.timing
    _, out, log = run(d, [("R", {**B0, "row": 1}, 0), ("R", {**B0, "row": 2}, 0)])
    act, act2 = times(log, "ACT")
    pre = times(log, "PRE")[0]
    rd = times(log, "RD")
    assert rd[0] - act == t.tRCDRD
    assert pre == max(act + t.tRAS, rd[0] + t.tRTP_L)
    assert act2 == max(pre + t.tRP, act + t.tRC)
    assert out.done[1] == rd[1] + t.CL + t.tBL
