"""Loom: a cycle-level, event-driven simulator of LLM accelerators.

    import loomsim
    result = loomsim.simulate("npu", "gemm M=64 N=1024 K=512")
    result.to_frames()["summary"]
"""
__version__ = "0.1.0"


def __getattr__(name):  # the API imports every layer; load it on first use only
    if name == "simulate":
        from loomsim.api import simulate
        return simulate
    raise AttributeError(f"module 'loomsim' has no attribute {name!r}")
