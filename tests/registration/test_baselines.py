"""Baselines (DIS, Farneback, demons) share the convention and interface of Lucas-Kanade."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.registration import (
    DemonsRegistrar,
    DISRegistrar,
    FarnebackRegistrar,
    make_registrar,
    register_sequence,
)
from motionpredict.sequences import ImageSequence

SHAPE = (80, 80)


@pytest.mark.parametrize("cls", [DISRegistrar, FarnebackRegistrar, DemonsRegistrar])
def test_2d_translation_sign_and_size(synth, cls):
    ref, moving, truth = synth.deform(SHAPE, synth.texture(SHAPE, seed=21),
                                      synth.translation((2.0, -1.5)))
    reg = cls(ref)
    flow = reg.register(moving)
    assert flow.shape == (2, *SHAPE) and flow.dtype == np.float32
    assert synth.epe(flow, truth, margin=12) < 0.5
    again = reg.register(moving, init=flow)  # initial flow accepted
    assert synth.epe(again, truth, margin=12) < 0.5


def test_demons_3d(synth):
    shape = (20, 32, 32)
    ref, moving, truth = synth.deform(shape, synth.texture(shape, seed=22),
                                      synth.translation((1.0, 1.5, -1.0)))
    flow = DemonsRegistrar(ref, iterations=60).register(moving)
    assert flow.shape == (3, *shape)
    assert synth.epe(flow, truth, margin=6) < 0.5


def test_registrar_factory_and_errors(synth):
    ref = np.zeros((8, 8, 8), np.float32)
    with pytest.raises(ConfigurationError, match="2D method"):
        DISRegistrar(ref)
    with pytest.raises(ConfigurationError, match="preset"):
        DISRegistrar(np.zeros((16, 16)), preset="slow")
    with pytest.raises(ConfigurationError, match="unknown registration method"):
        make_registrar("elastix", ref)
    with pytest.raises(ValidationError, match="differs"):
        DemonsRegistrar(ref).register(np.zeros((8, 8, 9)))
    with pytest.raises(ConfigurationError, match="at least 12"):
        DISRegistrar(ref[0])
    flat = np.zeros((16, 16), np.float32)
    seq = ImageSequence(np.stack([flat, flat]), spacing=(1.0, 1.0), times=[0.0, 1.0])
    fields = register_sequence(seq, method="dis", preset="ultrafast")
    assert fields.provenance.extra["registration"]["options"] == {"preset": "ultrafast"}
