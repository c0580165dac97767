"""The warm grader behind ``gradeflow grade``: a per-user background process that
keeps a started sandbox (its zygote) and grades what later calls send it, so a call
costs an interpreter start and a run rather than imports and a zygote's start.

``client`` and ``location`` import only the standard library: they run on every
call, before the command line's framework is imported. ``server`` is the warm
process; ``report`` turns a run into the command's output for both paths.
"""
