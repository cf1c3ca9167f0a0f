"""Quiz generation as a service: a REST API and a web page over the QAG pipeline (docs/service.md).

Layer: between jaqg.training and jaqg.cli; it imports the pipeline (jaqg.qag) and the decoding below it, and the
command ``jaqg serve`` (jaqg.cli.serve) starts it. One process loads its models once; one worker thread runs
every model call (jaqg.service.worker), batching requests of the same kind together.
"""
