"""The model zoo: published transformer shapes as data (`<family>.yaml` beside this file), each number
with its source, and closed-form parameter counts checked against the published ones.

    >>> from loomsim.workloads.zoo import get_model, param_count
    >>> cfg = get_model("llama-2-7b")
    >>> cfg.heads, cfg.kv_heads, cfg.ffn_type
    (32, 32, 'gated')
    >>> param_count(cfg)["total"]
    6738415616
"""
from __future__ import annotations

import pandas as pd

from loomsim.workloads.zoo.config import CompositionConfig, ModelConfig, describe_fields, format_count
from loomsim.workloads.zoo.loader import Family, load_family
from loomsim.workloads.zoo.params import active_param_count, composition_param_count, param_count
from loomsim.workloads.zoo.registry import (get_composition, get_model, list_compositions, list_families,
                                            list_models, shipped)


def zoo_table() -> pd.DataFrame:
    """One row per model and composition: shape, closed-form and published counts, deviation."""
    zoo = shipped()
    rows = []
    for name in sorted(zoo.models):
        m = zoo.models[name]
        total = param_count(m)["total"]
        rows.append({"name": name, "family": m.family, "kind": m.kind, "layers": m.layers, "hidden": m.hidden,
                     "heads": m.heads, "kv_heads": m.kv_heads, "ffn": m.ffn, "experts": m.experts,
                     "top_k": m.top_k, "params": total, "active_params": active_param_count(m),
                     "params_published": m.params_published,
                     "deviation": total / m.params_published - 1})
    for name in sorted(zoo.compositions):
        c = zoo.compositions[name]
        counts = composition_param_count(c, zoo.models)
        rows.append({"name": name, "family": c.family, "kind": "composition", "experts": c.expert_count,
                     "top_k": c.top_k, "params": counts["total"], "active_params": counts["active"],
                     "params_published": c.params_published,
                     "deviation": counts["total"] / c.params_published - 1})
    return pd.DataFrame(rows)


__all__ = ["CompositionConfig", "Family", "ModelConfig", "active_param_count", "composition_param_count",
           "describe_fields", "format_count", "get_composition", "get_model", "list_compositions",
           "list_families", "list_models", "load_family", "param_count", "zoo_table"]
