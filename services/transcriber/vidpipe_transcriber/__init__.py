"""vidpipe transcriber stage: speech → words with timestamps → speakers.

Importing this package is cheap; models load in `loader.load_engine`. Entry points: `engine.run` (one call
per job), `cli.transcribe_command`, `exports.to_srt` / `to_vtt`.
"""
