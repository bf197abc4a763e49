"""The app layer, on top of everything else: the ``cnncourse`` command and the instructor tools.

``cli`` parses the command line; ``serve`` opens the lessons in JupyterLab and the dashboards
with Voila; ``course_files`` finds the notebooks; ``instructor`` runs the ``exercises``
commands with nbgrader; ``preprocessors`` holds the two steps the course adds to nbgrader.
Nothing outside this package imports it.
"""
