"""The zoo's model descriptions: `ModelConfig` (one transformer) and `CompositionConfig` (a CoE).

Every field is declared once with `param(KIND, default, help=...)`, the same declarations the
architecture specs use, so the loader, the error messages and `describe_fields()` derive from one
place. `check_model` holds the rules that tie fields together (GQA grouping, MoE top-k, ...); the
loader reports its findings with the line of the offending key.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from loomsim.arch.params import BOOL, STRING, Choice, Count, Kind, param, params_of
from loomsim.arch.units import UnitError
from loomsim.errors import LoomError

# ---- value kinds the zoo needs beyond the architecture's ------------------------------------------

_SCALE = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def _param_count(v) -> int:
    """A parameter count: a YAML integer (124_439_808) or a number with K/M/B/T ('6.74B')."""
    expected = "a parameter count such as 6.74B, 124M or 124_439_808"
    if isinstance(v, bool):
        raise UnitError(f"{v!r} is not a parameter count.", expected)
    if isinstance(v, int):
        if v <= 0:
            raise UnitError(f"{v} is not positive.", expected)
        return v
    if not isinstance(v, str) or not v.strip():
        raise UnitError(f"{v!r} is not a parameter count.", expected)
    text = v.strip().replace("_", "")
    suffix = text[-1].upper() if text[-1].isalpha() else ""
    if suffix and suffix not in _SCALE:
        raise UnitError(f"{v!r} has an unknown suffix '{text[-1]}'.", expected)
    try:
        number = Decimal(text[:-1] if suffix else text) * _SCALE[suffix]
    except InvalidOperation:
        raise UnitError(f"{v!r} is not a number.", expected) from None
    if number <= 0 or number != number.to_integral_value():
        raise UnitError(f"{v!r} is not a positive whole number of parameters.", expected)
    return int(number)


def format_count(n: int) -> str:
    """124439808 -> '124.44M' (for tables and messages)."""
    for suffix, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            return f"{n / scale:.4g}{suffix}"
    return str(n)


PARAM_COUNT = Kind("count", "a parameter count such as 6.74B, 124M or 124_439_808", _param_count, format_count)


def _names(v) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) and x for x in v):
        raise UnitError(f"{v!r} is not a list of names.", "a list of names, e.g. [gpt3-small]")
    return tuple(v)


NAMES = Kind("names", "a list of names, e.g. [gpt3-small]", _names, list)


def _ints(v) -> tuple[int, ...]:
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                                                   for x in v):
        raise UnitError(f"{v!r} is not a list of positive integers.", "a list such as [20000, 40000, 200000]")
    return tuple(v)


INTS = Kind("ints", "a list of positive integers such as [20000, 40000, 200000]", _ints, list)


def _expert_counts(v) -> tuple[tuple[str, int], ...]:
    expected = "a mapping of zoo model name to copy count, e.g. {llama-2-7b: 150}"
    if isinstance(v, tuple):  # the parsed form, ((name, count), ...), when a config is built in code
        v = dict(v)
    if not isinstance(v, dict) or not v:
        raise UnitError(f"{v!r} is not a mapping of model name to count.", expected)
    out = []
    for name, count in v.items():
        if not isinstance(name, str) or isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise UnitError(f"'{name}: {count}' is not a model name with a count >= 1.", expected)
        out.append((name, count))
    return tuple(out)


EXPERT_COUNTS = Kind("experts", "a mapping of zoo model name to copy count, e.g. {llama-2-7b: 150}",
                     _expert_counts, lambda t: dict(t))

KINDS = ("decoder", "encoder", "encoder-decoder")
FFN_TYPES = ("mlp", "gated")
ACTIVATIONS = ("gelu", "gelu_new", "relu", "silu")
NORMS = ("layernorm", "rmsnorm")
NORM_PLACEMENTS = ("pre", "post", "sandwich")
POSITIONS = ("learned", "sinusoidal", "rope", "alibi", "relative_bias", "relative_xl")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """One transformer as published: shapes, layer structure, and the counts it must reproduce."""

    name: str                      # the YAML key (lower case); not a declared parameter
    family: str                    # the zoo file it came from, e.g. 'llama'
    kind: str = param(Choice(*KINDS), help="decoder (GPT-style LM), encoder (BERT-style), or encoder-decoder "
                                           "(T5; `layers` is the encoder stack, `decoder_layers` the decoder)")
    layers: int = param(Count(), help="transformer blocks (the encoder stack for encoder-decoder models)")
    decoder_layers: int = param(Count(0), default=0, help="decoder blocks of an encoder-decoder model, else 0")
    hidden: int = param(Count(), help="model width d_model")
    heads: int = param(Count(), help="query heads")
    kv_heads: int = param(Count(), default=None, help="key/value heads: == heads for MHA, fewer for GQA, 1 for "
                                                      "MQA; default: heads")
    head_dim: int = param(Count(), default=None, help="width of one head; default: hidden / heads")
    ffn: int = param(Count(), help="FFN intermediate width (per expert for MoE)")
    ffn_type: str = param(Choice(*FFN_TYPES), help="mlp: up + down projections; gated: gate + up + down "
                                                   "(SwiGLU, GeGLU)")
    expert_ffn_type: str = param(Choice(*FFN_TYPES), default=None,
                                 help="FFN type of the experts when it differs from the dense layers' (GLaM)")
    activation: str = param(Choice(*ACTIVATIONS), help="FFN activation as the checkpoint names it")
    norm: str = param(Choice(*NORMS), help="layernorm (scale and bias) or rmsnorm (scale only)")
    norm_placement: str = param(Choice(*NORM_PLACEMENTS), default="pre",
                                help="pre-norm (GPT-2, Llama), post-norm (BERT), or sandwich (pre and post, Grok-1)")
    position: str = param(Choice(*POSITIONS), help="learned absolute, sinusoidal, rope, alibi, relative_bias "
                                                   "(T5 bucketed bias), or relative_xl (Transformer-XL)")
    rotary_dim: int = param(Count(), default=None, help="dimensions of each head that RoPE rotates; "
                                                        "default: head_dim (partial rotary: Phi-2)")
    relative_buckets: int = param(Count(), default=None, help="T5 relative-position buckets (relative_bias only)")
    vocab: int = param(Count(), help="vocabulary size (rows of the token embedding)")
    max_positions: int = param(Count(), help="longest sequence the checkpoint was trained for or its position "
                                             "table holds")
    position_offset: int = param(Count(0), default=0, help="extra rows of a learned position table (OPT: 2)")
    token_types: int = param(Count(0), default=0, help="rows of a token-type (segment) embedding (BERT: 2)")
    embedding_norm: bool = param(BOOL, default=False, help="a norm right after the embedding sum (BERT, XLM)")
    pooler: bool = param(BOOL, default=False, help="a dense pooler on the first token (BERT)")
    adaptive_cutoffs: tuple = param(INTS, default=[], help="adaptive input/softmax cluster boundaries "
                                                           "(Transformer-XL)")
    adaptive_div: int = param(Count(), default=1, help="each adaptive cluster's width is hidden / div^i")
    tied_embeddings: bool = param(BOOL, help="the LM head reuses the token embedding")
    bias: bool = param(BOOL, help="linear layers carry biases")
    attention_bias: bool = param(BOOL, default=None, help="Q/K/V/O projections carry biases; default: bias "
                                                          "(Transformer-XL: false while its FFN has biases)")
    parallel_block: bool = param(BOOL, default=False, help="attention and FFN read the same normed input and "
                                                           "add in parallel (GPT-J, Phi-2)")
    experts: int = param(Count(0), default=0, help="experts per MoE layer; 0 for a dense model")
    top_k: int = param(Count(0), default=0, help="experts each token is routed to")
    moe_every: int = param(Count(), default=1, help="1: every layer is MoE; 2: every other layer (GLaM)")
    params_published: int = param(PARAM_COUNT, help="the published total parameter count")
    params_source: str = param(STRING, help="where params_published comes from")
    active_params_published: int = param(PARAM_COUNT, default=None,
                                         help="published parameters active per token (MoE), if any")
    source: str = param(STRING, help="where the shape comes from (paper table, config.json, model card)")
    aliases: tuple = param(NAMES, default=[], help="other names get_model accepts (gpt3-xl, ...)")
    matches: str = param(STRING, default=None, help="the published model with this exact shape, when the "
                                                    "entry is a paper's shorthand for one")
    notes: str = param(STRING, default=None, help="what a user of this entry must know")

    def __post_init__(self):
        """Fill the derived defaults and reject impossible shapes here, at construction, whether the
        config comes from a zoo file (the loader has already reported file and line) or from code."""
        for key, value in derive_defaults(self.__dict__).items():
            object.__setattr__(self, key, value)
        _validate(self, extra=check_model)

    # ---- derived shapes the cascade builders use -------------------------------------------------

    @property
    def attention_dim(self) -> int:
        """Width of all query heads together (heads x head_dim)."""
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of all key (or value) heads together (kv_heads x head_dim)."""
        return self.kv_heads * self.head_dim

    @property
    def group_size(self) -> int:
        """Query heads sharing one KV head: 1 for MHA, heads for MQA."""
        return self.heads // self.kv_heads

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def expert_ffn_kind(self) -> str:
        return self.expert_ffn_type or self.ffn_type

    @property
    def final_norm(self) -> bool:
        """Pre-norm stacks end with a norm; post-norm stacks (BERT, XLM, Transformer-XL) do not."""
        return self.norm_placement in ("pre", "sandwich")

    def moe_layers(self) -> tuple[int, ...]:
        """Indices of the MoE layers: every `moe_every`-th layer, starting with layer 0.

        GLaM's Figure 2 draws the MoE block below the dense one; which of a pair comes first does
        not change counts or traffic.
        """
        if not self.is_moe:
            return ()
        return tuple(range(0, self.layers, self.moe_every))


@dataclass(frozen=True, kw_only=True)
class CompositionConfig:
    """A Composition of Experts: whole models behind a router, one (or top_k) answering each query."""

    name: str
    family: str
    router: str = param(STRING, help="zoo name of the model that routes each query")
    experts: tuple = param(EXPERT_COUNTS, help="zoo model name -> number of copies (fine-tuned variants)")
    top_k: int = param(Count(), default=1, help="experts that run for one query")
    params_published: int = param(PARAM_COUNT, help="published total parameter count")
    params_at_least: bool = param(BOOL, default=False,
                                  help="the published count is a lower bound ('over 1T parameters')")
    params_source: str = param(STRING, help="where params_published comes from")
    source: str = param(STRING, help="where the composition comes from")
    aliases: tuple = param(NAMES, default=[], help="other names get_composition accepts")
    notes: str = param(STRING, default=None, help="what a user of this entry must know")

    def __post_init__(self):
        _validate(self)

    @property
    def expert_count(self) -> int:
        return sum(n for _, n in self.experts)


def derive_defaults(values: dict) -> dict:
    """The defaults that depend on other fields: kv_heads = heads, attention_bias = bias,
    head_dim = hidden / heads (left None when heads does not divide hidden)."""
    out = {}
    if values.get("kv_heads") is None:
        out["kv_heads"] = values.get("heads")
    if values.get("attention_bias") is None:
        out["attention_bias"] = values.get("bias")
    hidden, heads = values.get("hidden"), values.get("heads")
    if values.get("head_dim") is None and isinstance(hidden, int) and isinstance(heads, int) and heads > 0:
        out["head_dim"] = hidden // heads if hidden % heads == 0 else None
    return out


def _validate(cfg, extra=None) -> None:
    """Every declared field parses as its kind, and (for models) the rules between fields hold;
    otherwise one LoomError naming the entry and every problem."""
    problems, values = [], {}
    for p in params_of(type(cfg)):
        value = getattr(cfg, p.name)
        values[p.name] = value
        if value is None and not p.required:
            continue
        try:
            p.kind.parse(list(value) if isinstance(value, tuple) and p.kind is not EXPERT_COUNTS else value)
        except UnitError as exc:
            problems.append(f"{p.key}: {exc} Expected {exc.expected}.")
    if not problems and extra is not None:
        if values.get("head_dim") is None:
            problems.append(f"head_dim: hidden ({cfg.hidden}) is not divisible by heads ({cfg.heads}); give head_dim.")
        else:
            problems += [f"{key}: {message} Expected {expected}." for key, message, expected in extra(values)]
    if problems:
        raise LoomError(f"{type(cfg).__name__} '{cfg.name}' is impossible:\n  - " + "\n  - ".join(problems))


def declared(cls) -> dict:
    """YAML key -> ParamInfo for a config class."""
    return {p.key: p for p in params_of(cls)}


def describe_fields(cls=ModelConfig) -> list[tuple[str, str, str, str]]:
    """(key, expected value, default, help) for every declared field: the zoo file format."""
    out = []
    for p in params_of(cls):
        default = "required" if p.required else ("(derived)" if p.default is None else repr(p.default_text))
        out.append((p.key, p.kind.expected, default, p.help))
    return out


def check_model(values: dict) -> list[tuple[str, str, str]]:
    """Rules between fields of one model: (key the problem belongs to, message, expected)."""
    v = values
    out: list[tuple[str, str, str]] = []

    def bad(key, message, expected):
        out.append((key, message, expected))

    heads, kv = v["heads"], v["kv_heads"]
    if kv > heads:
        bad("kv_heads", f"kv_heads ({kv}) exceeds heads ({heads}); each KV head serves one or more query heads.",
            f"an integer <= {heads} that divides it")
    elif heads % kv:
        bad("kv_heads", f"kv_heads ({kv}) does not divide heads ({heads}), so query heads cannot be grouped "
                        "evenly over KV heads.", f"a divisor of {heads}: "
            + ", ".join(str(d) for d in range(1, heads + 1) if heads % d == 0))
    if v["heads"] * v["head_dim"] != v["hidden"]:
        bad("head_dim", f"heads x head_dim = {heads} x {v['head_dim']} = {heads * v['head_dim']} but hidden is "
                        f"{v['hidden']}; every zoo model projects hidden onto heads x head_dim = hidden.",
            f"head_dim = hidden / heads = {v['hidden'] / heads:g}" + ("" if v["hidden"] % heads == 0 else
                                                                      " (not a whole number: check hidden)"))
    experts, top_k = v["experts"], v["top_k"]
    if experts == 1:
        bad("experts", "a single expert is a dense FFN.", "0 for a dense model, or >= 2 experts")
    if experts >= 2:
        if top_k == 0:
            bad("top_k", "an MoE model needs top_k >= 1.", f"an integer between 1 and {experts}")
        elif top_k > experts:
            bad("top_k", f"top_k ({top_k}) exceeds the number of experts ({experts}).",
                f"an integer between 1 and {experts}")
        if v["moe_every"] > v["layers"]:
            bad("moe_every", f"moe_every ({v['moe_every']}) exceeds layers ({v['layers']}), so no layer is MoE.",
                f"an integer between 1 and {v['layers']}")
    else:
        for key, default in (("top_k", 0), ("moe_every", 1), ("expert_ffn_type", None),
                             ("active_params_published", None)):
            if v[key] != default:
                bad(key, f"'{key}' applies to MoE models only, and this one has no experts.",
                    f"no '{key}' key, or experts >= 2")
    if v["rotary_dim"] is not None:
        if v["position"] != "rope":
            bad("rotary_dim", "rotary_dim applies to position: rope only.", "no rotary_dim key")
        elif v["rotary_dim"] > v["head_dim"] or v["rotary_dim"] % 2:
            bad("rotary_dim", f"rotary_dim ({v['rotary_dim']}) must be even and at most head_dim ({v['head_dim']}).",
                f"an even integer <= {v['head_dim']}")
    if (v["relative_buckets"] is None) != (v["position"] != "relative_bias"):
        bad("relative_buckets" if v["relative_buckets"] is not None else "position",
            "relative_buckets is required with position: relative_bias and allowed only there.",
            "relative_buckets with position: relative_bias (T5: 32), and no relative_buckets otherwise")
    if v["position_offset"] and v["position"] != "learned":
        bad("position_offset", "position_offset applies to a learned position table only.", "no position_offset")
    if (v["kind"] == "encoder-decoder") != (v["decoder_layers"] > 0):
        bad("decoder_layers", "decoder_layers is required for kind: encoder-decoder and allowed only there.",
            "decoder_layers >= 1 with kind: encoder-decoder, else no decoder_layers key")
    if v["parallel_block"] and v["norm_placement"] != "pre":
        bad("parallel_block", "a parallel block reads one pre-norm output; it cannot be post- or sandwich-normed.",
            "norm_placement: pre")
    cuts = v["adaptive_cutoffs"]
    if cuts:
        if list(cuts) != sorted(set(cuts)) or cuts[-1] >= v["vocab"]:
            bad("adaptive_cutoffs", f"cutoffs {list(cuts)} must increase strictly and stay below vocab ({v['vocab']}).",
                f"increasing integers below {v['vocab']}")
        if v["hidden"] % (v["adaptive_div"] ** len(cuts)):
            bad("adaptive_div", f"hidden ({v['hidden']}) is not divisible by adaptive_div^{len(cuts)}.",
                "a divisor whose powers divide hidden")
    elif v["adaptive_div"] != 1:
        bad("adaptive_div", "adaptive_div applies only with adaptive_cutoffs.", "no adaptive_div key")
    return out

