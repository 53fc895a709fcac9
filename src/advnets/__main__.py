import sys

from advnets.cli import main

sys.exit(main())
