"""The rtc.io protocol on a python-socketio server: the ``#rtcio:message``
relay (:mod:`.relay`), the one departure path (:mod:`.departure`) and the
``ask-ice`` TURN credentials event (:mod:`.ice`)."""
