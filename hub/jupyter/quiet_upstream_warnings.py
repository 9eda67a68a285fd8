"""Server-side config shared by the students' and the instructors' servers on the hub (each
role's jupyter_server_config.py loads it with ``load_subconfig``).

JupyterHub's single-user extension sets ``NotebookApp.extra_template_paths`` (its page
templates), and notebook_shim, which reroutes NotebookApp settings to ServerApp for JupyterLab
and Notebook 7, then warns at every server start, twice, that the setting "was found in both
NotebookApp and ServerApp" (jupyterhub/jupyterhub#5379). It is not a setting of the course and
there is nothing to change: the two warnings are dropped from the server's log, every other
message stays.
"""
import logging

c = get_config()  # noqa: F821


class DropShimTemplateWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "'extra_template_paths' was found in both NotebookApp and ServerApp" \
            not in record.getMessage()


for app in ("LabApp", "JupyterNotebookApp"):
    logging.getLogger(app).addFilter(DropShimTemplateWarning())
