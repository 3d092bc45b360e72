"""Models: one wrapper (`SequenceModel`: encoding → core → readout → head) around a core.

Cores: `Recurrent` (a stack of any cell: rnn.py, lstm.py, gru.py, lstm_variants.py, minimal.py,
indrnn.py), the hybrids (hybrid.py) and the non-recurrent baselines (transformer.py, tcn.py).
A new cell or core is one file here plus one YAML file in conf/model/.
"""

from rnnbench.models.recurrent import Recurrent
from rnnbench.models.sequence_model import SequenceModel

__all__ = ["Recurrent", "SequenceModel"]
