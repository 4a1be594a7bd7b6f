import sys

from device_ai.cli import main

sys.exit(main())
