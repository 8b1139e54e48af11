"""attnlab: where does information get lost in a sequence model, and how does attention stop it?"""

__version__ = "0.1.0"
