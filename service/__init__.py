"""The survey service: teams upload orthomosaics, watch detection run, see targets on a map.

``poppyscan serve --data DIR`` runs the web app (:mod:`.app`) and detection
workers (:mod:`.worker`) over one SQLite file and a folder of files under DIR
(:mod:`.store`). Everything a request touches belongs to a team and is looked
up with the caller's team (:mod:`.auth`); another team's ids answer 404.
Uploads use the tus protocol (:mod:`.tus`), jobs a leased queue in SQLite
(:mod:`.jobs`) that resumes from the detection journal after a kill.

Needs the ``serve`` extra (``pip install 'poppyscan[serve]'``). Nothing in
poppyscan imports this package; it imports the library like the CLI does.
"""
