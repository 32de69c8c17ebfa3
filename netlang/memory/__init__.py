"""The memory a training step takes, forecast from the compiled IR without NumPy (`netlang summary --batch N`,
and `netlang train`'s refusal of a step larger than the machine's memory).

- arrays.py: arrays with sizes but no data, counted while referenced (Tracker, Block, SymArray).
- layer.py: LayerMemory, the base of each op's mirror of its NumPy layer (Op.memory in netlang/ops/).
- model.py: the model, its plan and the loss, without data (SimModel).
- forecast.py: the optimizer and the training loop replayed around it: forecast_step(), forecast_evaluation().
- report.py: the forecast as text; guard.py: the refusal; measure.py: the real step's peak, for the tests.
"""
