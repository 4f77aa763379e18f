"""Old home of ``campaigns.messaging``, kept for one release for RQ jobs already queued.

RQ stores a job's function as a dotted path, and a run schedules its
message batches up to a day ahead: a job enqueued before an upgrade still
names ``campaigns.jobs.queue.send_batch_job``. Remove after the next release.
"""
