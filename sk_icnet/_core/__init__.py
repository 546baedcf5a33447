"""The package's core: what every other part may import, and which imports nothing of sk_icnet.

``timebase``
    :class:`Timebase`, the audio rate and bin width that travel together, and the one place
    where rates are checked and compared.
``validation``
    The data contract (waveforms, responses) and argument checks.
``exceptions``
    The warnings sk_icnet raises.
``signal``
    Sound-pressure reference, ramps, frame levels and the mel scale.
``files``
    Atomic, no-clobber writes, bounded JSON reads and optional imports.
``rules``
    What a model file's header may hold: the parameter rules every registered format uses.
``deprecation``
    Modules kept at an old import path for one deprecation cycle.
``plotting``
    Matplotlib, imported on first use.
"""
