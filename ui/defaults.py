"""One set of default inputs for the memory pages, shared by Home's first answer and the pages themselves.

Keys are the pages' URL parameters, so Home's "Details" links carry exactly the setup Home computed.
Full activation recompute (gradient checkpointing) is the training default: it is what fine-tuning
recipes turn on (PEFT's ``prepare_model_for_kbit_training``, TRL, axolotl) and what large-model training
runs, and the verdict names it whenever another choice does not fit.
"""

from __future__ import annotations

from calc.memory import InferenceSetup, TrainingSetup

TRAINING: dict = {"tm_prec": "bf16-mixed", "tm_opt": "adamw", "tm_zero": 0, "tm_dp": 1, "tm_tp": 1, "tm_pp": 1,
                  "tm_mb": 1, "tm_seq": 4096, "tm_rc": "full", "tm_fa": True, "tm_ft": "full", "tm_rl": "none"}
INFERENCE: dict = {"im_w": "bf16", "im_kv": "bf16", "im_b": 1, "im_ctx": 4096, "im_tp": 1}


def training_setup() -> TrainingSetup:
    d = TRAINING
    return TrainingSetup(precision=d["tm_prec"], optimizer=d["tm_opt"], zero_stage=d["tm_zero"], dp=d["tm_dp"],
                         tp=d["tm_tp"], pp=d["tm_pp"], micro_batch=d["tm_mb"], seq_len=d["tm_seq"],
                         recompute=d["tm_rc"], flash_attention=d["tm_fa"], finetune=d["tm_ft"], rlhf=d["tm_rl"])


def inference_setup() -> InferenceSetup:
    d = INFERENCE
    return InferenceSetup(weights_dtype=d["im_w"], kv_dtype=d["im_kv"], batch=d["im_b"], context=d["im_ctx"],
                          tp=d["im_tp"])


def query(defaults: dict, **extra) -> dict[str, str]:
    """The URL parameters of ``defaults`` (booleans as 1/0, as ``ui.state`` writes them) plus ``extra``."""
    q = {k: ("1" if v else "0") if isinstance(v, bool) else str(v) for k, v in defaults.items()}
    return q | {k: str(v) for k, v in extra.items()}
