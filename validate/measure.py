"""What PyTorch actually allocates: byte counts read from real ``transformers`` models on the CPU.

Every function here measures; none predicts (``validate.harness`` pairs them with ``calc``). Bytes
are counted from tensor storages (``untyped_storage().nbytes()``), so a view never counts twice and a
slice counts the whole buffer it keeps alive.

Saved-for-backward bytes (``SavedTensorCounter``) count exactly this:
- every tensor that autograd packs during the forward pass and loss (``torch.autograd.graph.
  saved_tensors_hooks``), each storage once (keyed by the ``data_ptr`` of its untyped storage);
- minus tensors whose storage is a parameter's (a ``Linear`` saves its weight for the input
  gradient: that memory is already counted as weights);
- plus, with gradient checkpointing, the tensors a checkpointed layer keeps for its recomputation:
  torch's non-reentrant checkpoint (the ``transformers`` default) packs the positional inputs
  through the same hooks, and keeps the keyword inputs (RoPE cos/sin, the attention mask) alive in
  a closure, which the hooks cannot see, so every tensor argument of the layer call is counted;
- the labels and the input ids are not counted (the caller holds them either way), but the index
  tensors an embedding lookup or the loss saves are, as they are saved copies.
Tensors are attributed to the region that was running when they were saved: ``embeddings`` before
the first decoder layer, ``layer i`` from layer i's call up to the next one, ``head`` (final norm,
output projection, logits and loss) after the final norm starts; except tensors made once and used
by every layer (the RoPE cos/sin tables, and the mask and position tensors a checkpoint keeps),
which go to ``shared`` wherever they are first saved.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import is_traceable_wrapper_subclass


def storage_key(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def storage_bytes(t: torch.Tensor) -> int:
    return t.untyped_storage().nbytes()


def unique_bytes(tensors) -> int:
    """Bytes of the distinct storages behind ``tensors`` (views and tied tensors count once)."""
    seen: dict[int, int] = {}
    for t in tensors:
        if t is not None and t.numel():
            seen[storage_key(t)] = storage_bytes(t)
    return sum(seen.values())


# ----- model states -------------------------------------------------------------------------------
def param_stats(model: nn.Module) -> dict:
    """Parameter count and bytes (``model.parameters()`` already skips tied duplicates)."""
    params = list(model.parameters())
    return {"parameters": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad),
            "weight_bytes": unique_bytes(params),
            "trainable_bytes": unique_bytes(p for p in params if p.requires_grad)}


def grad_bytes(model: nn.Module) -> int:
    """Bytes of ``.grad`` tensors after a backward pass."""
    return unique_bytes(p.grad for p in model.parameters() if p.grad is not None)


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> dict:
    """Bytes of an optimizer's state after a ``step()``, split into per-element tensors and scalars.

    ``torch.optim.AdamW`` keeps ``exp_avg`` and ``exp_avg_sq`` (one element per parameter, in the
    parameter's dtype) and a 0-dim fp32 ``step`` tensor per parameter tensor. The formulas count the
    per-element states; the step scalars (4 B per parameter tensor) are reported apart.
    """
    per_element, scalars = [], []
    for state in optimizer.state.values():
        for v in state.values():
            if isinstance(v, torch.Tensor):
                (scalars if v.dim() == 0 else per_element).append(v)
    return {"state_bytes": unique_bytes(per_element), "step_scalar_bytes": unique_bytes(scalars),
            "step_scalars": len(scalars)}


# ----- KV cache -----------------------------------------------------------------------------------
def cache_tensors(cache) -> list[torch.Tensor]:
    """The key/value tensors a ``transformers`` cache holds (``DynamicCache.layers[i].keys/values``)."""
    out = []
    for layer in getattr(cache, "layers", []):
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            if isinstance(t, torch.Tensor) and t.numel():
                out.append(t)
    return out


def kv_cache_after_generate(model: nn.Module, prompt_len: int, new_tokens: int, batch: int) -> dict:
    """Generate ``new_tokens`` greedily after a random prompt and measure the cache left behind.

    The cache then covers ``prompt_len + new_tokens - 1`` positions (the last token generated is
    never fed back). ``storage_bytes`` is the memory held; ``tensor_bytes`` the visible elements:
    they differ for sliding-window layers, which keep a view of ``window - 1`` positions into a
    buffer of ``window`` positions.
    """
    vocab = model.config.vocab_size
    ids = torch.randint(2, vocab, (batch, prompt_len), generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=False, use_cache=True,
                             return_dict_in_generate=True, pad_token_id=0)
    cache = out.past_key_values
    tensors = cache_tensors(cache)
    return {"positions": int(cache.get_seq_length()), "storage_bytes": unique_bytes(tensors),
            "state_bytes": unique_bytes(state_tensors(cache)),
            "tensor_bytes": sum(t.numel() * t.element_size() for t in tensors),
            "cache_class": type(cache).__name__,
            "layer_shapes": [[list(t.shape) for t in cache_tensors_layer(lay)] for lay in cache.layers]}


def state_tensors(cache) -> list[torch.Tensor]:
    """The conv and recurrent states a hybrid's cache holds for its linear-attention / state-space layers
    (``cache_utils.LinearAttentionCacheLayerMixin.conv_states`` / ``recurrent_states``, one dict per layer)."""
    out = []
    for layer in getattr(cache, "layers", []):
        for name in ("conv_states", "recurrent_states"):
            states = getattr(layer, name, None) or {}
            out += [t for t in states.values() if isinstance(t, torch.Tensor) and t.numel()]
    return out


def cache_tensors_layer(layer) -> list[torch.Tensor]:
    return [t for t in (getattr(layer, "keys", None), getattr(layer, "values", None))
            if isinstance(t, torch.Tensor)]


# ----- tensors saved for backward -----------------------------------------------------------------
@dataclass
class SavedRecord:
    bytes: int
    dtype: str
    shape: tuple
    region: str
    module: str


@dataclass
class SavedTensorCounter:
    """Context manager counting the bytes autograd saves for backward (see the module docstring)."""

    model: nn.Module
    records: dict[int, SavedRecord] = field(default_factory=dict)
    _param_keys: set = field(default_factory=set)
    _handles: list = field(default_factory=list)
    _stack: list = field(default_factory=list)
    _region: str = "embeddings"
    _shared_keys: set = field(default_factory=set)

    def __enter__(self) -> SavedTensorCounter:
        self._param_keys = {storage_key(p) for p in self.model.parameters()}
        layers, final_norm = decoder_layers(self.model)
        for i, layer in enumerate(layers):
            self._handles.append(layer.register_forward_pre_hook(self._enter_layer(i, layer), with_kwargs=True))
        if final_norm is not None:
            self._handles.append(final_norm.register_forward_pre_hook(self._set_region("head")))
        for name, mod in self.model.named_modules():
            self._handles.append(mod.register_forward_pre_hook(self._push(name or "model")))
            self._handles.append(mod.register_forward_hook(self._pop))
            if name.endswith("rotary_emb"):
                self._handles.append(mod.register_forward_hook(self._mark_shared))
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)
        for h in self._handles:
            h.remove()
        self._handles.clear()

    # hooks
    def _push(self, name):
        def hook(module, args):
            self._stack.append(name)
        return hook

    def _pop(self, module, args, output):
        if self._stack:
            self._stack.pop()

    def _mark_shared(self, module, args, output):
        self._shared_keys.update(storage_key(t) for t in _tensors_in(output) if t.numel())

    def _set_region(self, region):
        def hook(module, args):
            self._region = region
        return hook

    def _enter_layer(self, i, layer):
        def hook(module, args, kwargs):
            self._region = f"layer {i}"
            if getattr(layer, "gradient_checkpointing", False) and layer.training and torch.is_grad_enabled():
                for t in _tensors_in(args[:1]):  # the hidden states
                    self._record(t, "checkpoint inputs")
                for t in _tensors_in((args[1:], kwargs)):
                    if t.numel():
                        self._shared_keys.add(storage_key(t))
                        self._record(t, "checkpoint inputs")
        return hook

    def _pack(self, t):
        if isinstance(t, torch.Tensor):
            self._record(t, self._stack[-1] if self._stack else "model")
        return t

    def _record(self, t: torch.Tensor, module: str) -> None:
        if t.device.type == "meta" or not t.numel():
            return
        key = storage_key(t)
        if key in self._param_keys:
            return
        if key not in self.records:
            region = "shared" if key in self._shared_keys else self._region
            self.records[key] = SavedRecord(storage_bytes(t), str(t.dtype).removeprefix("torch."),
                                            tuple(t.shape), region, module)

    # results
    @property
    def total_bytes(self) -> int:
        return sum(r.bytes for r in self.records.values())

    def by_region(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for r in self.records.values():
            out[r.region] += r.bytes
        return dict(out)

    def layer_bytes(self, n_layers: int) -> list[int]:
        regions = self.by_region()
        return [regions.get(f"layer {i}", 0) for i in range(n_layers)]

    def items(self, region: str) -> list[dict]:
        """Saved tensors of one region, largest first: module, dtype, shape, bytes."""
        rows = [{"module": r.module, "dtype": r.dtype, "shape": list(r.shape), "bytes": r.bytes}
                for r in self.records.values() if r.region == region]
        return sorted(rows, key=lambda d: -d["bytes"])


def _tensors_in(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _tensors_in(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _tensors_in(x)


def decoder_layers(model: nn.Module) -> tuple[list[nn.Module], nn.Module | None]:
    """The decoder layers and the final norm of a ``*ForCausalLM`` (Llama family or GPT-2 names), else ([], None)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wraps the model
    inner = getattr(base, "model", None) or getattr(base, "transformer", None)
    layers = getattr(inner, "layers", None) or getattr(inner, "h", None)
    norm = getattr(inner, "norm", None) or getattr(inner, "ln_f", None)
    return list(layers or []), norm  # a plain module has neither: everything is in region "embeddings"


def training_forward(model: nn.Module, batch: int, seq_len: int, counter: bool = True):
    """One training forward + loss on random tokens; returns (loss, SavedTensorCounter or None)."""
    vocab = model.config.vocab_size
    ids = torch.randint(2, vocab, (batch, seq_len), generator=torch.Generator().manual_seed(0))
    model.train()
    if not counter:
        return model(input_ids=ids, labels=ids, use_cache=False).loss, None
    with SavedTensorCounter(model) as c:
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
    return loss, c


# ----- peak of a training step --------------------------------------------------------------------
class PeakTracker:
    """Live bytes of the tensor storages created while it is active, after every op, on the CPU.

    A ``TorchDispatchMode`` sees every ATen op of the forward and (CPU) backward pass; each output
    storage is added when it appears and dropped once it is freed (``StorageWeakRef.expired``,
    checked after every op). ``timeline[i]`` is the sum of live storages after op ``i`` and
    ``born[key]`` the op that created a storage. Storages of ``existing`` tensors (parameters,
    buffers) are never counted, so ``weight.t()`` views cost nothing. This is the CPU stand-in for
    ``torch.cuda.max_memory_allocated`` minus what existed before (weights, optimizer states),
    without the caching allocator's rounding and fragmentation.

    Storages are keyed by their ``StorageImpl`` (stable while it lives, unlike ``data_ptr``, which
    changes when a storage is resized). Tensor subclasses that wrap others (``DTensor``, FSDP2's
    sharded parameters) count their inner tensors. ``resizable=True`` also follows
    ``UntypedStorage.resize_`` while active: FSDP2 frees and re-allocates its unsharded parameters
    that way, which is no ATen op. ``watch_peak()`` makes it remember which storages are alive at
    the highest point from then on (``at_peak``: key -> (op index of its birth, bytes)).
    """

    @staticmethod
    def key(t: torch.Tensor) -> int:
        """The tracker's key of the storage behind ``t`` (its ``StorageImpl`` address)."""
        return t.untyped_storage()._cdata

    def __init__(self, existing=(), resizable: bool = False) -> None:
        from torch.multiprocessing.reductions import StorageWeakRef
        from torch.utils._python_dispatch import TorchDispatchMode

        tracker = self
        self._ref = StorageWeakRef
        self.live: dict[int, tuple] = {}  # storage key -> (weak ref, bytes, op index of its birth)
        self.born: dict[int, tuple[int, int]] = {}  # storage key -> (op index, bytes) of its last birth
        self.timeline: list[int] = []
        self.current = 0
        #: storages that existed before (parameters, buffers): views of them (``weight.t()``) are free
        self._existing = {self.key(t) for t in existing if t.numel()}
        self._resizable = resizable
        self.watching, self.watched_peak, self.at_peak = False, -1, {}

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                tracker._sweep()
                for t in _tensors_in(out):
                    tracker._add(t)
                tracker.timeline.append(tracker.current)
                if tracker.watching and tracker.current > tracker.watched_peak:
                    tracker.watched_peak = tracker.current
                    tracker.at_peak = {k: (b, n) for k, (_, n, b) in tracker.live.items()}
                return out

        self._mode = _Mode()

    def watch_peak(self) -> None:
        """From now on, remember the live storages at the highest point (``at_peak``, ``watched_peak``)."""
        self.watching, self.watched_peak, self.at_peak = True, -1, {}

    def _add(self, t: torch.Tensor) -> None:
        if is_traceable_wrapper_subclass(t):  # DTensor: its local shard is the memory
            for name in t.__tensor_flatten__()[0]:
                inner = getattr(t, name)
                if isinstance(inner, torch.Tensor):
                    self._add(inner)
            return
        if t.device.type != "cpu" or not t.numel():
            return
        self._add_storage(t.untyped_storage())

    def _add_storage(self, storage) -> None:
        key = storage._cdata
        if key not in self.live and key not in self._existing and storage.nbytes():
            n = storage.nbytes()
            self.live[key] = (self._ref(storage), n, len(self.timeline))
            self.born[key] = (len(self.timeline), n)
            self.current += n

    def _resized(self, storage) -> None:
        entry = self.live.get(storage._cdata)
        if entry is None:
            self._add_storage(storage)  # grown from nothing
        elif entry[1] != storage.nbytes():
            self.current += storage.nbytes() - entry[1]
            self.live[storage._cdata] = (entry[0], storage.nbytes(), entry[2])

    def _sweep(self) -> None:
        expired = torch.UntypedStorage._expired
        for key in [k for k, entry in self.live.items() if expired(entry[0].cdata)]:
            self.current -= self.live.pop(key)[1]

    @property
    def peak_bytes(self) -> int:
        return max(self.timeline, default=0)

    def peak_excluding(self, keys) -> int:
        """Peak of the timeline minus the storages ``keys`` (alive from their birth to the end)."""
        steps = [0] * (len(self.timeline) + 1)
        for k in keys:
            if k in self.born and k in self.live:
                i, n = self.born[k]
                steps[i] += n
        peak = held = 0
        for i, live in enumerate(self.timeline):
            held += steps[i]
            peak = max(peak, live - held)
        return peak

    def __enter__(self) -> PeakTracker:
        if self._resizable:
            tracker, original = self, torch._C.StorageBase.resize_

            def resize_(storage, size):
                out = original(storage, size)
                tracker._resized(storage)
                return out
            torch.UntypedStorage.resize_ = resize_
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
        if self._resizable:
            del torch.UntypedStorage.resize_  # back to StorageBase.resize_


def measured_step(model: nn.Module, batch: int, seq_len: int):
    """One training forward + loss + backward under both instruments; returns (counter, peaks).

    ``counter`` is the ``SavedTensorCounter`` of the forward pass. ``peaks["peak_bytes"]`` is the
    peak of the tensor bytes created during the step with gradients excluded: gradients start as
    ``None`` (``zero_grad()``'s default), are born in the backward pass and stay to the end, so
    they are subtracted from the op that creates each; what remains is activations, the logits and
    their gradients, and backward temporaries. ``peak_with_grads_bytes`` keeps the gradients in.
    """
    model.zero_grad(set_to_none=True)
    with PeakTracker([*model.parameters(), *model.buffers()]) as tracker:
        loss, counter = training_forward(model, batch, seq_len)
        loss.backward()
        del loss
    grads = {PeakTracker.key(p.grad) for p in model.parameters() if p.grad is not None}
    return counter, {"peak_bytes": tracker.peak_excluding(grads), "peak_with_grads_bytes": tracker.peak_bytes}
