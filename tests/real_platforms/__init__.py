"""Real platform software (Debian packages) started for the tests: WordPress, MediaWiki."""
