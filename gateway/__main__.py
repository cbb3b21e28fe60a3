"""`python -m gateway` is the `inbox-gateway` command."""

import sys

from gateway.cli.commands import main

sys.exit(main())
