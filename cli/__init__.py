"""lifeboat's CLI layer: the bodies of the commands that ``crawl.py`` declares.

click is imported here and in ``crawl.py`` only; the packages below raise
``archive.exceptions.LifeboatError`` subclasses, which ``crawl.LifeboatGroup`` words.
"""
