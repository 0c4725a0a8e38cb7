"""python -m coursework: see coursework/generator.py."""
import sys

from coursework.generator import main

sys.exit(main())
