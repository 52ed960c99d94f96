"""Background work: the job queue, its workers and periodic tasks, cluster operations and what they run."""
