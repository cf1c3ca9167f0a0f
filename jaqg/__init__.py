"""jaqg: fine-tune Japanese language models for question answering, question generation and quiz making.

Subpackages by concern, imports pointing one way (docs/architecture.md): core < tokenization < data < models <
generation < evaluation < qag < training < cli. Only ``jaqg.cli`` knows command-line flags.
"""

__version__ = "0.2.0"
