"""gunicorn settings read from the repository's folder (``gunicorn wsgi:app``)."""


def post_worker_init(worker):
    """Load triage's word segmenter in each web worker before it takes requests, so that the
    first complaint needing it does not wait seconds for the dictionary."""
    from wagedispute.intake.triage import warm_up

    warm_up()
    worker.log.info("triage segmenter loaded")
