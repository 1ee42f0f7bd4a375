"""Exercises of notebook 01 (temporary smoke content)."""
import torch
from course_utils.exercises import Case, make_exercise, verifier

def neuron_readout(activations, neuron):
    return activations[..., neuron]

def _cases():
    g = torch.Generator().manual_seed(0)
    return [Case((torch.randn(4, 3, generator=g), 1)), Case((torch.randn(2, 5, generator=g), 4))]

make_exercise(name="neuron_readout", notebook="01_polysemanticity", reference=neuron_readout, verify=verifier(neuron_readout, _cases))
