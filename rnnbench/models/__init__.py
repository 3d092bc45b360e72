"""Models: a shared wrapper (`SequenceModel`), recurrent stacks (`Recurrent`) and one file per
cell family. A new cell is one file here plus one YAML file in conf/model/."""
from rnnbench.models.recurrent import Recurrent, RecurrentModel
from rnnbench.models.sequence_model import SequenceModel

__all__ = ["Recurrent", "RecurrentModel", "SequenceModel"]
