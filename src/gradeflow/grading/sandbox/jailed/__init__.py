"""What runs inside the jail: the zygote, the jail itself, the judge and the student.

Standard library only, and nothing of gradeflow outside this package: the zygote is
started as ``python -I -S -B`` (no site-packages) through ``launch.BOOTSTRAP``, with
empty stand-ins for the parent packages, and every run process is forked from it.
The host side (``zygote_client.py``, ``process.py``, ``staging.py``, ``verdict.py``)
imports from here, never the other way round.
"""
