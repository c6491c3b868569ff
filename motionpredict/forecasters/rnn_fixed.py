"""RNN with fixed random recurrent weights: only the linear readout ``W_c`` learns.

A lower bound for the online recurrent learners (an echo-state-like reservoir with the
reference's ``N(0, 0.02^2)`` initialisation): ``W_a`` and ``W_b`` keep their initial values and
``W_c <- W_c - eta clip(e h^T)``.
"""

from __future__ import annotations

from motionpredict.forecasters.registry import register
from motionpredict.forecasters.rnn_core import OnlineRNN


@register
class FixedWeightsRNNForecaster(OnlineRNN):
    """Online tanh RNN whose recurrent weights stay at their random initial values."""

    name = "rnn-fixed"
    learns_recurrent = False
