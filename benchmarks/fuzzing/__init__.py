"""The fuzz campaign against mcsec's own decoders and command line (issue 9 item 4, issue 15).

Run it with ``python benchmarks/fuzz_campaign.py`` (``make fuzz``; docs/FUZZING.md): seeds from
``pcaps/`` (:mod:`.corpus`), mutators (:mod:`.mutate`), the in-process targets (:mod:`.targets`),
the command-line target (:mod:`.cli_corpus`, :mod:`.cli_cases`, :mod:`.cli_runner`) and the
harness that runs, times, watches and records them (:mod:`.runner`).
"""
