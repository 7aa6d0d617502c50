import sys

from cleanroom.catalog.web.app import main

sys.exit(main())
