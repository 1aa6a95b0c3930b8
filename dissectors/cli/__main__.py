import sys

from dissectors.cli import main

sys.exit(main())
