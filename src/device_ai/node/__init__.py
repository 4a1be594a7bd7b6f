"""The DICOM node (issue 15): Storage SCP (:mod:`.server`, ``device-ai serve``), what it accepts
(:mod:`.services`), the hot folder for workstations without DICOM networking (:mod:`.hot_folder`,
``device-ai watch``), what both share (:mod:`.runtime`: spool lock, recovery, assembly thread),
the spool and study assembly (:mod:`.spool`: the on-disk hand-off to the worker), the worker that
analyses each ready generation once (:mod:`.worker`), the outbound queue that sends SEG and SR to
the configured destinations (:mod:`.outbound`), ``device-ai status`` (:mod:`.status`), and its
audit entries (:mod:`.trail`)."""
