"""rnnkit: the helpers every lesson of the recurrent-networks course shares.

Modules
-------
tasks        synthetic sequence tasks (adding problem) and a character corpus
gradcheck    numerical gradients and relative errors for NumPy functions
checks       assertions whose messages name the output, the shape and the error
plotting     loss curves, gradient-norm plots
training     a training loop with a progress bar; grading-mode detection
torch_bridge NumPy weights in torch's layout <-> torch.nn.RNN / LSTM / GRU

No exercise solution lives here: a learner may import anything in this package.
"""

__version__ = "0.1.0"
