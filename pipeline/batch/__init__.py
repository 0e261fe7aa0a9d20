"""Batch runs through the provider's Batch API: input files (jsonl), the provider calls
(client), the per-request accounting (ledger), reading results (collect) and the steps of a
run (run: extract_batch, collect_batch, batch_status, cancel_batch)."""
