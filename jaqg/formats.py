"""Task formats: how a (question, answer, context) triple becomes a model input and target.

The defaults are part of the design contract (../shared/DESIGN.md); ``--template`` overrides the input side.
"""

from __future__ import annotations

HL_TOKEN = "<hl>"
# Joins prompt and target in the causal-LM text files (one example per line); registered as a special token.
GPT_SEP = "<sep>"
# Ends each causal-LM example in the text files; run_clm maps it to the tokenizer's own end-of-text token.
GPT_END = "</s>"

TASKS = ("qa", "aqg", "aqg_hl")

DEFAULT_TEMPLATES = {
    "qa": "question: {question} context: {context}",
    "aqg": "answer: {answer} context: {context}",
    "aqg_hl": "{context}",  # the context with the answer wrapped as <hl>answer<hl>
}

TARGET_FIELD = {"qa": "answer", "aqg": "question", "aqg_hl": "question"}
