"""The DICOM node (issue 15): Storage SCP (:mod:`.server`, ``device-ai serve``), what it accepts
(:mod:`.services`), the spool and study assembly (:mod:`.spool`: the on-disk hand-off to the
worker), and its audit entries (:mod:`.trail`). The worker and the outbound queue come next and
build on :func:`device_ai.node.spool.ready_markers`."""
