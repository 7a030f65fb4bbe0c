import sys

from loom_post.cli import main

sys.exit(main())
