"""`python -m gateway` is the `inbox-gateway` command."""

import sys

from gateway.cli import main

sys.exit(main())
