"""Puts models/ on sys.path so the tests run from any directory:

    /usr/bin/python3 -m unittest discover -s models/tests
"""
import os
import sys

MODELS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_DIR = os.path.join(MODELS_DIR, "demo")
FIXTURES = os.path.join(MODELS_DIR, "fixtures", "reference_texts.jsonl")
if MODELS_DIR not in sys.path:
    sys.path.insert(0, MODELS_DIR)
