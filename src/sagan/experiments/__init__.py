"""The paper's experiments as commands: stabilisation, attention placement, per class."""
