"""The representations behind representation.py, one folder each: its network, its coding and its fit."""
