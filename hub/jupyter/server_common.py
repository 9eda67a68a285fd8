"""Server-side config shared by the students' and the instructors' servers on the hub (each
role's jupyter_server_config.py loads it with ``load_subconfig``).

Kernels talk over Unix sockets beside their connection file (the user's 0700 runtime folder),
not over TCP on 127.0.0.1: a kernel's IOPub port publishes every cell's code and output to any
local process that subscribes, key or no key, and /proc/net/tcp tells every user which ports
belong to whom (hidepid does not hide it). A student could read another's work, or the
instructor's solutions, as they ran.

JupyterHub's single-user extension sets ``NotebookApp.extra_template_paths`` (its page
templates), and notebook_shim, which reroutes NotebookApp settings to ServerApp for JupyterLab
and Notebook 7, then warns at every server start, twice, that the setting "was found in both
NotebookApp and ServerApp" (jupyterhub/jupyterhub#5379). It is not a setting of the course and
there is nothing to change: the two warnings are dropped from the server's log, every other
message stays.
"""
import logging

c = get_config()  # noqa: F821
c.KernelManager.transport = "ipc"


class DropShimTemplateWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "'extra_template_paths' was found in both NotebookApp and ServerApp" \
            not in record.getMessage()


for app in ("LabApp", "JupyterNotebookApp"):
    logging.getLogger(app).addFilter(DropShimTemplateWarning())
