"""A student's JupyterLab server on the course's JupyterHub (JUPYTER_CONFIG_PATH); the
settings that switch off the formgrader and the terminal are in jupyter_server_config.json."""
import os

c = get_config()  # noqa: F821
load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",  # noqa: F821
                            "server_common.py"))
