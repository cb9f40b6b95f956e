"""What runs inside the student's sandbox (``kernel.py``), and the wire both sides speak
(``wire.py``). The sandbox mounts this folder alone: nothing here may import the rest of the
autograder, where the reference solutions and the checks live."""
