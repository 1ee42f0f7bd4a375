"""The small transformer of notebook 09: a one-layer byte-level TransformerLens model of Python's stdlib.

`model`: config, construction, the shipped checkpoint, sampling. `train`: `course train-lm`.
`evaluate`: bits per byte, the bigram baseline, splicing a reconstruction into the MLP.
`harvest`: MLP activations over held-out text, top activations, contexts.
`interventions`: steering, ablation and attribution of SAE latents at the MLP (hooks and row-wise).
`matching`: latents of SAEs of different widths matched by decoder cosine (feature splitting).
`shipped_saes`: the TopK SAEs of several widths that `course train-saes` trains once and the course ships.
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
    sparse_decode,
    top_k_dense,
    top_k_sparse,
    unit_values,
)
from course_utils.lm.interventions import (
    ablation_effects,
    ablation_hook,
    add_vector_hook,
    latent_attribution,
    mlp_tail_logits,
    next_byte_loss,
    steering_hooks,
    summed_loss,
)
from course_utils.lm.matching import best_matches, children, decoder_cosines
from course_utils.lm.model import (
    HOOK_POST,
    HOOK_RESID_MID,
    LMConfig,
    assets_dir,
    load_lm,
    load_record,
    make_model,
    output_logits,
    sample,
    save_lm,
)
from course_utils.lm.shipped_saes import (
    ShippedSAEConfig,
    dequantize_rows,
    evaluate_sae,
    held_out_eval_data,
    load_shipped_record,
    load_shipped_sae,
    quantize_rows,
    train_shipped_saes,
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
    "HOOK_RESID_MID",
    "Harvest",
    "LMConfig",
    "LMTrainConfig",
    "LMTrainLog",
    "ShippedSAEConfig",
    "SparseActs",
    "ablation_effects",
    "ablation_hook",
    "add_vector_hook",
    "assets_dir",
    "best_matches",
    "bigram_bits_per_byte",
    "bigram_log_probs",
    "bits_per_byte",
    "children",
    "context_rows",
    "decoder_cosines",
    "dequantize_rows",
    "eval_subset",
    "evaluate_sae",
    "gather_context",
    "harvest",
    "held_out_eval_data",
    "held_out_windows",
    "latent_attribution",
    "load_lm",
    "load_record",
    "load_shipped_record",
    "load_shipped_sae",
    "loss_recovered",
    "lr_at",
    "make_model",
    "mlp_tail_logits",
    "next_byte_loss",
    "output_logits",
    "quantize_rows",
    "random_windows",
    "replace_hook",
    "sample",
    "save_lm",
    "sparse_codes",
    "sparse_decode",
    "steering_hooks",
    "summed_loss",
    "top_k_dense",
    "top_k_sparse",
    "train_and_save",
    "train_lm",
    "train_shipped_saes",
    "unit_values",
    "windows_batches",
    "zero_hook",
]
