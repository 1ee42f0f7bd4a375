"""The small transformer of notebook 09: a one-layer byte-level TransformerLens model of Python's stdlib.

`model`: config, construction, the shipped checkpoint, sampling. `train`: `course train-lm`.
`evaluate`: bits per byte, the bigram baseline, splicing a reconstruction into the MLP.
`harvest`: MLP activations over held-out text, top activations, contexts.
"""

from course_utils.lm.evaluate import (
    EVAL_WINDOWS,
    bigram_bits_per_byte,
    bigram_log_probs,
    bits_per_byte,
    eval_subset,
    held_out_windows,
    loss_recovered,
    replace_hook,
    windows_batches,
    zero_hook,
)
from course_utils.lm.harvest import (
    Harvest,
    SparseActs,
    context_rows,
    gather_context,
    harvest,
    sparse_codes,
    top_k_dense,
    top_k_sparse,
    unit_values,
)
from course_utils.lm.model import (
    HOOK_POST,
    LMConfig,
    assets_dir,
    load_lm,
    load_record,
    make_model,
    output_logits,
    sample,
    save_lm,
)
from course_utils.lm.train import (
    LMTrainConfig,
    LMTrainLog,
    lr_at,
    random_windows,
    train_and_save,
    train_lm,
)

__all__ = [
    "EVAL_WINDOWS",
    "HOOK_POST",
    "Harvest",
    "LMConfig",
    "LMTrainConfig",
    "LMTrainLog",
    "SparseActs",
    "assets_dir",
    "bigram_bits_per_byte",
    "bigram_log_probs",
    "bits_per_byte",
    "context_rows",
    "eval_subset",
    "gather_context",
    "harvest",
    "held_out_windows",
    "load_lm",
    "load_record",
    "loss_recovered",
    "lr_at",
    "make_model",
    "output_logits",
    "random_windows",
    "replace_hook",
    "sample",
    "save_lm",
    "sparse_codes",
    "top_k_dense",
    "top_k_sparse",
    "train_and_save",
    "train_lm",
    "unit_values",
    "windows_batches",
    "zero_hook",
]
