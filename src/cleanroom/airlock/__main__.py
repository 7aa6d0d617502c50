import sys

from cleanroom.airlock.web.app import main

sys.exit(main())
