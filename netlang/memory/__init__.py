"""The memory a training step takes, forecast from the compiled IR without NumPy (`netlang summary --batch N`,
and `netlang train`'s refusal of a step larger than the machine's memory).

- arrays.py: arrays with sizes but no data, counted while referenced (Tracker, Block, SymArray).
- layer.py: LayerMemory, the base of each op's mirror of its NumPy layer (Op.memory in netlang/ops/).
- forecast.py: the model, its plan, the loss, the optimizer and the training loop replayed: forecast_step().
- report.py: the forecast as text; guard.py: the refusal; measure.py: the real step's peak, for the tests.
"""
