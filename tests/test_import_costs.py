"""What a notebook kernel pays for at first use: the course's training loops must not import torch._dynamo.

An optimiser class of torch.optim imports torch._dynamo on its first method call (about 2 s on the reference
machine), because each method is wrapped to keep torch.compile out; the course's trainers use torch's
functional Adam instead, the same arithmetic (tests/test_sae.py holds it bit for bit).
"""

from __future__ import annotations

import os
import subprocess
import sys

TRAIN_EVERYTHING = """
import sys, torch
from course_utils.sae import SAEConfig, TrainConfig, make_sae, train
from course_utils.toy_models import ToyModel, ToyModelConfig
from course_utils.toy_models import TrainConfig as ToyTrainConfig, train as train_toy
from course_utils.data.sparse import sparse_batches
from course_utils.toy_models.antipodal import density_sweep

g = torch.Generator().manual_seed(0)
density_sweep(torch.tensor([0.1, 0.5]), n_starts=2, steps=3, generator=g)
for kind in ("l1", "topk", "gated"):
    sae = make_sae(SAEConfig(d_in=8, d_sae=16, kind=kind, k=2), generator=g)
    train(sae, TrainConfig(steps=3, log_every=3), (torch.randn(32, 8, generator=g) for _ in range(3)), progress=False)
cfg = ToyModelConfig(n_instances=2)
train_toy(ToyModel(cfg, generator=g), ToyTrainConfig(steps=3, progress=False),
          sparse_batches(cfg.density_tensor(), batch_size=16, generator=g))
print("torch._dynamo" in sys.modules)
"""


def test_training_loops_do_not_import_torch_dynamo():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", TRAIN_EVERYTHING], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False", "a training loop imported torch._dynamo (a torch.optim optimiser class?)"
