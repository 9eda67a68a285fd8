"""How the browser tests (tests/ui/browser_check.py, tests/hub/hub_check.py) launch Chromium.

Playwright's own browser download cannot work offline: the tests drive Debian's ``chromium``
package (``CHROMIUM`` overrides its path), headless, with background networking, sync and
component updates off so that the browser reaches nothing but the test's servers.
"""

import os

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
