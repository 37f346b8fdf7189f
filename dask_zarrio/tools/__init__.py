"""The inspecting verbs: ``dz.info``, ``dz.verify``, ``dz.advise``, ``dz.plan`` (a file each; the plan's report
in ``plan_report``)."""
