"""Parallel text in, padded id tensors out: corpus, tokenizers, vocabulary, batching, tasks."""
