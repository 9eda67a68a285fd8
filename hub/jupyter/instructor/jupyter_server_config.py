"""The instructor's JupyterLab server on the course's JupyterHub (JUPYTER_CONFIG_PATH).

The terminal (File > New > Terminal) is an interactive bash that reads bashrc next to this
file: it starts at the course root (RNNCOURSE_ROOT) with the course's environment first on PATH,
so `make release`, `nbgrader collect 01_rnn` and `make grade` work as hub/README.md writes them.
"""
import os

c = get_config()  # noqa: F821
load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",  # noqa: F821
                            "server_common.py"))

c.ServerApp.terminado_settings = {
    "shell_command": ["/bin/bash", "--rcfile",
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "bashrc"), "-i"],
}
