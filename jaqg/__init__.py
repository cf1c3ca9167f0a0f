"""jaqg: fine-tune Japanese text-to-text models for question answering and question generation.

One module per concern; every top-level script is a thin front end over this package.
"""

__version__ = "0.1.0"
