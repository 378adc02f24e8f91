"""Kafka ingestion: the fake-sales producer and the Bronze Structured Streaming job."""
