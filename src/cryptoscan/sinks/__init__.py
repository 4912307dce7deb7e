"""Sinks: where events leave the process (Redis fan-out now; the store later). Bounded queues, counted drops."""
